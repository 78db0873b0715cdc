"""`pocketdesk channels add twilio-sms …`, `pocketdesk channels add meta …`, `pocketdesk
channels add email …` and `pocketdesk channels list`, for scripts."""

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
        meta = kinds.add_parser("meta", help="WhatsApp, Messenger or Instagram on Meta")
        meta.add_argument("--name", required=True)
        meta.add_argument(
            "--kind",
            dest="meta_kind",
            required=True,
            choices=["whatsapp", "messenger", "instagram"],
        )
        meta.add_argument(
            "--address", required=True, help="WhatsApp phone_number_id, or the Page / IG id"
        )
        meta.add_argument("--app-secret", required=True)
        meta.add_argument("--verify-token", required=True)
        meta.add_argument("--access-token", required=True)
        meta.add_argument("--api-base", default="https://graph.facebook.com")
        email = kinds.add_parser("email", help="a support mailbox (inbound by signed webhook)")
        email.add_argument("--name", required=True)
        email.add_argument("--address", required=True, help="the mailbox, e.g. support@example.com")
        email.add_argument("--inbound-secret", required=True, help="HMAC key of the mail hook")
        email.add_argument("--smtp-url", default="", help="smtp[s]://user:pass@host:port")
        email.set_defaults(api_base="")
        social = kinds.add_parser(
            "social", help="X mentions (webhook: /webhooks/social?channel=<id>)"
        )
        social.add_argument("--name", required=True)
        social.add_argument("--handle", required=True, help="the account, e.g. @acme")
        social.add_argument("--consumer-secret", required=True, help="verifies the webhooks")
        social.add_argument("--bearer-token", required=True, help="user token with tweet.write")
        social.add_argument("--api-base", default="https://api.x.com")
        apprise = kinds.add_parser("apprise", help="any service Apprise reaches, by URL")
        apprise.add_argument("--name", required=True)
        apprise.add_argument("--url", required=True, help="an Apprise URL (kept secret)")
        apprise.set_defaults(api_base="")
        webpush = kinds.add_parser("webpush", help="web push (keys: PD_VAPID_* settings)")
        webpush.add_argument("--name", required=True)
        webpush.set_defaults(api_base="")
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
        if options["kind"] == "meta":
            kind, address = options["meta_kind"], options["address"]
            credentials = {
                "app_secret": options["app_secret"],
                "verify_token": options["verify_token"],
                "access_token": options["access_token"],
            }
        elif options["kind"] == "email":
            kind, address = "email", options["address"]
            credentials = {
                "inbound_secret": options["inbound_secret"],
                "smtp_url": options["smtp_url"],
            }
        elif options["kind"] == "social":
            kind, address = "social", options["handle"]
            credentials = {
                "consumer_secret": options["consumer_secret"],
                "bearer_token": options["bearer_token"],
            }
        elif options["kind"] == "webpush":
            kind, address, credentials = "webpush", "", {}
        elif options["kind"] == "apprise":
            kind, address, credentials = "apprise", "", {"url": options["url"]}
        else:
            kind, address = "twilio_sms", options["number"]
            credentials = {
                "account_sid": options["account_sid"],
                "auth_token": options["auth_token"],
            }
        try:
            channel = channel_create(
                actor=None,
                kind=kind,
                name=options["name"],
                address=address,
                credentials=credentials,
                api_base=options["api_base"],
            )
        except DomainError as error:
            self.stderr.write(f"{error.code}: {error.detail}")
            sys.exit(2)
        self.stdout.write(json.dumps({"id": channel.public_id, "address": channel.address}))
