"""The fake's command line: arguments, the foreground server loop, and ``main``."""

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from pocketdesk.messaging.fake_providers.meta import GRAPH_VERSION
from pocketdesk.messaging.fake_providers.server import FakeProviders

DESCRIPTION = (
    "Local fake Twilio and Meta Graph servers speaking the providers' wire formats (tests, demo)."
)


def _twilio_account_arg(value: str) -> tuple[str, str]:
    sid, sep, token = value.partition(":")
    if not sep or not sid.startswith("AC") or not token:
        raise argparse.ArgumentTypeError(f"expected ACCOUNT_SID:AUTH_TOKEN, got {value!r}")
    return sid, token


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument(
        "--twilio-account",
        dest="twilio_accounts",
        action="append",
        type=_twilio_account_arg,
        default=[],
        metavar="SID:TOKEN",
        help="a Twilio account the fake accepts (repeatable)",
    )
    parser.add_argument(
        "--meta-token",
        dest="meta_tokens",
        action="append",
        default=[],
        metavar="TOKEN",
        help="a Meta Graph access token the fake accepts (repeatable)",
    )
    parser.add_argument("--meta-app-secret", default=None, help="signs Meta webhooks")
    parser.add_argument("--meta-webhook-url", default=None, help="where Meta status webhooks go")
    parser.add_argument(
        "--status-delay",
        type=float,
        default=0.5,
        help="seconds between one status and the next (default 0.5)",
    )


def run_cli(options: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """Serve in the foreground, writing the request log, until SIGINT or SIGTERM."""
    fake = FakeProviders(
        options["port"],
        twilio_accounts=dict(options["twilio_accounts"]),
        meta_tokens=options["meta_tokens"],
        meta_app_secret=options["meta_app_secret"],
        meta_webhook_url=options["meta_webhook_url"],
        status_delay=options["status_delay"],
        on_event=write,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fake.start()
        accounts = ", ".join(fake.twilio_accounts) or "none: every Twilio request gets 401"
        webhooks = fake.meta_webhook_url or "none"
        write(f"fake-providers listening on {fake.base_url}")
        write(f"  Twilio API base {fake.base_url}  accounts: {accounts}")
        write(
            f"  Meta Graph base {fake.base_url}/{GRAPH_VERSION}  tokens: {len(fake.meta_tokens)}"
            f"  webhooks: {webhooks}"
        )
        write(f"  inspect: GET/DELETE {fake.base_url}/_fake/requests, GET /_fake/sent")
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    write(f"fake-providers stopped after {len(fake.received)} requests")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fake-providers", description=DESCRIPTION)
    add_cli_arguments(parser)
    options = vars(parser.parse_args(argv))

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    run_cli(options, write)
