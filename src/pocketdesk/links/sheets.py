"""Printable sheets of QR codes: A4 pages in a grid, each code with its caption under it, as
one SVG file per page or one PDF streamed page by page.

No Django here: pages are drawn in worker processes that never touch the database. Codes are
vector paths, one horizontal run of dark modules per command, so they stay sharp at any size.
"""

import multiprocessing
import os
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import BinaryIO, Self
from xml.sax.saxutils import escape

from pocketdesk.links.qr import QUIET_ZONE, symbol_rows

SHEET_FORMATS = ("svg", "pdf")
_DARK_RUN = re.compile(rb"\x00+")
PT_PER_MM = 72 / 25.4


@dataclass(frozen=True)
class SheetLayout:
    """Where codes go on a page, in millimetres. The symbol box includes the quiet zone."""

    page_width: float = 210.0  # A4
    page_height: float = 297.0
    margin: float = 10.0
    header: float = 4.0  # the line naming GTIN, lot and page, above the grid
    columns: int = 6
    rows: int = 9
    symbol: float = 24.0
    caption: float = 2.6  # font size of the serial under the code

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def cell(self, index: int) -> tuple[float, float]:
        """Top-left corner of the symbol box of the `index`-th code on a page."""
        width = (self.page_width - 2 * self.margin) / self.columns
        height = (self.page_height - 2 * self.margin - self.header) / self.rows
        row, column = divmod(index, self.columns)
        left = self.margin + column * width + (width - self.symbol) / 2
        top = self.margin + self.header + row * height
        return left, top


A4 = SheetLayout()


@dataclass(frozen=True)
class PageJob:
    """One page to draw: `labels` are (text to encode, caption) pairs, at most `per_page`."""

    fmt: str
    ec: str
    header: str
    labels: tuple[tuple[str, str], ...]
    layout: SheetLayout = A4


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def svg_path_data(rows: list[bytes]) -> str:
    """Path data in module units: each dark run is a 1-module-wide stroke along its row."""
    parts: list[str] = []
    for y, row in enumerate(rows):
        end = -1
        for run in _DARK_RUN.finditer(row):
            start, stop = run.span()
            if end < 0:
                parts.append(f"M{start} {y}.5h{stop - start}")
            else:
                parts.append(f"m{start - end} 0h{stop - start}")
            end = stop
    return "".join(parts)


def pdf_path_ops(rows: list[bytes]) -> str:
    """Rectangles in module units, row 0 at the top once the caller's `cm` flips the y axis."""
    return " ".join(
        f"{run.start()} {y} {run.end() - run.start()} 1 re"
        for y, row in enumerate(rows)
        for run in _DARK_RUN.finditer(row)
    )


def svg_page(job: PageJob) -> bytes:
    layout = job.layout
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(layout.page_width)}mm" '
        f'height="{_num(layout.page_height)}mm" '
        f'viewBox="0 0 {_num(layout.page_width)} {_num(layout.page_height)}">\n'
        f'<rect width="{_num(layout.page_width)}" height="{_num(layout.page_height)}" '
        'fill="#fff"/>\n'
        f'<text x="{_num(layout.margin)}" y="{_num(layout.margin + layout.header * 0.6)}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="3">{escape(job.header)}</text>\n'
        '<g stroke="#000" fill="none" shape-rendering="crispEdges">\n'
    ]
    captions: list[str] = []
    for index, (text, caption) in enumerate(job.labels):
        rows = symbol_rows(text, ec=job.ec)
        module = layout.symbol / (len(rows) + 2 * QUIET_ZONE)
        left, top = layout.cell(index)
        out.append(
            f'<path transform="translate({_num(left + QUIET_ZONE * module)} '
            f'{_num(top + QUIET_ZONE * module)}) scale({module:.5f})" '
            f'd="{svg_path_data(rows)}"/>\n'
        )
        captions.append(
            f'<text x="{_num(left + layout.symbol / 2)}" '
            f'y="{_num(top + layout.symbol + layout.caption)}">{escape(caption)}</text>\n'
        )
    out.append("</g>\n")
    out.append(
        f'<g font-family="Courier, monospace" font-size="{_num(layout.caption)}" '
        'text-anchor="middle">\n'
    )
    out.extend(captions)
    out.append("</g>\n</svg>\n")
    return "".join(out).encode()


def _pdf_text(value: str) -> str:
    # Inputs are GS1 characters (printable ASCII); anything else would not be in WinAnsi.
    ascii_only = value.encode("ascii", "replace").decode()
    return ascii_only.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_page_content(job: PageJob) -> bytes:
    """The page's content stream, Flate-compressed. Fonts: /F1 Helvetica, /F2 Courier."""
    layout = job.layout
    height_pt = layout.page_height * PT_PER_MM

    def x_pt(mm: float) -> str:
        return f"{mm * PT_PER_MM:.2f}"

    def y_pt(mm: float) -> str:
        return f"{height_pt - mm * PT_PER_MM:.2f}"

    header_size = 3 * PT_PER_MM
    out = [
        f"BT /F1 {header_size:.2f} Tf {x_pt(layout.margin)} "
        f"{y_pt(layout.margin + layout.header * 0.6)} Td ({_pdf_text(job.header)}) Tj ET\n0 g\n"
    ]
    caption_size = layout.caption * PT_PER_MM
    for index, (text, caption) in enumerate(job.labels):
        rows = symbol_rows(text, ec=job.ec)
        module = layout.symbol / (len(rows) + 2 * QUIET_ZONE)
        left, top = layout.cell(index)
        scale = module * PT_PER_MM
        out.append(
            f"q {scale:.5f} 0 0 {-scale:.5f} {x_pt(left + QUIET_ZONE * module)} "
            f"{y_pt(top + QUIET_ZONE * module)} cm\n{pdf_path_ops(rows)} f Q\n"
        )
        # Courier: every glyph is 0.6 em wide, so centring needs no width table.
        width = 0.6 * layout.caption * len(caption)
        caption_x = x_pt(left + (layout.symbol - width) / 2)
        caption_y = y_pt(top + layout.symbol + layout.caption)
        out.append(
            f"BT /F2 {caption_size:.2f} Tf {caption_x} {caption_y} Td "
            f"({_pdf_text(caption)}) Tj ET\n"
        )
    return zlib.compress("".join(out).encode("ascii"), 6)


def page_draw(job: PageJob) -> bytes:
    """SVG document or compressed PDF content stream of one page (runs in worker processes)."""
    if job.fmt == "svg":
        return svg_page(job)
    return pdf_page_content(job)


class PageDrawer:
    """Draws pages in `workers` processes (0: in this one), in order. `draw` submits the first
    `ahead` pages at once, so they are drawn while the caller does other work (the database's),
    and keeps that many in flight: memory stays bounded however long the run."""

    def __init__(self, workers: int, *, ahead: int = 512) -> None:
        self._workers = workers
        self._ahead = ahead
        self._pool: Executor | None = None

    def __enter__(self) -> Self:
        if self._workers > 0:
            # forkserver, not fork: the children start clean, without the parent's database
            # connections or threads.
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("forkserver")
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def draw(self, jobs: Iterable[PageJob]) -> Iterator[bytes]:
        pool = self._pool
        if pool is None:
            return map(page_draw, jobs)
        waiting = iter(jobs)
        pending = deque(pool.submit(page_draw, job) for job in islice(waiting, self._ahead))

        def results() -> Iterator[bytes]:
            while pending:
                page = pending.popleft().result()
                following = next(waiting, None)
                if following is not None:
                    pending.append(pool.submit(page_draw, following))
                yield page

        return results()


def workers_for(pages: int) -> int:
    """Worker processes worth starting for `pages` pages: none for a few, else one per core."""
    if pages < 8:
        return 0
    return max(1, min(2, os.cpu_count() or 1, pages // 4))


class PdfWriter:
    """A PDF written as pages arrive: pages are never all in memory, the file is written once.

    Objects: 1 catalog, 2 page tree (written last), 3 Helvetica, 4 Courier, 5 info, then a
    content stream and a page for each page.
    """

    def __init__(self, out: BinaryIO, *, layout: SheetLayout = A4, title: str = "") -> None:
        self._out = out
        self._offsets: dict[int, int] = {}
        self._written = 0
        self._pages: list[int] = []
        self._next = 6
        self._media = (
            f"[0 0 {layout.page_width * PT_PER_MM:.2f} {layout.page_height * PT_PER_MM:.2f}]"
        )
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._object(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        for number, font in ((3, b"Helvetica"), (4, b"Courier")):
            self._object(
                number,
                b"<< /Type /Font /Subtype /Type1 /BaseFont /"
                + font
                + b" /Encoding /WinAnsiEncoding >>",
            )
        self._object(5, f"<< /Title ({_pdf_text(title)}) /Producer (pocketdesk) >>".encode("ascii"))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)

    def _object(self, number: int, body: bytes) -> None:
        self._offsets[number] = self._written
        self._write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")

    def page_add(self, content: bytes) -> None:
        """Add a page whose content stream is `content`, Flate-compressed."""
        stream, page = self._next, self._next + 1
        self._next += 2
        self._object(
            stream,
            f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode()
            + content
            + b"\nendstream",
        )
        self._object(
            page,
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox {self._media} "
                "/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
                f"/Contents {stream} 0 R >>"
            ).encode(),
        )
        self._pages.append(page)

    def close(self) -> None:
        kids = " ".join(f"{page} 0 R" for page in self._pages)
        self._object(2, f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>".encode())
        start = self._written
        size = self._next
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        lines.extend(f"{self._offsets[number]:010d} 00000 n \n" for number in range(1, size))
        lines.append(
            f"trailer\n<< /Size {size} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{start}\n%%EOF\n"
        )
        self._write("".join(lines).encode())
