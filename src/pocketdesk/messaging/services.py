"""Messaging writes: channels, and inbound events (stored raw first, processed by a task)."""

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Purpose
from pocketdesk.customers.services import consent_set, customer_for_contact, phone_normalize
from pocketdesk.messaging import twilio_sms
from pocketdesk.messaging.inbound import InboundMessage, inbound_handlers
from pocketdesk.messaging.models import Channel, ChannelKind, InboundEvent


def channel_create(
    *,
    actor: User | None,
    kind: str,
    name: str,
    address: str,
    credentials: Mapping[str, str],
    api_base: str = "",
) -> Channel:
    """Configure a provider account. `actor` None is the local CLI."""
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins configure channels.")
    if kind != ChannelKind.TWILIO_SMS:
        raise ValidationFailed(f"Unknown channel kind {kind!r}.", field="kind")
    number = phone_normalize(address)
    if not str(credentials.get("account_sid", "")).startswith("AC"):
        raise ValidationFailed("A Twilio account SID starts with AC.", field="account_sid")
    if not credentials.get("auth_token"):
        raise ValidationFailed("The auth token is required to verify webhooks.", field="auth_token")
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                kind=kind,
                name=name[:100],
                address=number,
                api_base=api_base,
                credentials=dict(credentials),
                created_at=clock.now(),
            )
            audit_record(actor=actor, action="channel.created", target=channel)
    except IntegrityError as exc:
        raise Conflict(f"A channel for {number} exists.", code="channel_exists") from exc
    return channel


def inbound_event_store(
    *, channel: Channel, kind: str, provider_event_id: str | None, payload: Mapping[str, Any]
) -> tuple[InboundEvent, bool]:
    """Keep the webhook as received; a replay of the same provider id is stored once.
    Returns the event and whether it is new (the caller then enqueues its processing)."""
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                channel=channel,
                kind=kind,
                provider_event_id=provider_event_id or None,
                payload=dict(payload),
                received_at=clock.now(),
            )
            return event, True
    except IntegrityError:
        existing = InboundEvent.objects.get(
            channel=channel, kind=kind, provider_event_id=provider_event_id
        )
        return existing, False


def inbound_event_process(*, event_id: int) -> InboundEvent:
    """Turn a stored event into an inbound message for the handlers. Runs once per event."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().select_related("channel").get(pk=event_id)
        if event.state != InboundEvent.State.PENDING:
            return event
        parsed = twilio_sms.parse(event.payload)
        try:
            customer, point = customer_for_contact(kind=ContactKind.PHONE, value=parsed.sender)
        except ValidationFailed as error:
            # Kept, not retried: the same payload would fail the same way.
            event.state, event.error, event.processed_at = (
                InboundEvent.State.FAILED,
                error.detail,
                clock.now(),
            )
            event.save(update_fields=["state", "error", "processed_at"])
            return event
        word = twilio_sms.keyword(parsed.text)
        if word in {"stop", "start"}:
            for purpose in Purpose.values:
                if word == "start" and purpose == Purpose.MARKETING:
                    continue  # re-subscribing to service texts is not consent to marketing
                consent_set(
                    actor=None,
                    customer=customer,
                    purpose=purpose,
                    granted=word == "start",
                    source="sms_keyword",
                )
        message = InboundMessage(
            channel_id=event.channel_id,
            customer_id=customer.pk,
            contact_point_id=point.pk,
            text=parsed.text,
            provider_id=parsed.message_sid,
            received_at=event.received_at,
            media=parsed.media,
        )
        for handler in inbound_handlers():
            handler(message)
        event.state = InboundEvent.State.PROCESSED
        event.processed_at = clock.now()
        event.save(update_fields=["state", "processed_at"])
    return event
