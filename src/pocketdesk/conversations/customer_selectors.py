"""Conversation reads for the customer's app: their own threads only, never internal notes."""

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.core.errors import NotFound
from pocketdesk.customers.selectors import customer_of_user

# A thread page shows the latest messages; older ones are not needed on a phone.
THREAD_LIMIT = 200
VISIBLE = (Message.Direction.INBOUND, Message.Direction.OUTBOUND)


def _visible_messages() -> QuerySet[Message]:
    return Message.objects.filter(direction__in=VISIBLE)


def customer_conversation_list(*, actor: User) -> QuerySet[Conversation]:
    """The customer's threads, most recent first, each with `unread_replies` (support's
    messages after the customer last read it) and `preview` (the last visible message)."""
    customer = customer_of_user(actor=actor)
    unread = Q(messages__direction=Message.Direction.OUTBOUND) & (
        Q(customer_read_at__isnull=True) | Q(messages__created_at__gt=F("customer_read_at"))
    )
    last = _visible_messages().filter(conversation=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        Conversation.objects.filter(customer=customer)
        .annotate(
            unread_replies=Count("messages", filter=unread),
            preview=Subquery(last.values("text")[:1]),
        )
        .order_by("-last_message_at", "-pk")
    )


def customer_conversation_get(*, actor: User, public_id: str) -> Conversation:
    conversation = customer_conversation_list(actor=actor).filter(public_id=public_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def customer_message_list(
    *, actor: User, conversation: Conversation, after: str | None = None
) -> list[Message]:
    """The thread's messages the customer may see, oldest first: the latest THREAD_LIMIT, or
    those after the message `after` (what a reconnecting app missed)."""
    messages = _visible_messages().filter(
        conversation=conversation, conversation__customer__user=actor
    )
    if after:
        anchor = messages.filter(public_id=after).values("created_at", "pk").first()
        if anchor is None:
            raise NotFound("No such message in this conversation.", code="message_not_found")
        messages = messages.filter(
            Q(created_at__gt=anchor["created_at"])
            | Q(created_at=anchor["created_at"], pk__gt=anchor["pk"])
        )
    latest = list(
        messages.select_related("conversation").order_by("-created_at", "-pk")[:THREAD_LIMIT]
    )
    latest.reverse()
    return latest


@dataclass(frozen=True)
class TypingAudience:
    """Who hears that someone types in a conversation."""

    conversation: str
    customer_user: str | None
    customer_name: str


def conversation_typing_audience(*, actor: User, public_id: str) -> TypingAudience | None:
    """For a typing relay: the conversation when `actor` may see it (its customer, or support
    staff), else None."""
    rows = Conversation.objects.filter(public_id=public_id)
    if not actor.is_support_staff:
        rows = rows.filter(customer__user=actor)
    row = rows.values("public_id", "customer__user__public_id", "customer__name").first()
    if row is None:
        return None
    return TypingAudience(
        conversation=row["public_id"],
        customer_user=row["customer__user__public_id"],
        customer_name=row["customer__name"],
    )
