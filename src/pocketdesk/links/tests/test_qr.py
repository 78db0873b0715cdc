"""QR codes drawn by links.qr, read back by zxing-cpp: PNG directly, SVG rasterised by resvg
(a Rust renderer in a wheel: no system library) and, where Debian's Chromium is installed, by
Chromium too."""

import base64
import io
import re
from typing import Any

import pytest
import resvg_py
import zxingcpp
from PIL import Image

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.links import qr

URL = "https://pd.example.com/q/box-r3"
# Reserved characters and a percent-escape: what the code holds must be exactly the URL.
TRICKY_URL = "https://pd.example.com/01/09506000134352/10/A%2FB&C/21/7?linkType=gs1:pip#x"


def decode(image: Image.Image) -> list[Any]:
    return list(zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode))


def png_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def svg_image(data: bytes, width: int | None = None) -> Image.Image:
    """The SVG as a browser would paint it on a white page."""
    png = resvg_py.svg_to_bytes(svg_string=data.decode(), width=width, background="#ffffff")
    return Image.open(io.BytesIO(bytes(png))).convert("L")


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_every_level_and_format_decodes_to_the_exact_url(level, fmt):
    body = qr.render(TRICKY_URL, fmt=fmt, ec=level, scale=4)

    image = png_image(body) if fmt == "png" else svg_image(body)
    found = decode(image)

    assert [code.text for code in found] == [TRICKY_URL]
    # the level asked for is the level drawn (not silently boosted)
    assert found[0].ec_level == level


def test_png_scale_is_pixels_per_module_with_a_four_module_quiet_zone():
    body = qr.render(URL, fmt="png", ec="M", scale=5)

    image = png_image(body).convert("L")
    [code] = decode(image)
    version = int(code.extra["Version"])
    modules = 17 + 4 * version + 2 * 4
    assert image.size == (modules * 5, modules * 5)
    # the symbol starts 4 modules in from every edge, and all of that margin is white
    corner = code.position.top_left
    assert (corner.x, corner.y) == (4 * 5, 4 * 5)
    margin = image.crop((0, 0, image.width, 4 * 5))
    assert margin.getextrema() == (255, 255)
    assert image.getpixel((4 * 5, 4 * 5)) == 0  # the finder pattern's corner is dark


@pytest.mark.parametrize("size", [120, 300, 301, 1000])
def test_png_size_is_exact_and_keeps_whole_pixel_modules_and_the_quiet_zone(size):
    body = qr.render(URL, fmt="png", ec="Q", size=size)

    image = png_image(body).convert("L")
    assert image.size == (size, size)
    [code] = decode(image)
    assert code.text == URL
    modules = 17 + 4 * int(code.extra["Version"])
    module_px = size // (modules + 8)
    corner = code.position.top_left
    assert min(corner.x, corner.y) >= 4 * module_px
    # whole-pixel modules: pure black and white, no blurred grey edges
    assert {value for _count, value in image.getcolors()} == {0, 255}


def test_svg_size_sets_the_drawn_size_and_the_view_box_holds_the_quiet_zone():
    body = qr.render(URL, fmt="svg", ec="M", size=333)

    text = body.decode()
    assert 'width="333"' in text
    assert 'height="333"' in text
    view_box = re.search(r'viewBox="0 0 (\d+) (\d+)"', text)
    assert view_box is not None
    image = svg_image(body)
    assert image.size == (333, 333)
    [code] = decode(image)
    modules = 17 + 4 * int(code.extra["Version"])
    assert int(view_box.group(1)) == modules + 8
    assert code.text == URL


def test_svg_scale_gives_modules_times_scale_pixels():
    body = qr.render(URL, fmt="svg", ec="L", scale=3)

    image = svg_image(body)
    [code] = decode(image)
    modules = 17 + 4 * int(code.extra["Version"]) + 8
    assert image.size == (modules * 3, modules * 3)


def test_svg_has_a_white_background_so_it_scans_on_a_dark_page():
    body = qr.render(URL, fmt="svg", scale=4)

    transparent = resvg_py.svg_to_bytes(svg_string=body.decode())  # no background given
    on_black = Image.new("RGBA", png_image(bytes(transparent)).size, "black")
    on_black.alpha_composite(png_image(bytes(transparent)).convert("RGBA"))

    assert [code.text for code in decode(on_black.convert("L"))] == [URL]


def test_the_default_is_an_svg_at_eight_pixels_per_module():
    body = qr.render(URL)

    assert body.lstrip().startswith(b"<?xml")
    [code] = decode(svg_image(body))
    modules = 17 + 4 * int(code.extra["Version"]) + 8
    assert f'width="{modules * 8}"'.encode() in body
    assert code.ec_level == "M"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ec": "X"}, "ec"),
        ({"ec": ""}, "ec"),
        ({"fmt": "gif"}, "format"),
        ({"scale": 0}, "scale"),
        ({"scale": 41}, "scale"),
        ({"size": 0}, "size"),
        ({"size": 5000}, "size"),
        ({"size": 20}, "size"),  # fewer pixels than modules
        ({"scale": 4, "size": 200}, "size"),
    ],
)
def test_bad_level_size_or_format_is_a_422(kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        qr.render(URL, **kwargs)

    assert refused.value.status == 422
    assert refused.value.extra["errors"][0]["field"] == field


def test_a_url_too_long_for_any_qr_code_is_a_422_not_a_crash():
    with pytest.raises(ValidationFailed) as refused:
        qr.render("https://pd.example.com/" + "x" * 3000, ec="H")

    assert refused.value.code == "too_long"
    with pytest.raises(ValidationFailed):
        qr.render("")


@pytest.mark.parametrize("level", ["L", "H"])
def test_symbol_rows_for_bulk_printing_decode_to_the_text(level):
    rows = qr.symbol_rows(TRICKY_URL, ec=level)

    width = len(rows[0])
    assert all(len(row) == width for row in rows)
    assert len(rows) == width
    image = Image.new("L", (width + 8, width + 8), 255)
    image.paste(Image.frombytes("L", (width, width), b"".join(rows)), (4, 4))
    found = decode(image.resize((image.width * 4, image.height * 4), Image.Resampling.NEAREST))
    assert [code.text for code in found] == [TRICKY_URL]
    assert found[0].ec_level == level


def test_symbol_rows_refuse_what_does_not_fit():
    with pytest.raises(ValidationFailed) as refused:
        qr.symbol_rows("x" * 5000, ec="L")
    assert refused.value.code == "too_long"


# --- the same SVG painted by Chromium ------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("level", ["L", "H"])
def test_chromium_paints_the_svg_as_a_scannable_code(chromium, level):
    body = qr.render(TRICKY_URL, fmt="svg", ec=level, size=240)
    page = chromium.new_page(viewport={"width": 320, "height": 320})
    try:
        # as an <img>, the way the console shows it, on a dark page
        page.set_content(
            '<body style="margin:0;background:#123"><img id="code" alt="" '
            'src="data:image/svg+xml;base64,' + base64.b64encode(body).decode() + '"></body>'
        )
        page.wait_for_function("document.getElementById('code').complete")
        shot = page.locator("#code").screenshot()
    finally:
        page.close()

    image = png_image(shot)
    assert image.size == (240, 240)
    found = decode(image)
    assert [code.text for code in found] == [TRICKY_URL]
    assert found[0].ec_level == level
