"""Run in print_run's env (a fresh SQLite file): migrate, make a product, time one print run of
COUNT units into OUT as FORMAT, then check the sheet decodes; prints one JSON line."""

import csv
import json
import os
import resource
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pocketdesk.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from pocketdesk.accounts.models import User  # noqa: E402
from pocketdesk.accounts.services import user_create  # noqa: E402
from pocketdesk.catalog.models import ProductUnit  # noqa: E402
from pocketdesk.catalog.services import product_create  # noqa: E402
from pocketdesk.links.print_run import print_run_create  # noqa: E402

ADMIN = "bench-admin@bench.example"


def _sqlite_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()")
        row = cursor.fetchone()
    return str(row[0]) if row else "?"


def _decoded(sheet: Path, fmt: str) -> set[str]:
    """Codes read back from the first page by zxing-cpp (PDF rendered by PDFium, SVG by resvg)."""
    import io

    import zxingcpp
    from PIL import Image

    if fmt == "pdf":
        import pypdfium2

        document = pypdfium2.PdfDocument(sheet)
        image = document[0].render(scale=200 / 72).to_pil()
        document.close()
    else:
        import resvg_py

        png = resvg_py.svg_to_bytes(svg_path=str(sheet), dpi=200, background="#ffffff")
        image = Image.open(io.BytesIO(bytes(png)))
    return {found.text for found in zxingcpp.read_barcodes(image)}


def main(gtin: str, lot: str, count: int, fmt: str, out: Path) -> dict[str, Any]:
    call_command("migrate", verbosity=0, interactive=False)
    admin = User.objects.filter(email=ADMIN).first() or user_create(
        email=ADMIN, password=secrets.token_urlsafe(), role="admin"
    )
    product_create(actor=admin, gtin=gtin, name="Bench kettle", brand="Bench")
    started = time.perf_counter()
    run = print_run_create(actor=None, gtin=gtin, lot=lot, count=count, out_dir=out, fmt=fmt)
    seconds = time.perf_counter() - started
    created = ProductUnit.objects.filter(product__gtin=run.gtin, lot__code=lot).count()
    with run.csv.open(encoding="utf-8", newline="") as rows:
        reader = csv.DictReader(rows)
        first_uris = [row["uri"] for _, row in zip(range(54), reader, strict=False)]
    decoded = _decoded(run.sheets[0], fmt)
    return {
        "seconds": round(seconds, 3),
        "stages": {stage: round(value, 3) for stage, value in run.seconds.items()},
        "units_created": created,
        "pages": run.pages,
        "sheet_files": len(run.sheets),
        "sheet_bytes": sum(path.stat().st_size for path in run.sheets),
        "csv_bytes": run.csv.stat().st_size,
        "first_page_codes": len(first_uris),
        "first_page_decoded": len(decoded & set(first_uris)),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sqlite": _sqlite_version(),
    }


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(f"usage: {sys.argv[0]} GTIN LOT COUNT FORMAT OUT")
    gtin, lot, count, fmt, out = sys.argv[1:]
    print(json.dumps(main(gtin, lot, int(count), fmt, Path(out))))
