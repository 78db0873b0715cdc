"""`pocketdesk channels add twilio-sms …` and `pocketdesk channels list`, for scripts."""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pocketdesk.core.errors import DomainError
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.services import channel_create


class Command(BaseCommand):
    help = "Configure messaging channels."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help="add a channel")
        kinds = add.add_subparsers(dest="kind", required=True, metavar="KIND")
        sms = kinds.add_parser("twilio-sms", help="an SMS number on Twilio")
        sms.add_argument("--name", required=True)
        sms.add_argument("--number", required=True, help="E.164, e.g. +14155550100")
        sms.add_argument("--account-sid", required=True)
        sms.add_argument("--auth-token", required=True)
        sms.add_argument("--api-base", default="https://api.twilio.com")
        actions.add_parser("list", help="list channels as JSON lines (no secrets)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for channel in Channel.objects.order_by("created_at"):
                self.stdout.write(
                    json.dumps(
                        {
                            "id": channel.public_id,
                            "kind": channel.kind,
                            "name": channel.name,
                            "address": channel.address,
                            "api_base": channel.api_base,
                            "active": channel.is_active,
                        }
                    )
                )
            return
        try:
            channel = channel_create(
                actor=None,
                kind="twilio_sms",
                name=options["name"],
                address=options["number"],
                credentials={
                    "account_sid": options["account_sid"],
                    "auth_token": options["auth_token"],
                },
                api_base=options["api_base"],
            )
        except DomainError as error:
            self.stderr.write(f"{error.code}: {error.detail}")
            sys.exit(2)
        self.stdout.write(json.dumps({"id": channel.public_id, "address": channel.address}))
