"""Modality switch: a single-use, expiring link sent in the conversation's current channel (an
SMS, say) that signs the customer in to the app and opens the same thread in web chat. The
token is 256 random bits; only its SHA-256 is stored, and the thread shows the link redacted, so
nobody reading the conversation can use it."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from pocketdesk.accounts.models import Role, User
from pocketdesk.accounts.services import user_create
from pocketdesk.conversations.models import Conversation, Message, SwitchLink
from pocketdesk.conversations.services.callback_offers import (
    conversation_lock,
    public_url,
    require_staff,
    token_hash,
)
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import timeline_record
from pocketdesk.messaging.models import ChannelKind

SWITCH_TTL = timedelta(hours=1)
MIN_TTL = timedelta(minutes=5)
MAX_TTL = timedelta(days=7)
REDACTED = "/app/switch/…"
# Logins made for customers who had none: an address that can never receive mail.
LOGIN_DOMAIN = "customers.invalid"


def _link_text(customer: Customer, url: str, ttl: timedelta) -> str:
    minutes = int(ttl.total_seconds() // 60)
    with translation.override(customer.language):
        return _(
            "%(site)s: continue this conversation in our app, with your messages, pictures and "
            "links. This secure link signs you in, works once and for %(minutes)s minutes: %(url)s"
        ) % {"site": settings.PD_SITE_NAME, "minutes": minutes, "url": url}


def switch_link_create(
    *, actor: User | None, conversation: Conversation, ttl: timedelta = SWITCH_TTL
) -> SwitchLink:
    """Send the customer a link to this thread in web chat, in the conversation's current
    channel. `actor` None is the automated agent."""
    require_staff(actor)
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise ValidationFailed(
            "A link lives 5 minutes to 7 days.", field="ttl_minutes", code="bad_ttl"
        )
    now = clock.now()
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        channel = conversation.last_channel
        if channel is not None and channel.kind == ChannelKind.WEBCHAT:
            raise ValidationFailed(
                "The customer is already in web chat.", code="already_in_web_chat"
            )
        token = secrets.token_urlsafe(32)
        link = SwitchLink.objects.create(
            conversation=conversation,
            customer=conversation.customer,
            token_hash=token_hash(token),
            created_by=actor,
            created_at=now,
            expires_at=now + ttl,
        )
        url = public_url(f"/app/switch/{token}/")
        message = message_send(
            actor=actor,
            conversation=conversation,
            text=_link_text(conversation.customer, url, ttl),
        )
        # The outbox keeps the text that was sent; the thread, which agents read, does not.
        message.text = message.text.replace(url, public_url(REDACTED))
        Message.objects.filter(pk=message.pk).update(text=message.text)
        link.message = message
        link.save(update_fields=["message"])
        timeline_record(
            customer=conversation.customer,
            kind="switch_link.sent",
            summary="Link to continue in the app sent",
            source="conversations",
            actor=actor,
            data={"conversation": conversation.public_id, "link": link.public_id},
        )
        audit_record(
            actor=actor,
            action="switch_link.created",
            target=conversation,
            data={"link": link.public_id, "expires_at": link.expires_at.isoformat()},
        )
    return link


def switch_link_get(token: str) -> SwitchLink:
    """The link a token names, if it can still be used: NotFound (forged), Conflict
    `link_used` or `link_expired`. Reads only."""
    link = (
        SwitchLink.objects.select_related("customer__user", "conversation")
        .filter(token_hash=token_hash(token))
        .first()
        if token
        else None
    )
    if link is None:
        raise NotFound("This link is not valid.", code="link_invalid")
    if link.used_at is not None:
        raise Conflict("This link has been used already.", code="link_used")
    if link.expires_at <= clock.now():
        raise Conflict("This link has expired.", code="link_expired")
    return link


def _login_for(customer: Customer) -> User:
    """A login for a customer who has none: their verified e-mail address when no account
    uses it, else an address that cannot receive mail; no password (links sign them in)."""
    point = (
        customer.contact_points.filter(kind=ContactKind.EMAIL, verified_at__isnull=False)
        .order_by("pk")
        .first()
    )
    fallback = f"{customer.public_id}@{LOGIN_DOMAIN}"
    email = point.value if point is not None else fallback
    if User.objects.filter(email=email).exists():
        email = fallback
    return user_create(email=email, password=None, role=Role.CUSTOMER, name=customer.name)


def switch_link_use(*, token: str, signed_in: User | None) -> tuple[SwitchLink, User]:
    """Use the link once: the customer's login (made if they had none) and the thread to
    open. Signed in as someone else: PermissionDenied, and the link stays unused."""
    now = clock.now()
    with transaction.atomic():
        link = switch_link_get(token)
        link = SwitchLink.objects.select_for_update().get(pk=link.pk)
        if link.used_at is not None:  # used meanwhile
            raise Conflict("This link has been used already.", code="link_used")
        customer = (
            Customer.objects.select_for_update(of=("self",))
            .select_related("user")
            .get(pk=link.customer_id)
        )
        if signed_in is not None and signed_in.pk != customer.user_id:
            raise PermissionDenied(
                "You are signed in as someone else: sign out, then open the link again.",
                code="signed_in_as_someone_else",
            )
        user = customer.user
        if user is None:
            user = _login_for(customer)
            customer.user = user
            customer.save(update_fields=["user"])
        if not user.is_active or user.role != Role.CUSTOMER:
            raise PermissionDenied("This account cannot sign in here.", code="login_disabled")
        link.used_at = now
        link.save(update_fields=["used_at"])
        timeline_record(
            customer=customer,
            kind="switch_link.used",
            summary="Continued in the app from a link",
            source="conversations",
            data={"conversation": link.conversation.public_id, "link": link.public_id},
        )
    return link, user
