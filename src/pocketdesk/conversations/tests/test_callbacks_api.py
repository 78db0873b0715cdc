"""The staff API for switch links and callbacks, and the customer's booking page: bad input is a
422 with a code, a slot just taken is a 409 with the next proposals, a used or expired link is
a clear page."""

from datetime import time, timedelta
from typing import Any

import pytest
from django.test import Client

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Callback, CallbackOffer, SwitchLink, Team
from pocketdesk.conversations.services import callbacks
from pocketdesk.conversations.services.callback_offers import callback_offer
from pocketdesk.conversations.tests.callback_factories import (
    MONDAY_8AM,
    link_token,
    london_team,
    sms_conversation,
)
from pocketdesk.conversations.tests.factories import sms_channel
from pocketdesk.core import clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel() -> Any:
    return sms_channel()


@pytest.fixture
def frozen() -> Any:
    with clock.frozen_at(MONDAY_8AM):
        yield MONDAY_8AM


def _code(response: Any) -> str:
    return str(response.json()["code"])


# --- staff API --------------------------------------------------------------------------------


def test_switch_link_api_sends_the_link_and_refuses_bad_input(
    frozen, api_as, agent, make_customer, channel
):
    api = api_as(agent)
    conversation = sms_conversation(make_customer, channel)
    url = f"/conversations/{conversation.public_id}/switch-link"

    created = api.post(url, {"ttl_minutes": 30})

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["conversation"] == conversation.public_id
    assert body["expires_at"].startswith("2026-03-02T08:30:00")
    assert body["id"] == SwitchLink.objects.get().public_id
    assert body["message"]
    assert "token" not in body
    assert "url" not in body
    assert (
        api.post(url, {"ttl_minutes": 1}).status_code,
        _code(api.post(url, {"ttl_minutes": 1})),
    ) == (422, "bad_ttl")
    assert _code(api.post(url, {"ttl_minutes": "soon"})) == "validation_error"
    assert api.post("/conversations/cnv_nope/switch-link", {}).status_code == 404
    customer_api = api_as(conversation.customer.user)
    assert customer_api.post(url, {}).status_code in {401, 403}
    assert SwitchLink.objects.count() == 1


def test_callback_api_offer_book_conflict_and_cancel(frozen, api_as, agent, make_customer, channel):
    api = api_as(agent)
    ada = sms_conversation(make_customer, channel, phone="+44 7911 100001")
    bob = sms_conversation(make_customer, channel, phone="+44 7911 100002")
    proposals = f"/conversations/{ada.public_id}/callbacks/proposals"
    assert _code(api.post(proposals, {})) == "no_team"
    london_team()
    assert _code(api.post(proposals, {"kind": "video"})) == "validation_error"

    offered = api.post(proposals, {"kind": "callback"})

    assert offered.status_code == 201, offered.json()
    offer = offered.json()
    assert offer["slots"][0].startswith("2026-03-02T09:00:00")
    assert len(offer["slots"]) == 3
    assert offer["used_at"] is None
    book = f"/callbacks/offers/{offer['id']}/book"
    assert _code(api.post(book, {"slot": "2026-03-02T09:30:00+00:00"})) == "slot_not_offered"
    assert _code(api.post(book, {"slot": "half past nine"})) == "bad_slot"
    assert _code(api.post(book, {"slot": "2026-03-02T09:00:00"})) == "bad_slot"  # no zone

    # Bob takes 09:00 through his own link first
    bob_offer = callback_offer(actor=None, conversation=bob)
    callbacks.callback_book(offer=bob_offer, slot=bob_offer.slots[0])
    taken = api.post(book, {"slot": offer["slots"][0]})
    assert taken.status_code == 409
    assert _code(taken) == "slot_taken"
    assert taken.json()["proposals"][0] == "2026-03-02T09:15:00+00:00"

    booked = api.post(book, {"slot": taken.json()["proposals"][0]})
    assert booked.status_code == 201, booked.json()
    callback = booked.json()
    assert (callback["status"], callback["kind"]) == ("booked", "callback")
    assert callback["starts_at"].startswith("2026-03-02T09:15:00")
    listed = api.get(f"/conversations/{ada.public_id}/callbacks").json()
    assert [c["id"] for c in listed] == [callback["id"]]
    assert _code(api.post(proposals, {})) == "callback_booked"

    cancelled = api.post(f"/callbacks/{callback['id']}/cancel", {"reason": "asked by phone"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert _code(api.post(f"/callbacks/{callback['id']}/done")) == "callback_closed"
    assert api.post("/callbacks/cb_nope/cancel", {}).status_code == 404


# --- the customer's booking page --------------------------------------------------------------


def _offer(make_customer: Any, channel: Any, **customer: Any) -> tuple[CallbackOffer, str]:
    offer = callback_offer(
        actor=None, conversation=sms_conversation(make_customer, channel, **customer)
    )
    return offer, f"/app/callback/{link_token(offer.message)}/"


def test_the_booking_page_shows_the_slots_in_the_customers_zone_and_language(
    frozen, make_customer, channel
):
    london_team()
    _, url = _offer(make_customer, channel, language="fr", time_zone="Europe/Paris")

    page = Client().get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Quand pouvons-nous vous appeler ?" in html
    assert "lun. 2 mars, 10:00" in html
    assert "Europe/Paris" in html
    assert 'value="2026-03-02T09:00:00+00:00"' in html
    assert page["Cache-Control"].startswith("max-age=0")


def test_picking_a_slot_books_it_once(frozen, make_customer, channel):
    london_team()
    offer, url = _offer(make_customer, channel)
    phone = Client()

    booked = phone.post(url, {"slot": offer.slots[1]})

    assert booked.status_code == 200
    assert "We will call you on Mon 2 Mar, 10:00" in booked.content.decode()
    again = phone.post(url, {"slot": offer.slots[2]})
    assert again.status_code == 410
    assert "booked for Mon 2 Mar, 10:00" in again.content.decode()
    assert Client().get(url).status_code == 410
    assert Callback.objects.count() == 1


def test_a_slot_just_taken_shows_the_next_times(frozen, make_customer, channel):
    london_team()
    offer, url = _offer(make_customer, channel, phone="+44 7911 100001")
    other, other_url = _offer(make_customer, channel, phone="+44 7911 100002")
    assert Client().post(other_url, {"slot": other.slots[0]}).status_code == 200

    taken = Client().post(url, {"slot": offer.slots[0]})

    assert taken.status_code == 409
    html = taken.content.decode()
    assert "That time was just taken" in html
    assert 'value="2026-03-02T09:15:00+00:00"' in html
    assert 'value="2026-03-02T09:00:00+00:00"' not in html
    assert Client().post(url, {"slot": "2026-03-02T09:15:00+00:00"}).status_code == 200


def test_bad_picks_and_dead_links_get_clear_pages(frozen, make_customer, channel):
    london_team()
    _, url = _offer(make_customer, channel)

    assert Client().post(url, {"slot": "whenever"}).status_code == 422
    assert Client().post(url, {}).status_code == 422
    assert Client().get("/app/callback/not-a-real-token/").status_code == 404
    with clock.frozen_at(MONDAY_8AM + timedelta(hours=48)):
        expired = Client().get(url)
    assert expired.status_code == 410
    assert b"This link has expired" in expired.content
    assert not Callback.objects.exists()


# --- the console's buttons --------------------------------------------------------------------


def _console(agent: Any) -> Client:
    client = Client()
    client.force_login(agent)
    return client


def test_console_offers_a_callback_and_sends_a_chat_link(frozen, agent, make_customer, channel):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    console = _console(agent)
    thread = f"/console/conversations/{conversation.public_id}/"
    page = console.get(thread)
    assert b'id="offer-callback"' in page.content
    assert b'id="send-chat-link"' in page.content

    offered = console.post(f"{thread}callback-offer/", {"kind": "chat"}, HTTP_HX_REQUEST="true")
    assert offered.status_code == 200
    assert b"We can chat with you at one of these times" in offered.content
    assert CallbackOffer.objects.get().kind == "chat"

    linked = console.post(f"{thread}switch-link/", HTTP_HX_REQUEST="true")
    assert linked.status_code == 200
    assert "/app/switch/…" in linked.content.decode()
    assert SwitchLink.objects.count() == 1

    # a refusal lands in the suggestions' error slot
    refused = console.post(f"{thread}callback-offer/", {"kind": "video"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    assert b'id="suggest-error"' in refused.content
    assert b"Kind is one of" in refused.content


def test_console_lists_callbacks_and_closes_them(frozen, agent, make_customer, channel):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    offer = callback_offer(actor=agent, conversation=conversation)
    callback = callbacks.callback_book(offer=offer, slot=offer.slots[0])
    console = _console(agent)
    thread = f"/console/conversations/{conversation.public_id}/"
    assert (
        f'data-callback="{callback.public_id}" data-status="booked"'
        in console.get(thread).content.decode()
    )

    done = console.post(f"{thread}callbacks/{callback.public_id}/", {"action": "done"})

    assert done.status_code == 302
    callback.refresh_from_db()
    assert callback.status == "done"
    again = console.post(f"{thread}callbacks/{callback.public_id}/", {"action": "cancel"})
    assert again.status_code == 422
    assert b"This callback is done" in again.content


def test_admins_set_up_teams_in_the_admin_with_checked_holidays(db):
    # the Django admin is for superusers (as `pocketdesk createsuperuser` makes them)
    console = _console(User.objects.create_superuser("root@test.example", "pw-Secret-123"))
    form = {
        "name": "Paris desk",
        "time_zone": "Europe/Paris",
        "holiday_country": "XX",
        "holiday_subdivision": "",
        "slot_minutes": 30,
        "seats": 2,
        "lead_minutes": 60,
        "business_hours-TOTAL_FORMS": 1,
        "business_hours-INITIAL_FORMS": 0,
        "business_hours-0-weekday": 0,
        "business_hours-0-starts_at": "09:00",
        "business_hours-0-ends_at": "12:00",
    }
    refused = console.post("/admin/conversations/team/add/", form)
    assert refused.status_code == 200
    assert b"No public holidays are known for" in refused.content

    saved = console.post("/admin/conversations/team/add/", {**form, "holiday_country": "fr"})
    assert saved.status_code == 302
    team = Team.objects.get()
    assert (team.holiday_country, team.seats) == ("FR", 2)
    assert list(team.business_hours.values_list("weekday", "starts_at")) == [(0, time(9))]
