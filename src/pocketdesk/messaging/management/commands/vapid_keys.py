"""`pocketdesk vapid-keys`: a fresh VAPID key pair for web push, as environment lines."""

from typing import Any

from django.core.management.base import BaseCommand

from pocketdesk.messaging.vapid import vapid_keys_generate


class Command(BaseCommand):
    help = (
        "Print a new VAPID key pair for web push as PD_VAPID_PRIVATE_KEY=… and "
        "PD_VAPID_PUBLIC_KEY=… lines to paste into the server's environment. Changing the pair "
        "later ends every existing browser subscription."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        keys = vapid_keys_generate()
        self.stdout.write(f"PD_VAPID_PRIVATE_KEY={keys.private_key}")
        self.stdout.write(f"PD_VAPID_PUBLIC_KEY={keys.public_key}")
