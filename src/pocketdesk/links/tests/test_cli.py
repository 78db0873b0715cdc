"""`pocketdesk links …`: create, retarget, qr and print-run; JSON out, errors as exit code 2."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import resvg_py
import zxingcpp
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from pocketdesk.catalog.models import ProductUnit
from pocketdesk.catalog.services import product_create
from pocketdesk.core.models import AuditEvent
from pocketdesk.links.digital_link import public_url
from pocketdesk.links.models import Link

GTIN_13 = "9506000134352"


def links(*args: str) -> dict:
    out = io.StringIO()
    call_command("links", *args, stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def test_create_prints_the_code_short_url_and_target(db):
    result = links(
        "create", "--target", "https://example.com/setup", "--code", "box-1", "--title", "Box"
    )

    assert result == {
        "code": "box-1",
        "short_url": f"{public_url()}/q/box-1",
        "target": "https://example.com/setup",
    }
    link = Link.objects.get(code="box-1")
    assert (link.title, link.created_by) == ("Box", None)


def test_create_without_a_code_draws_one(db):
    result = links("create", "--target", "https://example.com/a")

    assert len(result["code"]) == 7
    assert Link.objects.filter(code=result["code"]).exists()


def test_retarget_changes_where_the_printed_code_leads(db):
    links("create", "--target", "https://example.com/a", "--code", "box-2")

    result = links("retarget", "box-2", "https://example.com/b")

    assert result["target"] == "https://example.com/b"
    assert Link.objects.get(code="box-2").target_url == "https://example.com/b"
    assert AuditEvent.objects.filter(action="link.updated", actor=None).exists()


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_qr_writes_a_file_that_decodes_to_the_short_url(db, tmp_path, fmt):
    links("create", "--target", "https://example.com/a", "--code", "box-3")
    out = tmp_path / f"box.{fmt}"

    result = links("qr", "box-3", "--format", fmt, "--out", str(out), "--ec", "H", "--scale", "5")

    if fmt == "png":
        image = Image.open(out)
    else:
        png = resvg_py.svg_to_bytes(svg_string=out.read_text(), background="#ffffff")
        image = Image.open(io.BytesIO(bytes(png)))
    [code] = zxingcpp.read_barcodes(image)
    assert code.text == f"{public_url()}/q/box-3" == result["short_url"]
    assert code.ec_level == "H"
    assert result["bytes"] == out.stat().st_size


def test_qr_size_gives_an_exact_png(db, tmp_path):
    links("create", "--target", "https://example.com/a", "--code", "box-4")
    out = tmp_path / "box.png"

    links("qr", "box-4", "--format", "png", "--out", str(out), "--size", "256")

    assert Image.open(out).size == (256, 256)


def test_print_run_creates_units_and_files(admin_user, tmp_path):
    product_create(actor=admin_user, gtin=GTIN_13, name="Kettle")

    result = links(
        "print-run",
        "--gtin",
        GTIN_13,
        "--lot",
        "L1",
        "--count",
        "12",
        "--out",
        str(tmp_path),
        "--format",
        "svg",
        "--workers",
        "0",
    )

    assert (result["first_serial"], result["last_serial"], result["pages"]) == ("1", "12", 1)
    assert ProductUnit.objects.filter(lot__code="L1").count() == 12
    sheet = Path(result["sheets"]["first"])
    png = resvg_py.svg_to_bytes(svg_path=str(sheet), dpi=150, background="#ffffff")
    decoded = {code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(bytes(png))))}
    assert decoded == {f"{public_url()}/01/0{GTIN_13}/10/L1/21/{n}" for n in range(1, 13)}
    assert Path(result["csv"]).read_text().count("\n") == 13


def test_domain_errors_become_a_command_error_with_exit_code_2(db):
    with pytest.raises(CommandError) as failed:
        call_command("links", "retarget", "nope", "https://example.com/b")

    assert failed.value.returncode == 2
    assert str(failed.value) == "No such link."


# --- the real console script, in its own process ----------------------------------------------


def pocketdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pocketdesk", "links", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_console_script_prints_json_and_errors_without_a_traceback(server_env):
    made = pocketdesk(server_env, "create", "--target", "https://example.com/a", "--code", "cli-1")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["short_url"].endswith("/q/cli-1")

    taken = pocketdesk(server_env, "create", "--target", "https://example.com/a", "--code", "cli-1")
    unknown = pocketdesk(server_env, "retarget", "nope", "https://example.com/b")
    bad_url = pocketdesk(server_env, "retarget", "cli-1", "ftp://example.com/b")
    no_product = pocketdesk(
        server_env, "print-run", "--gtin", GTIN_13, "--lot", "A", "--count", "1"
    )

    for failed, message in [
        (taken, "The code 'cli-1' is taken."),
        (unknown, "No such link."),
        (bad_url, "The target must be an absolute http(s) URL."),
        (no_product, "No product with GTIN 09506000134352; create it first."),
    ]:
        assert failed.returncode == 2, failed.stderr
        assert message in failed.stderr
        assert "Traceback" not in failed.stderr
        assert failed.stdout == ""
    assert Link.objects.get(code="cli-1").target_url == "https://example.com/a"
