"""Conversation writes. An inbound message joins the customer's open thread, or starts one."""

from django.db import transaction
from django.db.models import F

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.core.realtime import realtime_push
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import timeline_record
from pocketdesk.messaging.inbound import InboundMessage

PREVIEW = 80


def message_receive(inbound: InboundMessage) -> Message:
    """Add an inbound message to its thread. A replayed provider id adds nothing."""
    with transaction.atomic():
        existing = Message.objects.filter(
            channel_id=inbound.channel_id, provider_id=inbound.provider_id
        ).first()
        if existing is not None:
            return existing
        customer = Customer.objects.select_for_update().get(pk=inbound.customer_id)
        conversation = (
            Conversation.objects.filter(customer=customer)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("-last_message_at")
            .first()
        )
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
            text=inbound.text,
            media=inbound.media,
            provider_id=inbound.provider_id or None,
            created_at=inbound.received_at,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=inbound.received_at,
            last_channel_id=inbound.channel_id,
            last_contact_point_id=inbound.contact_point_id,
            unread_count=F("unread_count") + 1,
            status=Conversation.Status.OPEN,
        )
        timeline_record(
            customer=customer,
            kind="message.received",
            summary=f"Message: {inbound.text[:PREVIEW]}",
            source="conversations",
            data={"conversation": conversation.public_id, "message": message.public_id},
            at=inbound.received_at,
        )
        if conversation.assignee is not None:
            realtime_push(
                user_public_id=conversation.assignee.public_id,
                event="message.received",
                data={"conversation": conversation.public_id, "message": message.public_id},
            )
    return message
