"""Callback invitations: an iCalendar event (METHOD:REQUEST, or CANCEL when withdrawn) e-mailed
to the customer through Django's configured mailer."""

import logging
from datetime import UTC, datetime
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vCalAddress, vText

from pocketdesk.conversations.models import Callback
from pocketdesk.conversations.services.callback_offers import email_of, public_url
from pocketdesk.conversations.services.callback_slots import slot_label
from pocketdesk.core import clock

logger = logging.getLogger(__name__)

METHODS = frozenset({"REQUEST", "CANCEL"})


def callback_ical(callback: Callback, *, email: str, method: str, now: datetime) -> bytes:
    """The invitation as an iCalendar file: UID stable per callback, times in UTC, the support
    address as organizer and the customer as attendee."""
    customer = callback.customer
    site = settings.PD_SITE_NAME
    host = urlsplit(settings.PD_PUBLIC_URL).hostname or "localhost"
    organizer_name, organizer_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    with translation.override(customer.language):
        if callback.kind == Callback.Kind.CHAT:
            summary = _("Chat session with %(site)s") % {"site": site}
            description = _("Open the conversation in the app: %(url)s") % {
                "url": public_url(f"/app/conversations/{callback.conversation.public_id}/")
            }
        else:
            summary = _("Callback from %(site)s") % {"site": site}
            description = _("We will call you at this time.")
    calendar = Calendar()
    calendar.add("prodid", f"-//{site}//callbacks//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", f"{callback.public_id}@{host}")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", callback.starts_at.astimezone(UTC))
    event.add("dtend", callback.ends_at.astimezone(UTC))
    event.add("summary", summary)
    event.add("description", description)
    # A cancellation supersedes the request: same UID, higher sequence.
    event.add("sequence", 0 if method == "REQUEST" else 1)
    event.add("status", "CONFIRMED" if method == "REQUEST" else "CANCELLED")
    organizer = vCalAddress(f"mailto:{organizer_address or 'support@localhost'}")
    organizer.params["cn"] = vText(organizer_name or site)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{email}")
    attendee.params["cn"] = vText(customer.name or email)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("NEEDS-ACTION")
    attendee.params["rsvp"] = vText("FALSE")
    event.add("attendee", attendee)
    calendar.add_component(event)
    return calendar.to_ical()


def callback_invite_send(*, callback_id: int, method: str = "REQUEST") -> bool:
    """E-mail the customer the callback as an invitation (REQUEST) or withdraw it (CANCEL).
    Safe to run again: a request goes once while booked, a cancel only after a request."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    callback = (
        Callback.objects.select_related("customer", "conversation").filter(pk=callback_id).first()
    )
    if callback is None:
        return False
    if method == "REQUEST" and (
        callback.status != Callback.Status.BOOKED or callback.invite_sent_at is not None
    ):
        return False
    if method == "CANCEL" and callback.invite_sent_at is None:
        return False
    email = email_of(callback.customer)
    if email is None:
        return False
    now = clock.now()
    customer = callback.customer
    with translation.override(customer.language):
        when = slot_label(callback.starts_at, customer)
        values = {"site": settings.PD_SITE_NAME, "when": when, "zone": customer.time_zone}
        if method == "REQUEST":
            subject = _("Your appointment with %(site)s: %(when)s") % values
            body = (
                _("Your appointment is booked for %(when)s (%(zone)s). The invitation is attached.")
                % values
            )
        else:
            subject = _("Cancelled: your appointment with %(site)s") % values
            body = _("Your appointment on %(when)s (%(zone)s) is cancelled.") % values
    message = EmailMessage(subject=subject, body=body, from_email=None, to=[email])
    message.attach(
        "invite.ics" if method == "REQUEST" else "cancel.ics",
        callback_ical(callback, email=email, method=method, now=now),
        f"text/calendar; method={method}",
    )
    message.send()
    Callback.objects.filter(pk=callback.pk).update(
        invite_sent_at=now if method == "REQUEST" else None
    )
    logger.info("callback.invite.sent", extra={"callback": callback.public_id, "method": method})
    return True
