"""Print runs: units created all or none, serials continued or refused, and every code on the
sheet read back by zxing-cpp with its serial printed under it. PDF pages are rendered by PDFium
(pypdfium2, a wheel), SVG pages by resvg (resvg-py, a wheel): no system library needed."""

import csv
import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
import resvg_py
import zxingcpp
from django.test import Client
from PIL import Image

from pocketdesk.catalog.models import Lot, ProductUnit
from pocketdesk.catalog.services import product_create, unit_create
from pocketdesk.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.models import AuditEvent
from pocketdesk.links.digital_link import public_url
from pocketdesk.links.print_run import print_run_create, serial_after_highest
from pocketdesk.links.sheets import A4, PageDrawer, PageJob, page_draw

GTIN_13 = "9506000134352"
GTIN_14 = "09506000134352"
PDF_DPI = 200
SVG_DPI = 200


@pytest.fixture
def product(admin_user):
    return product_create(actor=admin_user, gtin=GTIN_13, name="Kettle", brand="Acme")


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows))


def serial_of(uri: str) -> str:
    return uri.rsplit("/21/", 1)[1]


def pdf_codes_and_captions(path: Path) -> list[tuple[str, str]]:
    """(decoded text, caption printed under it) for every code on every page."""
    document = pypdfium2.PdfDocument(path)
    found = []
    try:
        for page in document:
            height = page.get_height()
            scale = PDF_DPI / 72
            image = page.render(scale=scale).to_pil()
            text = page.get_textpage()
            for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
                corners = [code.position.top_left, code.position.bottom_right]
                left, right = (corner.x / scale for corner in corners)
                bottom = height - code.position.bottom_right.y / scale
                # the caption sits within 8 mm under the symbol, between its sides
                caption = text.get_text_bounded(left - 5, bottom - 8 * 72 / 25.4, right + 5, bottom)
                found.append((code.text, caption.strip()))
    finally:
        document.close()
    return found


def svg_codes_and_captions(path: Path) -> list[tuple[str, str]]:
    svg = path.read_text(encoding="utf-8")
    png = resvg_py.svg_to_bytes(svg_string=svg, dpi=SVG_DPI, background="#ffffff")
    image = Image.open(io.BytesIO(bytes(png)))
    px_per_mm = SVG_DPI / 25.4
    captions = [
        (float(x), float(y), text)
        for x, y, text in re.findall(r'<text x="([\d.]+)" y="([\d.]+)">([^<]*)</text>', svg)
    ]
    found = []
    for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
        middle = (code.position.top_left.x + code.position.bottom_right.x) / 2 / px_per_mm
        bottom = code.position.bottom_right.y / px_per_mm
        under = [text for x, y, text in captions if abs(x - middle) < 1 and 0 < y - bottom < 8]
        found.append((code.text, under[0] if len(under) == 1 else f"? {under}"))
    return found


def test_pdf_print_run_creates_the_units_and_a_sheet_whose_codes_read_back(
    product, tmp_path, admin_user
):
    # when 50 units of a new lot are printed (in this process)
    run = print_run_create(
        actor=admin_user, gtin=GTIN_13, lot="L26-A", count=50, out_dir=tmp_path, workers=0
    )

    # then the lot and 50 units exist, serials 1 to 50
    lot = Lot.objects.get(product=product, code="L26-A")
    serials = list(ProductUnit.objects.filter(lot=lot).values_list("serial", flat=True))
    assert sorted(serials, key=int) == [str(n) for n in range(1, 51)]
    assert (run.first_serial, run.last_serial, run.count, run.pages) == ("1", "50", 50, 1)
    # and the CSV names each with its Digital Link URI
    rows = csv_rows(run.csv)
    assert [row["serial"] for row in rows] == [str(n) for n in range(1, 51)]
    assert rows[0] == {
        "gtin": GTIN_14,
        "lot": "L26-A",
        "serial": "1",
        "uri": f"{public_url()}/01/{GTIN_14}/10/L26-A/21/1",
    }
    # and every code of the PDF reads back to one of those URIs, its serial printed under it
    [sheet] = run.sheets
    assert sheet.suffix == ".pdf"
    found = pdf_codes_and_captions(sheet)
    assert sorted(text for text, _ in found) == sorted(row["uri"] for row in rows)
    assert all(caption == serial_of(text) for text, caption in found), found
    assert AuditEvent.objects.filter(action="print_run.created", target_id=lot.public_id).exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([sheet.name, run.csv.name])


def test_svg_pages_are_drawn_by_worker_processes(product, tmp_path):
    # 60 units: more than one A4 page of 54
    run = print_run_create(
        actor=None, gtin=GTIN_13, lot="B2", count=60, out_dir=tmp_path, fmt="svg", workers=2
    )

    assert run.pages == 2
    assert [path.name for path in run.sheets] == [
        f"{GTIN_14}-B2-1-60-page-0001.svg",
        f"{GTIN_14}-B2-1-60-page-0002.svg",
    ]
    first, second = (svg_codes_and_captions(path) for path in run.sheets)
    assert len(first) == A4.per_page
    assert len(second) == 60 - A4.per_page
    uris = [row["uri"] for row in csv_rows(run.csv)]
    assert sorted(text for text, _ in first + second) == sorted(uris)
    assert all(caption == serial_of(text) for text, caption in first + second)
    assert ProductUnit.objects.filter(lot__code="B2").count() == 60


def test_printed_codes_resolve_to_their_unit_page(product, tmp_path):
    run = print_run_create(actor=None, gtin=GTIN_13, lot="C3", count=3, out_dir=tmp_path)

    for row in csv_rows(run.csv):
        path = row["uri"].removeprefix(public_url())
        response = Client().get(path)
        assert response.status_code == 200
        assert f'id="serial">{row["serial"]}<' in response.content.decode()


def test_serials_continue_after_the_highest_number_and_keep_zero_padding(
    product, tmp_path, admin_user
):
    print_run_create(actor=None, gtin=GTIN_13, lot="A", count=3, out_dir=tmp_path)
    unit_create(actor=admin_user, product=product, serial="ABC-9")  # not a number: ignored

    second = print_run_create(actor=None, gtin=GTIN_13, lot="B", count=2, out_dir=tmp_path)
    padded = print_run_create(
        actor=None, gtin=GTIN_13, lot="B", count=2, out_dir=tmp_path, first_serial="000100"
    )
    after_padded = print_run_create(actor=None, gtin=GTIN_13, lot="B", count=1, out_dir=tmp_path)

    assert (second.first_serial, second.last_serial) == ("4", "5")
    assert (padded.first_serial, padded.last_serial) == ("000100", "000101")
    assert after_padded.first_serial == "000102"


def test_the_highest_serial_is_compared_as_a_number(product, admin_user):
    for serial in ["9", "10", "0011", "X99", "007"]:
        unit_create(actor=admin_user, product=product, serial=serial)

    assert serial_after_highest(product) == (12, 4)


def test_serials_that_exist_are_refused_and_nothing_is_written(product, tmp_path):
    print_run_create(actor=None, gtin=GTIN_13, lot="A", count=50, out_dir=tmp_path / "one")

    with pytest.raises(Conflict) as refused:
        print_run_create(
            actor=None,
            gtin=GTIN_13,
            lot="A",
            count=10,
            first_serial="45",
            out_dir=tmp_path / "two",
        )

    assert refused.value.code == "serial_taken"
    assert "45, 46, 47, 48, 49" in refused.value.detail
    assert ProductUnit.objects.count() == 50
    assert not (tmp_path / "two").exists() or not any((tmp_path / "two").iterdir())


def test_an_existing_file_is_not_overwritten_and_no_unit_is_created(product, tmp_path):
    taken = tmp_path / f"{GTIN_14}-A-1-5.csv"
    taken.write_text("keep me", encoding="utf-8")

    with pytest.raises(Conflict) as refused:
        print_run_create(actor=None, gtin=GTIN_13, lot="A", count=5, out_dir=tmp_path)

    assert refused.value.code == "file_exists"
    assert taken.read_text(encoding="utf-8") == "keep me"
    assert not ProductUnit.objects.exists()
    assert not Lot.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"gtin": "9506000134353"}, ValidationFailed, "gtin"),  # check digit
        ({"gtin": "09506000134369"}, NotFound, None),  # no such product
        ({"lot": "lot é"}, ValidationFailed, "lot"),
        ({"lot": "A" * 21}, ValidationFailed, "lot"),
        ({"lot": "L/26"}, ValidationFailed, "lot"),
        ({"count": 0}, ValidationFailed, "count"),
        ({"count": 1_000_001}, ValidationFailed, "count"),
        ({"first_serial": "12a"}, ValidationFailed, "first_serial"),
        ({"first_serial": "9" * 20, "count": 2}, ValidationFailed, "count"),  # 21 digits
        ({"fmt": "png"}, ValidationFailed, "format"),
        ({"ec": "Z"}, ValidationFailed, "ec"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_written(
    product, tmp_path, kwargs, error, field
):
    arguments: dict[str, Any] = {
        "actor": None,
        "gtin": GTIN_13,
        "lot": "A",
        "count": 5,
        "out_dir": tmp_path / "out",
    }
    with pytest.raises(error) as refused:
        print_run_create(**{**arguments, **kwargs})

    if field is not None:
        assert refused.value.extra["errors"][0]["field"] == field
    assert not ProductUnit.objects.exists()


def test_only_admins_or_the_system_print(product, make_user, tmp_path):
    with pytest.raises(PermissionDenied):
        print_run_create(actor=make_user("agent"), gtin=GTIN_13, lot="A", count=1, out_dir=tmp_path)


def test_units_take_the_lots_manufacture_date(product, tmp_path, admin_user):
    unit_create(
        actor=admin_user,
        product=product,
        serial="PRE-1",
        lot_code="M1",
        manufactured_on=date(2026, 5, 1),
    )

    print_run_create(actor=None, gtin=GTIN_13, lot="M1", count=2, out_dir=tmp_path)

    made = ProductUnit.objects.filter(lot__code="M1").exclude(serial="PRE-1")
    assert {unit.manufactured_on for unit in made} == {date(2026, 5, 1)}


def test_worker_processes_keep_page_order_with_few_pages_in_flight():
    jobs = [
        PageJob(
            fmt=fmt,
            ec="M",
            header=f"page {index}",
            labels=((f"https://pd.example.com/01/{GTIN_14}/21/{index}", str(index)),),
        )
        for index, fmt in enumerate(["svg", "pdf", "svg", "pdf", "svg"])
    ]

    with PageDrawer(2, ahead=1) as drawer:
        drawn = list(drawer.draw(jobs))

    assert drawn == [page_draw(job) for job in jobs]
