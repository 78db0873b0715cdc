"""Messages in a thread: an inbound message joins the customer's thread (the one it answers, else
the open one, else a new one); a reply goes into the outbox of the channel the customer last
used, unless the agent picks another; delivery receipts reach the agents' screens."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.core import clock
from pocketdesk.core.errors import PermissionDenied, ValidationFailed
from pocketdesk.core.realtime import (
    STAFF_GROUP,
    Push,
    realtime_push_many,
    realtime_push_staff,
    user_group,
)
from pocketdesk.core.tasks import enqueue_on_commit
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Consent, ContactPoint, Customer, Purpose
from pocketdesk.customers.services import TimelineItem, timeline_record, timeline_record_many
from pocketdesk.messaging.handlers import InboundMessage, OutboundStatusChange
from pocketdesk.messaging.models import Channel, ChannelKind, Outbound
from pocketdesk.messaging.services import outbound_queue
from pocketdesk.messaging.tasks import outbound_send

PREVIEW = 80
MAX_TEXT = 10_000
# The contact point kind each channel kind sends to. Web chat needs none: it reaches the
# customer's signed-in app.
CONTACT_KIND = {
    ChannelKind.TWILIO_SMS: ContactKind.PHONE,
    ChannelKind.WHATSAPP: ContactKind.WHATSAPP,
    ChannelKind.MESSENGER: ContactKind.MESSENGER,
    ChannelKind.INSTAGRAM: ContactKind.INSTAGRAM,
    ChannelKind.EMAIL: ContactKind.EMAIL,
    ChannelKind.WEBPUSH: ContactKind.WEBPUSH,
    ChannelKind.SOCIAL: ContactKind.SOCIAL,
}
# Channels on which a STOP (withdrawn transactional consent) forbids any further message.
OPT_OUT_CHANNELS = frozenset({ChannelKind.TWILIO_SMS, ChannelKind.WHATSAPP})


def message_event(message: Message) -> dict[str, Any]:
    """What a websocket client needs to show a new message or fetch it."""
    return {
        "conversation": message.conversation.public_id,
        "message": message.public_id,
        "direction": message.direction,
        "kind": message.kind,
        "preview": message.text[:PREVIEW],
        "at": message.created_at.isoformat(),
    }


def _pushes(message: Message, customer: Customer) -> list[Push]:
    """A new message's live events: to every agent, and to the customer's app (not notes)."""
    event = message_event(message)
    pushes: list[Push] = [(STAFF_GROUP, "message.created", event)]
    if message.direction != Message.Direction.NOTE and customer.user is not None:
        pushes.append((user_group(customer.user.public_id), "message.created", event))
    return pushes


def _announce(message: Message, customer: Customer) -> None:
    realtime_push_many(_pushes(message, customer))


def _thread_for(customer: Customer, references: Sequence[str]) -> Conversation | None:
    """The thread an inbound message belongs to: the one holding a message it answers (e-mail
    References), else the customer's most recent unresolved one."""
    if references:
        answered = (
            Message.objects.filter(conversation__customer=customer)
            .filter(Q(provider_id__in=references) | Q(outbound__provider_id__in=references))
            .select_related("conversation")
            .order_by("-created_at")
            .first()
        )
        if answered is not None:
            return answered.conversation
    return (
        Conversation.objects.filter(customer=customer)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at")
        .first()
    )


def message_receive(inbound: InboundMessage) -> Message:
    """Add an inbound message to its thread. A replayed provider id adds nothing."""
    with transaction.atomic():
        existing = Message.objects.filter(
            channel_id=inbound.channel_id, provider_id=inbound.provider_id
        ).first()
        if existing is not None:
            return existing
        customer = (
            Customer.objects.select_for_update(of=("self",))
            .select_related("user")
            .get(pk=inbound.customer_id)
        )
        conversation = _thread_for(customer, inbound.references)
        if conversation is None:
            conversation = Conversation.objects.create(
                customer=customer,
                last_message_at=inbound.received_at,
                created_at=inbound.received_at,
            )
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            channel_id=inbound.channel_id,
            contact_point_id=inbound.contact_point_id,
            kind=inbound.kind,
            text=inbound.text[:MAX_TEXT],
            media=inbound.media,
            data=inbound.data,
            subject=inbound.subject[:300],
            provider_id=inbound.provider_id or None,
            created_at=inbound.received_at,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=inbound.received_at,
            last_channel_id=inbound.channel_id,
            last_contact_point_id=inbound.contact_point_id,
            unread_count=F("unread_count") + 1,
            status=Conversation.Status.OPEN,
            health_stale=True,
        )
        timeline_record(
            customer=customer,
            kind="message.received",
            summary=f"Message: {inbound.text[:PREVIEW]}",
            source="conversations",
            data={"conversation": conversation.public_id, "message": message.public_id},
            at=inbound.received_at,
        )
        _announce(message, customer)
    return message


def messages_receive(batch: Sequence[InboundMessage]) -> list[Message]:
    """Add a batch of inbound messages to their threads in a few queries (the handler the
    messaging layer calls). Messages that answer a known message (e-mail References) take the
    one-by-one path; replayed provider ids add nothing."""
    threaded = [inbound for inbound in batch if inbound.references]
    added = [message_receive(inbound) for inbound in threaded]
    plain = [inbound for inbound in batch if not inbound.references]
    if not plain:
        return added
    with transaction.atomic():
        seen = set(
            Message.objects.filter(
                channel_id__in={inbound.channel_id for inbound in plain},
                provider_id__in=[inbound.provider_id for inbound in plain if inbound.provider_id],
            ).values_list("channel_id", "provider_id")
        )
        fresh: list[InboundMessage] = []
        for inbound in plain:
            key = (inbound.channel_id, inbound.provider_id)
            if inbound.provider_id and key in seen:
                continue
            seen.add(key)
            fresh.append(inbound)
        if not fresh:
            return added
        customer_ids = sorted({inbound.customer_id for inbound in fresh})
        # Lock the customers (in pk order) so two batches never open two threads for one.
        customers = {
            customer.pk: customer
            for customer in Customer.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk__in=customer_ids)
            .order_by("pk")
        }
        threads: dict[int, Conversation] = {}
        open_threads = (
            Conversation.objects.select_for_update()
            .filter(customer_id__in=customer_ids)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("customer_id", "-last_message_at")
        )
        for conversation in open_threads:
            threads.setdefault(conversation.customer_id, conversation)
        new_threads = [
            Conversation(
                customer_id=customer_id,
                last_message_at=min(i.received_at for i in fresh if i.customer_id == customer_id),
                created_at=min(i.received_at for i in fresh if i.customer_id == customer_id),
            )
            for customer_id in customer_ids
            if customer_id not in threads
        ]
        for conversation in Conversation.objects.bulk_create(new_threads):
            threads[conversation.customer_id] = conversation
        messages = Message.objects.bulk_create(
            [
                Message(
                    conversation=threads[inbound.customer_id],
                    direction=Message.Direction.INBOUND,
                    channel_id=inbound.channel_id,
                    contact_point_id=inbound.contact_point_id,
                    kind=inbound.kind,
                    text=inbound.text[:MAX_TEXT],
                    media=inbound.media,
                    data=inbound.data,
                    subject=inbound.subject[:300],
                    provider_id=inbound.provider_id or None,
                    created_at=inbound.received_at,
                )
                for inbound in fresh
            ]
        )
        # One statement run for every thread (bulk_update's CASE expressions cost more than
        # the rows here); the unread count adds to what is stored.
        changes: dict[int, list[Any]] = {}
        for inbound in fresh:
            conversation = threads[inbound.customer_id]
            change = changes.setdefault(
                conversation.pk,
                [0, conversation.last_message_at, conversation.last_channel_id,
                 conversation.last_contact_point_id],
            )  # fmt: skip
            change[0] += 1
            if inbound.received_at >= change[1]:
                change[1:] = [inbound.received_at, inbound.channel_id, inbound.contact_point_id]
        _threads_touch(changes)
        timeline_record_many(
            [
                TimelineItem(
                    customer_id=inbound.customer_id,
                    kind="message.received",
                    summary=f"Message: {inbound.text[:PREVIEW]}",
                    source="conversations",
                    at=inbound.received_at,
                    data={
                        "conversation": threads[inbound.customer_id].public_id,
                        "message": message.public_id,
                    },
                )
                for inbound, message in zip(fresh, messages, strict=True)
            ]
        )
        realtime_push_many(
            [
                push
                for message in messages
                for push in _pushes(message, customers[message.conversation.customer_id])
            ]
        )
    return added + messages


def _threads_touch(changes: Mapping[int, Sequence[Any]]) -> None:
    """Per thread: n more unread, the latest message's time/channel/contact point, open."""
    table = connection.ops.quote_name(Conversation._meta.db_table)
    opened = Conversation.Status.OPEN
    at_field = Conversation._meta.get_field("last_message_at")
    rows = [
        (n, at_field.get_db_prep_value(at, connection), channel, point, opened, True, pk)
        for pk, (n, at, channel, point) in sorted(changes.items())
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET unread_count = unread_count + %s, last_message_at = %s, "  # noqa: S608 - names from the model
            "last_channel_id = %s, last_contact_point_id = %s, status = %s, health_stale = %s "
            "WHERE id = %s",
            rows,
        )


def _opted_out(customer: Customer) -> bool:
    return Consent.objects.filter(
        customer=customer, purpose=Purpose.TRANSACTIONAL, granted=False
    ).exists()


def reply_destination(
    conversation: Conversation, channel: Channel | None, contact_point: ContactPoint | None = None
) -> tuple[Channel, ContactPoint | None, str]:
    """The channel, contact point and provider address a reply goes to (the channel picked,
    else the one the customer last wrote on), or ValidationFailed saying why a reply may not
    go there. Writes nothing: the console asks it before sending."""
    customer = conversation.customer
    if channel is None:
        channel = conversation.last_channel
        if contact_point is None and channel is not None:
            contact_point = conversation.last_contact_point
    if channel is None:
        raise ValidationFailed(
            "This conversation has no channel yet: pick one.", code="channel_required"
        )
    if not channel.is_active:
        raise ValidationFailed("This channel is switched off.", code="channel_inactive")
    if channel.kind == ChannelKind.WEBCHAT:
        if customer.user_id is None:
            raise ValidationFailed(
                "This customer has no app login to chat with.", code="no_contact_point"
            )
        return channel, None, customer.public_id
    kind = CONTACT_KIND.get(ChannelKind(channel.kind))
    if contact_point is not None and contact_point.kind != kind:
        contact_point = None
    if contact_point is None:
        contact_point = (
            customer.contact_points.filter(kind=kind)
            .order_by(F("verified_at").desc(nulls_last=True), "pk")
            .first()
        )
    if contact_point is None or contact_point.customer_id != customer.pk:
        raise ValidationFailed(
            f"The customer has no {kind} contact for this channel.", code="no_contact_point"
        )
    if channel.kind in OPT_OUT_CHANNELS and _opted_out(customer):
        raise ValidationFailed(
            "The customer replied STOP on this channel: nothing more may be sent there.",
            code="customer_opted_out",
        )
    return channel, contact_point, contact_point.value


def _email_threading(conversation: Conversation) -> dict[str, Any]:
    """Subject and In-Reply-To/References so the customer's mail client threads the reply."""
    ids: list[str] = []
    subject = ""
    rows = (
        Message.objects.filter(conversation=conversation, channel__kind=ChannelKind.EMAIL)
        .select_related("outbound")
        .order_by("created_at")
    )
    for row in rows:
        message_id = row.provider_id or (row.outbound.provider_id if row.outbound else None)
        if message_id:
            ids.append(message_id)
        subject = subject or row.subject
    extra: dict[str, Any] = {"subject": subject}
    if ids:
        extra["in_reply_to"] = ids[-1]
        extra["references"] = ids[-20:]
    return extra


def message_send(
    *,
    actor: User | None,
    conversation: Conversation,
    text: str,
    media: Sequence[Mapping[str, Any]] = (),
    channel: Channel | None = None,
    contact_point: ContactPoint | None = None,
) -> Message:
    """An agent's (or, with `actor` None, the automated agent's) reply: one message in the
    thread and one row in the channel's outbox, in one transaction; sent after commit."""
    if actor is not None and not actor.is_support_staff:
        raise PermissionDenied("Only agents reply to conversations.")
    text = text.strip()
    if not text and not media:
        raise ValidationFailed("Write a message or attach a file.", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"A message has at most {MAX_TEXT} characters.", field="text")
    now = clock.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer__user", "last_channel", "last_contact_point")
            .get(pk=conversation.pk)
        )
        channel, point, recipient = reply_destination(conversation, channel, contact_point)
        extra = _email_threading(conversation) if channel.kind == ChannelKind.EMAIL else {}
        outbound = outbound_queue(
            channel=channel,
            recipient=recipient,
            text=text,
            media=media,
            extra=extra,
            contact_point=point,
        )
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            channel=channel,
            contact_point=point,
            author=actor,
            text=text,
            media=[dict(item) for item in media],
            subject=str(extra.get("subject", ""))[:300],
            outbound=outbound,
            created_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=now, unread_count=0, health_stale=True
        )
        timeline_record(
            customer=conversation.customer,
            kind="message.sent",
            summary=f"Reply ({channel.get_kind_display()}): {text[:PREVIEW]}",
            source="conversations",
            actor=actor,
            data={"conversation": conversation.public_id, "message": message.public_id},
            at=now,
        )
        _announce(message, conversation.customer)
        enqueue_on_commit(outbound_send, outbound.pk)
    return message


def message_status_changed(change: OutboundStatusChange) -> None:
    """A receipt for a reply: tell the agents' screens (and the customer's app, for read
    state). Runs inside messaging's transaction; the push goes after commit."""
    message = (
        Message.objects.select_related("conversation__customer__user")
        .filter(outbound_id=change.outbound_id)
        .first()
    )
    if message is None:
        return
    Conversation.objects.filter(pk=message.conversation_id).update(health_stale=True)
    data = {
        "conversation": message.conversation.public_id,
        "message": message.public_id,
        "status": change.status,
        "error_code": change.error_code,
    }
    realtime_push_staff(event="message.status", data=data)
    if change.status in {Outbound.Status.UNDELIVERED, Outbound.Status.FAILED}:
        timeline_record(
            customer=message.conversation.customer,
            kind="message.failed",
            summary=f"Reply not delivered ({change.error_code or change.status})",
            source="conversations",
            data=data,
        )


def messages_status_changed(changes: Sequence[OutboundStatusChange]) -> None:
    """Receipts of a batch send: one query finds which are for replies (most are for
    notifications), then each of those as `message_status_changed`."""
    ids = set(
        Message.objects.filter(outbound_id__in=[c.outbound_id for c in changes]).values_list(
            "outbound_id", flat=True
        )
    )
    for change in changes:
        if change.outbound_id in ids:
            message_status_changed(change)
