"""Admin API for channels: list, add (credentials checked by the channel's adapter), rename,
switch on/off. Secrets are write-only."""

from django.http import HttpRequest
from ninja import Router, Status

from pocketdesk.accounts.auth import admin_auth
from pocketdesk.messaging import selectors, services
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.schemas import ChannelIn, ChannelOut, ChannelPatch

router = Router(tags=["channels"], auth=admin_auth)


@router.get("", response=list[ChannelOut])
def channel_list(request: HttpRequest) -> list[Channel]:
    return selectors.channel_list(actor=request.auth)  # type: ignore[attr-defined]


@router.post("", response={201: ChannelOut})
def channel_create(request: HttpRequest, payload: ChannelIn) -> Status[Channel]:
    channel = services.channel_create(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, channel)


@router.patch("/{channel_id}", response=ChannelOut)
def channel_update(request: HttpRequest, channel_id: str, payload: ChannelPatch) -> Channel:
    actor = request.auth  # type: ignore[attr-defined]
    channel = selectors.channel_get(actor=actor, public_id=channel_id)
    return services.channel_update(actor=actor, channel=channel, **payload.dict(exclude_unset=True))
