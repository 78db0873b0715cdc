"""QR codes for links: SVG or PNG, with a selectable error-correction level and size."""

import io

import segno

from pocketdesk.core.errors import ValidationFailed

LEVELS = frozenset({"L", "M", "Q", "H"})
QUIET_ZONE = 4  # modules, as the standard asks; scanners need it
MAX_SCALE = 40


def render(url: str, *, fmt: str = "svg", ec: str = "M", scale: int = 8) -> bytes:
    ec = ec.upper()
    if ec not in LEVELS:
        raise ValidationFailed("ec is one of L, M, Q, H.", field="ec")
    if fmt not in {"svg", "png"}:
        raise ValidationFailed("format is svg or png.", field="format")
    if not 1 <= scale <= MAX_SCALE:
        raise ValidationFailed(f"scale is 1 to {MAX_SCALE} pixels per module.", field="scale")
    code = segno.make_qr(url, error=ec, boost_error=False)
    out = io.BytesIO()
    code.save(out, kind=fmt, scale=scale, border=QUIET_ZONE)
    return out.getvalue()
