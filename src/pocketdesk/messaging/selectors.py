"""Messaging reads."""

from pocketdesk.accounts.models import Role, User
from pocketdesk.core.errors import NotFound, PermissionDenied
from pocketdesk.messaging.models import Channel


def channel_for_address(*, kind: str, address: str) -> Channel | None:
    """The active channel of a kind that owns an address (a webhook's target)."""
    return Channel.objects.filter(kind=kind, address=address, is_active=True).first()


def _admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins see channels.")


def channel_list(*, actor: User) -> list[Channel]:
    _admin(actor)
    return list(Channel.objects.order_by("kind", "name"))


def channel_get(*, actor: User, public_id: str) -> Channel:
    _admin(actor)
    channel = Channel.objects.filter(public_id=public_id).first()
    if channel is None:
        raise NotFound("No such channel.")
    return channel
