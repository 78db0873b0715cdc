"""Web chat: the customer's signed-in app (PWA) is the channel. Nothing external is called:
replies reach the app through the realtime push and the app's own fetches, so a "send" only
records the outbound row's public id as its provider id (idempotent by construction). The app
reports delivery and reading itself (conversations' web chat services → `outbound_mark`)."""

from collections.abc import Mapping

from django.db import transaction

from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.messaging.adapters import Parsed
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent, Outbound

ADDRESS = "web"


def channel_webchat() -> Channel:
    """The one web chat channel (created on first use: it has no address or secret to set)."""
    with transaction.atomic():
        channel, _ = Channel.objects.get_or_create(
            kind=ChannelKind.WEBCHAT,
            address=ADDRESS,
            defaults={"name": "Web chat", "created_at": clock.now()},
        )
    return channel


class WebchatAdapter:
    kind: str = ChannelKind.WEBCHAT.value

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        # No inbound webhook, so no secret to require; the app's session authenticates writes.
        if address.strip() not in {"", ADDRESS}:
            raise ValidationFailed(
                f"The web chat channel's address is {ADDRESS!r}.", field="address"
            )
        return ADDRESS, {}

    def parse(self, event: InboundEvent) -> list[Parsed]:
        return []  # customers write through the API, never through a stored webhook

    def send(self, channel: Channel, outbound: Outbound) -> str:
        return outbound.public_id

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        return outbound.public_id


ADAPTER = WebchatAdapter()
