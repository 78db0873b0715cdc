"""`pocketdesk links create|retarget|qr|print-run`: short links, QR files and unit print runs
from the local command line, acting as the system. Results are JSON on stdout; progress and
errors go to stderr, errors with exit code 2."""

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pocketdesk.core.errors import DomainError
from pocketdesk.links import qr, selectors, services
from pocketdesk.links.digital_link import public_url
from pocketdesk.links.print_run import print_run_create


def short_url(code: str) -> str:
    return f"{public_url()}/q/{code}"


class Command(BaseCommand):
    help = "Create and retarget short links, draw their QR codes, and print runs of unit codes."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        create = actions.add_parser("create", help="create a short link")
        create.add_argument("--target", required=True, help="where the link leads (http/https)")
        create.add_argument("--code", help="the code after /q/ (default: 7 random characters)")
        create.add_argument("--title", default="", help="a name staff recognise")

        retarget = actions.add_parser("retarget", help="point a printed code somewhere else")
        retarget.add_argument("code")
        retarget.add_argument("url")

        code = actions.add_parser("qr", help="write the QR code of a short link to a file")
        code.add_argument("code")
        code.add_argument("--format", choices=qr.FORMATS, default="svg")
        code.add_argument("--out", required=True, type=Path, help="the file to write")
        code.add_argument("--ec", choices=qr.LEVELS, default="M", help="error correction")
        size = code.add_mutually_exclusive_group()
        size.add_argument("--scale", type=int, help="pixels per module (default 8)")
        size.add_argument("--size", type=int, help="pixels for the whole image")

        run = actions.add_parser(
            "print-run", help="create N units of a lot and a printable sheet of their codes"
        )
        run.add_argument("--gtin", required=True)
        run.add_argument("--lot", required=True)
        run.add_argument("--count", required=True, type=int)
        run.add_argument("--first-serial", help="digits; default: after the highest serial")
        run.add_argument("--format", choices=("pdf", "svg"), default="pdf")
        run.add_argument("--out", type=Path, default=Path("."), help="directory (default: .)")
        run.add_argument("--ec", choices=qr.LEVELS, default="M", help="error correction")
        run.add_argument("--workers", type=int, help="drawing processes (default: by size)")

    def handle(self, *args: Any, **options: Any) -> None:
        handlers = {
            "create": self._create,
            "retarget": self._retarget,
            "qr": self._qr,
            "print-run": self._print_run,
        }
        try:
            result = handlers[options["action"]](options)
        except DomainError as error:
            raise CommandError(error.detail, returncode=2) from error
        self.stdout.write(json.dumps(result))

    def _create(self, options: dict[str, Any]) -> dict[str, Any]:
        link = services.link_create(
            actor=None, target_url=options["target"], code=options["code"], title=options["title"]
        )
        return {"code": link.code, "short_url": short_url(link.code), "target": link.target_url}

    def _retarget(self, options: dict[str, Any]) -> dict[str, Any]:
        link = selectors.link_get(actor=None, code=options["code"])
        link = services.link_retarget(actor=None, link=link, target_url=options["url"])
        return {"code": link.code, "short_url": short_url(link.code), "target": link.target_url}

    def _qr(self, options: dict[str, Any]) -> dict[str, Any]:
        link = selectors.link_get(actor=None, code=options["code"])
        url = short_url(link.code)
        body = qr.render(
            url,
            fmt=options["format"],
            ec=options["ec"],
            scale=options["scale"],
            size=options["size"],
        )
        out: Path = options["out"]
        try:
            out.write_bytes(body)
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}", returncode=2) from exc
        return {"code": link.code, "short_url": url, "file": str(out), "bytes": len(body)}

    def _print_run(self, options: dict[str, Any]) -> dict[str, Any]:
        console = Console(file=cast(IO[str], self.stderr), stderr=True)
        columns = (
            TextColumn("{task.description:<6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
            tasks = {
                stage: progress.add_task(stage, total=options["count"])
                for stage in ("units", "codes")
            }

            def report(stage: str, done: int, total: int) -> None:
                progress.update(tasks[stage], completed=done, total=total)

            run = print_run_create(
                actor=None,
                gtin=options["gtin"],
                lot=options["lot"],
                count=options["count"],
                first_serial=options["first_serial"],
                fmt=options["format"],
                out_dir=options["out"],
                ec=options["ec"],
                workers=options["workers"],
                progress=report,
            )
        return {
            "gtin": run.gtin,
            "lot": run.lot,
            "first_serial": run.first_serial,
            "last_serial": run.last_serial,
            "count": run.count,
            "pages": run.pages,
            # One PDF, or one SVG file per page: name the first and last, not thousands.
            "sheets": {
                "count": len(run.sheets),
                "first": str(run.sheets[0]),
                "last": str(run.sheets[-1]),
            },
            "csv": str(run.csv),
            "seconds": {stage: round(value, 2) for stage, value in run.seconds.items()},
        }
