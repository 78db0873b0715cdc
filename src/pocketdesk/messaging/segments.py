"""SMS segment counting as carriers do it: GSM-7 septets or UCS-2 code units per segment."""

from collections.abc import Sequence
from dataclasses import dataclass

# GSM 03.38: the basic set costs one septet, the extension table two (escape + character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SmsSegments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_segments(body: str) -> SmsSegments:
    """Count SMS segments as carriers do: 160/153 septets in GSM-7, 70/67 code units in UCS-2.

    A concatenated segment never splits an escape sequence or a surrogate pair, so a message
    can need one segment more than the plain division says.
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        widths = [2 if c in GSM7_EXTENSION else 1 for c in body]
        return SmsSegments("GSM-7", sum(widths), _segments_packed(widths, 160, 153))
    widths = [2 if ord(c) > 0xFFFF else 1 for c in body]
    return SmsSegments("UCS-2", sum(widths), _segments_packed(widths, 70, 67))


def _segments_packed(widths: Sequence[int], single: int, multi: int) -> int:
    if sum(widths) <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments, used = segments + 1, 0
        used += width
    return segments
