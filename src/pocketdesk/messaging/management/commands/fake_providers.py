"""`pocketdesk fake-providers`: the loopback Twilio + Meta Graph fake, in the foreground."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pocketdesk.messaging.fake_providers import add_cli_arguments, run_cli


class Command(BaseCommand):
    help = (
        "Serve fake Twilio Messages and Meta Graph send APIs on 127.0.0.1, log what they "
        "receive, and post signed status webhooks; Ctrl-C or SIGTERM stops."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_cli_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        run_cli(options, write)
