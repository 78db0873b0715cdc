"""Pages customers open from a link in a message, signed in or not: continue the conversation
in the app (a modality switch), and pick a callback slot. Opening a page changes nothing; its
button does (link previews and scanners fetch links too)."""

from typing import Any

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Callback, CallbackOffer
from pocketdesk.conversations.services import callback_offers, callbacks, switch_links
from pocketdesk.conversations.services.callback_slots import slot_label
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, DomainError, NotFound, PermissionDenied

# What each refusal means to the person holding the link, and its HTTP status.
GONE = frozenset({"link_used", "link_expired", "offer_used", "offer_expired"})


def _signed_in(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def _problem(request: HttpRequest, error: DomainError, **context: object) -> HttpResponse:
    if isinstance(error, NotFound):
        status, title = 404, _("This link does not work")
        text = _("It may have been mistyped or cut short. Ask us for a new one.")
    elif isinstance(error, PermissionDenied):
        status, title, text = 403, _("Signed in as someone else"), error.detail
        if error.code == "signed_in_as_someone_else":
            text = _("This link is for another account: sign out, then open it again.")
    elif error.code in {"link_used", "offer_used"}:
        status, title = 410, _("This link has been used")
        text = _("Each link works once. Reply to our message if you need another.")
    elif error.code in GONE:
        status, title = 410, _("This link has expired")
        text = _("Reply to our message and we will send you a new one.")
    else:
        status, title, text = error.status, _("Something is not right"), error.detail
    return render(
        request,
        "conversations/links/problem.html",
        {"title": title, "text": text, "code": error.code, **context},
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def switch_open(request: HttpRequest, token: str) -> HttpResponse:
    """A modality-switch link: the page asks to continue; continuing uses the link, signs the
    customer in (a login is made if they had none) and opens the thread in web chat."""
    signed_in = _signed_in(request)
    try:
        link = switch_links.switch_link_get(token)
    except DomainError as error:
        return _problem(request, error)
    with translation.override(link.customer.language):
        if request.method == "GET":
            if signed_in is not None and signed_in.pk != link.customer.user_id:
                return _problem(
                    request,
                    PermissionDenied("other account", code="signed_in_as_someone_else"),
                )
            return render(request, "conversations/links/switch.html", {"link": link})
        try:
            link, user = switch_links.switch_link_use(token=token, signed_in=signed_in)
        except DomainError as error:
            return _problem(request, error)
    if signed_in is None:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("conversations:app-thread", public_id=link.conversation.public_id)


def _slots(offer: CallbackOffer) -> list[tuple[str, str]]:
    return [
        (slot.key, slot_label(slot.starts_at, offer.customer))
        for slot in callback_offers.offer_slots(offer)
    ]


@never_cache
@require_http_methods(["GET", "POST"])
def callback_pick(request: HttpRequest, token: str) -> HttpResponse:
    """A callback offer's link: the slots in the customer's language and time zone; picking
    one books it. A slot just taken: the next free ones, to pick again."""
    try:
        offer = callback_offers.callback_offer_for_token(token)
    except NotFound as error:
        return _problem(request, error)
    customer = offer.customer
    with translation.override(customer.language):
        if offer.used_at is not None:
            booked = callback_offers.offer_callback(offer)
            return _problem(request, Conflict("used", code="offer_used"), when=_when(booked, offer))
        if offer.expires_at <= clock.now():
            return _problem(request, Conflict("expired", code="offer_expired"))
        refusal, status = "", 200
        if request.method == "POST":
            try:
                callback = callbacks.callback_book(offer=offer, slot=request.POST.get("slot", ""))
            except Conflict as exc:
                if exc.code in GONE:
                    return _problem(request, exc)
                offer.refresh_from_db()  # the next free slots
                refusal, status = exc.detail, 409
            except DomainError as exc:
                refusal, status = exc.detail, exc.status
            else:
                booked_context: dict[str, Any] = {
                    "callback": callback,
                    "when": _when(callback, offer),
                    "offer": offer,
                }
                return render(request, "conversations/links/callback_booked.html", booked_context)
        context: dict[str, Any] = {"offer": offer, "slots": _slots(offer), "error": refusal}
        return render(request, "conversations/links/callback.html", context, status=status)


def _when(callback: Callback | None, offer: CallbackOffer) -> str:
    return slot_label(callback.starts_at, offer.customer) if callback is not None else ""
