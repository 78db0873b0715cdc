"""Messaging reads."""

from pocketdesk.messaging.models import Channel


def channel_for_address(*, kind: str, address: str) -> Channel | None:
    """The active channel of a kind that owns an address (a webhook's target)."""
    return Channel.objects.filter(kind=kind, address=address, is_active=True).first()
