"""Print runs: create N serialised units of a lot and write their GS1 Digital Link QR codes as a
printable sheet (SVG pages or one PDF) and a CSV of gtin, lot, serial and URI.

The units are written in one transaction (all or none). Pages are drawn in worker processes
from the moment the serial numbers are known, while this process inserts the rows; the files
are written after the commit, under temporary names renamed once complete.
"""

import csv
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Func
from django.db.models.functions import Length

from pocketdesk.accounts.models import Role, User
from pocketdesk.catalog.models import Lot, Product, ProductUnit
from pocketdesk.catalog.services import gtin_normalize
from pocketdesk.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from pocketdesk.core.services import audit_record
from pocketdesk.links.digital_link import digital_link_uri, element_check, public_url
from pocketdesk.links.qr import level_check
from pocketdesk.links.sheets import (
    A4,
    SHEET_FORMATS,
    PageDrawer,
    PageJob,
    PdfWriter,
    SheetLayout,
    workers_for,
)

logger = logging.getLogger(__name__)

MAX_COUNT = 1_000_000
CHUNK = 5_000  # rows per INSERT batch, and how often progress is reported
SERIAL_DIGITS = re.compile(r"[0-9]{1,20}")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")

Progress = Callable[[str, int, int], None]  # (stage "units" or "codes", done, total)


@dataclass(frozen=True)
class PrintRun:
    gtin: str
    lot: str
    first_serial: str
    last_serial: str
    count: int
    pages: int
    sheets: list[Path]
    csv: Path
    seconds: dict[str, float] = field(default_factory=dict)


class _LtrimZeros(Func):
    # LTRIM(x, '0') exists in SQLite and PostgreSQL alike.
    function = "LTRIM"
    template = "%(function)s(%(expressions)s, '0')"
    output_field = CharField()


def serial_after_highest(product: Product) -> tuple[int, int]:
    """The number after the product's highest all-digit serial, and that serial's zero-padded
    width (0 when it has no leading zero). Compared as numbers of any length, in the database."""
    highest = (
        ProductUnit.objects.filter(product=product, serial__regex=r"^[0-9]+$")
        .annotate(digits=_LtrimZeros("serial"))
        .order_by(Length("digits").desc(), F("digits").desc())
        .values_list("serial", flat=True)
        .first()
    )
    if highest is None:
        return 1, 0
    return int(highest) + 1, len(highest) if highest.startswith("0") else 0


def _serials(start: int, count: int, width: int) -> list[str]:
    serials = [str(number).zfill(width) for number in range(start, start + count)]
    if len(serials[-1]) > 20:
        raise ValidationFailed(
            f"Serial {serials[-1]} would be longer than 20 characters.", field="count"
        )
    return serials


def _collisions(product: Product, serials: list[str]) -> list[str]:
    taken: list[str] = []
    for start in range(0, len(serials), 500):
        chunk = serials[start : start + 500]
        taken.extend(
            ProductUnit.objects.filter(product=product, serial__in=chunk).values_list(
                "serial", flat=True
            )
        )
        if len(taken) >= 5:
            break
    return sorted(taken, key=lambda serial: (len(serial), serial))


def _refuse_collisions(product: Product, serials: list[str]) -> None:
    taken = _collisions(product, serials)
    if taken:
        shown = ", ".join(taken[:5])
        raise Conflict(
            f"Serial numbers {shown} of GTIN {product.gtin} exist already; "
            "choose another --first-serial.",
            code="serial_taken",
        )


def _file_stem(gtin: str, lot: str, first: str, last: str) -> str:
    return f"{gtin}-{_UNSAFE_IN_NAME.sub('_', lot)}-{first}-{last}"


def _page_jobs(
    gtin: str, lot: str, serials: list[str], *, fmt: str, ec: str, layout: SheetLayout
) -> Iterator[PageJob]:
    pages = -(-len(serials) // layout.per_page)
    base = digital_link_uri(gtin=gtin, lot=lot, base=public_url())
    serial_iter = iter(serials)
    for page in range(1, pages + 1):
        chunk = list(islice(serial_iter, layout.per_page))
        yield PageJob(
            fmt=fmt,
            ec=ec,
            header=f"GTIN {gtin}   lot {lot}   page {page}/{pages}",
            labels=tuple((f"{base}/21/{serial}", serial) for serial in chunk),
            layout=layout,
        )


def print_run_create(
    *,
    actor: User | None,
    gtin: str,
    lot: str,
    count: int,
    out_dir: Path,
    first_serial: str | None = None,
    fmt: str = "pdf",
    ec: str = "M",
    layout: SheetLayout = A4,
    workers: int | None = None,
    progress: Progress | None = None,
) -> PrintRun:
    """Create `count` units of `lot` (the lot too, if new) and write their sheet and CSV.

    Serial numbers continue after the product's highest all-digit serial, or start at
    `first_serial` (its zero padding kept); any that exist already are refused. `actor` None is
    the system (the local CLI); otherwise an admin.
    """
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins change the catalog.")
    gtin_14 = gtin_normalize(gtin)
    lot = element_check("10", lot.strip(), field="lot")
    if "/" in lot:
        # Allowed by GS1, but WSGI servers decode %2F before any resolver sees the path, so
        # the printed code could never be resolved.
        raise ValidationFailed("A printed lot cannot contain '/'.", field="lot", code="invalid_lot")
    level = level_check(ec)
    if fmt not in SHEET_FORMATS:
        raise ValidationFailed("format is svg or pdf.", field="format", code="invalid_format")
    if not 1 <= count <= MAX_COUNT:
        raise ValidationFailed(f"count is 1 to {MAX_COUNT:,}.", field="count")
    if first_serial is not None and not SERIAL_DIGITS.fullmatch(first_serial):
        raise ValidationFailed(
            "first_serial is 1 to 20 digits.", field="first_serial", code="invalid_serial"
        )
    product = Product.objects.filter(gtin=gtin_14).first()
    if product is None:
        raise NotFound(f"No product with GTIN {gtin_14}; create it first.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationFailed(f"Cannot create {out_dir}: {exc.strerror}.", field="out") from exc
    report = progress or (lambda stage, done, total: None)
    pages = -(-count // layout.per_page)
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    with PageDrawer(workers_for(pages) if workers is None else workers) as drawer:
        with transaction.atomic():
            product = Product.objects.select_for_update().get(pk=product.pk)
            lot_row, _created = Lot.objects.get_or_create(product=product, code=lot)
            if first_serial is None:
                start, width = serial_after_highest(product)
            else:
                start, width = int(first_serial), len(first_serial)
            serials = _serials(start, count, width)
            if first_serial is not None:
                _refuse_collisions(product, serials)
            stem = _file_stem(gtin_14, lot, serials[0], serials[-1])
            sheets = (
                [out_dir / f"{stem}.pdf"]
                if fmt == "pdf"
                else [out_dir / f"{stem}-page-{page:04d}.svg" for page in range(1, pages + 1)]
            )
            csv_path = out_dir / f"{stem}.csv"
            existing = [path for path in [*sheets, csv_path] if path.exists()]
            if existing:
                raise Conflict(
                    f"{existing[0]} exists already; choose another --out.", code="file_exists"
                )
            # Drawing starts now, in the workers, while this process inserts the rows.
            drawn = drawer.draw(_page_jobs(gtin_14, lot, serials, fmt=fmt, ec=level, layout=layout))
            _units_insert(product, lot_row, serials, report)
            audit_record(
                actor=actor,
                action="print_run.created",
                target=lot_row,
                data={"gtin": gtin_14, "first": serials[0], "last": serials[-1], "count": count},
            )
        seconds["units"] = time.perf_counter() - started
        # Files after the commit: on SQLite the transaction holds the database's write lock.
        try:
            _files_write(
                drawn,
                fmt=fmt,
                sheets=sheets,
                csv_path=csv_path,
                rows=[(gtin_14, lot, serial) for serial in serials],
                title=f"GTIN {gtin_14} lot {lot}",
                layout=layout,
                report=report,
            )
        except OSError as exc:
            raise DomainError(
                f"Units {serials[0]} to {serials[-1]} were created, but the files could not be "
                f"written: {exc}",
                code="print_files_failed",
            ) from exc
    seconds["total"] = time.perf_counter() - started
    logger.info(
        "links.print_run.created",
        extra={"gtin": gtin_14, "lot": lot, "count": count, "seconds": round(seconds["total"], 2)},
    )
    return PrintRun(
        gtin=gtin_14,
        lot=lot,
        first_serial=serials[0],
        last_serial=serials[-1],
        count=count,
        pages=pages,
        sheets=sheets,
        csv=csv_path,
        seconds=seconds,
    )


def _files_write(
    drawn: Iterator[bytes],
    *,
    fmt: str,
    sheets: list[Path],
    csv_path: Path,
    rows: list[tuple[str, str, str]],
    title: str,
    layout: SheetLayout,
    report: Progress,
) -> None:
    """Write every file under a temporary name, then rename them all; none is left half done."""
    parts = [path.with_name(path.name + ".part") for path in [*sheets, csv_path]]
    total = len(rows)
    try:
        with parts[-1].open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["gtin", "lot", "serial", "uri"])
            base = digital_link_uri(gtin=rows[0][0], lot=rows[0][1], base=public_url())
            writer.writerows(
                (gtin, lot, serial, f"{base}/21/{serial}") for gtin, lot, serial in rows
            )
        done = 0
        if fmt == "pdf":
            with parts[0].open("wb") as out:
                pdf = PdfWriter(out, layout=layout, title=title)
                for content in drawn:
                    pdf.page_add(content)
                    done = min(done + layout.per_page, total)
                    report("codes", done, total)
                pdf.close()
        else:
            for part, page in zip(parts, drawn, strict=False):
                part.write_bytes(page)
                done = min(done + layout.per_page, total)
                report("codes", done, total)
        for part, final in zip(parts, [*sheets, csv_path], strict=True):
            part.replace(final)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def _units_insert(product: Product, lot: Lot, serials: list[str], report: Progress) -> None:
    total = len(serials)
    try:
        for start in range(0, total, CHUNK):
            ProductUnit.objects.bulk_create(
                [
                    ProductUnit(
                        product_id=product.pk,
                        serial=serial,
                        lot_id=lot.pk,
                        manufactured_on=lot.manufactured_on,
                    )
                    for serial in serials[start : start + CHUNK]
                ]
            )
            report("units", min(start + CHUNK, total), total)
    except IntegrityError as exc:
        # Someone else took one of these serials between our look and our write.
        raise Conflict(
            "Some of these serial numbers were taken meanwhile; run again.", code="serial_taken"
        ) from exc
