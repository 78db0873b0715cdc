"""Callbacks: slots in the customer's time zone and send windows, inside the team's business
hours, off its public holidays, where a seat is free; the offer sent in the current channel
with a single-use link; booking (one seat per callback, even when two customers race on
PostgreSQL); reminders once; a due callback on top of the inbox; a missed one re-offered."""

import threading
import zoneinfo
from datetime import time, timedelta
from typing import Any

import pytest
from django.db import connection

from pocketdesk.accounts.services import user_create
from pocketdesk.conversations import selectors
from pocketdesk.conversations.models import (
    Callback,
    CallbackOffer,
    CallbackSeat,
    Conversation,
    Message,
)
from pocketdesk.conversations.services import callback_sweep, callbacks
from pocketdesk.conversations.services.callback_offers import (
    callback_offer,
    callback_offer_for_token,
)
from pocketdesk.conversations.services.callback_slots import (
    Hours,
    agent_team_set,
    business_hours_set,
    callback_slots_propose,
    team_create,
)
from pocketdesk.conversations.services.inbox import conversation_assign
from pocketdesk.conversations.tests.callback_factories import (
    MONDAY_8AM,
    link_token,
    london_team,
    sent_text,
    sms_conversation,
    utc,
)
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.customers.services import Window, habits_store, preferences_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel() -> Any:
    return sms_channel()


@pytest.fixture
def frozen() -> Any:
    with clock.frozen_at(MONDAY_8AM):
        yield MONDAY_8AM


def _starts(slots: list[Any]) -> list[Any]:
    return [slot.starts_at for slot in slots]


# --- slots ------------------------------------------------------------------------------------


def test_slots_are_in_business_hours_after_the_lead_time_an_hour_apart(
    frozen, make_customer, channel
):
    london_team()
    conversation = sms_conversation(make_customer, channel)

    slots = callback_slots_propose(conversation=conversation)

    # 08:00 now, one hour's lead: the day opens at 09:00
    assert _starts(slots) == [utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=15) for s in slots)


def test_slots_at_the_hours_the_customer_answers_come_first(frozen, make_customer, channel):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    # learned: they answer in the mid-afternoon (London time), confidently
    habits_store(
        customer=conversation.customer,
        best_hours=[{"hour": 15, "count": 9}, {"hour": 14, "count": 6}],
        hours_confidence=0.6,
    )

    slots = callback_slots_propose(conversation=conversation)

    # the earliest at those hours, an hour apart: Monday 14:00 and 15:00, then Tuesday 14:00
    assert _starts(slots) == [utc(2026, 3, 2, 14), utc(2026, 3, 2, 15), utc(2026, 3, 3, 14)]


def test_unsure_contact_hours_leave_the_earliest_slots(frozen, make_customer, channel):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    habits_store(
        customer=conversation.customer, best_hours=[{"hour": 15, "count": 1}], hours_confidence=0.1
    )

    slots = callback_slots_propose(conversation=conversation)

    assert _starts(slots) == [utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)]


def test_slots_follow_the_customers_time_zone(frozen, make_customer, channel):
    london_team()
    # New York is UTC-5 in early March: without send windows, 08:00–20:00 there
    conversation = sms_conversation(make_customer, channel, time_zone="America/New_York")

    slots = callback_slots_propose(conversation=conversation)

    assert _starts(slots) == [utc(2026, 3, 2, 13), utc(2026, 3, 2, 14), utc(2026, 3, 2, 15)]


def test_slots_stay_inside_the_customers_send_windows(frozen, make_customer, channel):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    # reachable on Mondays 12:00–12:45 and Wednesdays 16:30–18:00 only
    preferences_update(
        actor=None,
        customer=conversation.customer,
        send_windows=[Window(0, time(12), time(12, 45)), Window(2, time(16, 30), time(18))],
    )

    slots = callback_slots_propose(conversation=conversation)

    # Monday 12:00, Wednesday 16:30 (the team closes at 17:00), next Monday 12:00
    assert _starts(slots) == [utc(2026, 3, 2, 12), utc(2026, 3, 4, 16, 30), utc(2026, 3, 9, 12)]
    many = callback_slots_propose(conversation=conversation, count=10)
    assert len(many) == 10
    for slot in many:
        local = slot.starts_at.astimezone(zoneinfo.ZoneInfo("Europe/London"))
        assert (local.weekday(), local.time()) in {(0, time(12)), (0, time(12, 15)),
            (0, time(12, 30)), (2, time(16, 30)), (2, time(16, 45))}  # fmt: skip


def test_slots_skip_the_teams_public_holidays(make_customer, channel):
    london_team()  # England: Good Friday 3 April and Easter Monday 6 April 2026
    open_team = team_create(actor=None, name="No holidays", time_zone="Europe/London")
    business_hours_set(
        actor=None, team=open_team, hours=[Hours(d, time(9), time(17)) for d in range(5)]
    )
    conversation = sms_conversation(make_customer, channel)
    # Thursday 2 April, 16:30 in London (BST): too late for today
    with clock.frozen_at(utc(2026, 4, 2, 15, 30)):
        england = callback_slots_propose(conversation=conversation)
    assert _starts(england)[0] == utc(2026, 4, 7, 8)  # Tuesday 09:00 BST

    # the same days for a team that keeps no holidays: Friday morning
    staff = _agent_in(open_team)
    with clock.frozen_at(utc(2026, 4, 2, 15, 30)):
        conversation_assign(actor=staff, conversation=conversation, assignee=staff)
        conversation.refresh_from_db()
        free = callback_slots_propose(conversation=conversation)
    assert _starts(free)[0] == utc(2026, 4, 3, 8)


def _agent_in(team: Any) -> Any:
    admin = user_create(email=f"admin-{team.pk}@test.example", password=None, role="admin")
    agent = user_create(email=f"agent-{team.pk}@test.example", password=None, role="agent")
    agent_team_set(actor=admin, agent=agent, team=team)
    return agent


def test_a_full_slot_is_not_offered_until_a_seat_frees(frozen, make_customer, channel):
    london_team(seats=2)
    first = sms_conversation(make_customer, channel, phone="+44 7911 100001")
    second = sms_conversation(make_customer, channel, phone="+44 7911 100002")
    third = sms_conversation(make_customer, channel, phone="+44 7911 100003")
    nine = utc(2026, 3, 2, 9)
    booked = [
        callbacks.callback_book(offer=callback_offer(actor=None, conversation=c), slot=nine)
        for c in (first, second)
    ]
    assert sorted(CallbackSeat.objects.values_list("seat", flat=True)) == [1, 2]

    assert nine not in _starts(callback_slots_propose(conversation=third))
    assert _starts(callback_slots_propose(conversation=third))[0] == utc(2026, 3, 2, 9, 15)

    # a cancellation gives the seat back
    agent = _agent_in(booked[0].team)
    callbacks.callback_cancel(actor=agent, callback=booked[0])
    assert _starts(callback_slots_propose(conversation=third))[0] == nine


def test_no_team_or_bad_team_settings_are_refused(frozen, make_customer, channel, admin_user):
    conversation = sms_conversation(make_customer, channel)
    with pytest.raises(ValidationFailed) as no_team:
        callback_slots_propose(conversation=conversation)
    assert no_team.value.code == "no_team"
    with pytest.raises(ValidationFailed) as country:
        team_create(actor=admin_user, name="X", holiday_country="ZZ")
    assert country.value.code == "bad_holidays"
    with pytest.raises(ValidationFailed):
        team_create(actor=admin_user, name="X", hours=[Hours(0, time(17), time(9))])
    with pytest.raises(ValidationFailed):
        team_create(actor=admin_user, name="X", time_zone="Mars/Olympus")


# --- offers and booking -----------------------------------------------------------------------


def test_the_offer_goes_out_in_the_current_channel_in_the_customers_language(
    frozen, make_customer, channel, agent
):
    london_team()
    conversation = sms_conversation(make_customer, channel, language="fr", time_zone="Europe/Paris")

    offer = callback_offer(actor=agent, conversation=conversation)

    assert offer.slots == [
        "2026-03-02T09:00:00+00:00",
        "2026-03-02T10:00:00+00:00",
        "2026-03-02T11:00:00+00:00",
    ]
    assert offer.expires_at == MONDAY_8AM + timedelta(hours=48)
    text = sent_text(offer.message)
    assert offer.message.channel == channel
    # Paris is an hour ahead of London; French day and month names
    assert "Nous pouvons vous rappeler à l’un de ces moments (Europe/Paris) :" in text
    assert "- lun. 2 mars, 10:00\n" in text
    assert callback_offer_for_token(link_token(offer.message)) == offer
    # only the token's hash is kept
    assert link_token(offer.message) not in str(CallbackOffer.objects.values_list().get())


def test_booking_uses_the_offer_once_and_confirms_in_the_thread(
    frozen, make_customer, channel, agent
):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    offer = callback_offer(actor=agent, conversation=conversation)

    callback = callbacks.callback_book(offer=offer, slot="2026-03-02T10:00:00+00:00")

    assert (callback.status, callback.starts_at) == ("booked", utc(2026, 3, 2, 10))
    assert callback.ends_at == utc(2026, 3, 2, 10, 15)
    assert callback.seat.seat == 1
    offer.refresh_from_db()
    assert offer.used_at == MONDAY_8AM
    said = Message.objects.filter(conversation=conversation).order_by("created_at", "id")
    assert "Booked: we will call you on Mon 2 Mar, 10:00" in sent_text(
        said.filter(direction="outbound").last()
    )
    assert said.filter(direction="note", kind="callback_booked").exists()
    with pytest.raises(Conflict) as again:
        callbacks.callback_book(offer=offer, slot="2026-03-02T11:00:00+00:00")
    assert again.value.code == "offer_used"
    assert Callback.objects.count() == 1


def test_booking_refuses_a_time_not_offered_and_an_expired_link(frozen, make_customer, channel):
    london_team()
    offer = callback_offer(actor=None, conversation=sms_conversation(make_customer, channel))
    with pytest.raises(ValidationFailed) as other:
        callbacks.callback_book(offer=offer, slot="2026-03-02T09:30:00+00:00")
    assert other.value.code == "slot_not_offered"
    with pytest.raises(ValidationFailed) as garbage:
        callbacks.callback_book(offer=offer, slot="tuesday-ish")
    assert garbage.value.code == "bad_slot"
    with clock.frozen_at(MONDAY_8AM + timedelta(hours=49)), pytest.raises(Conflict) as late:
        callbacks.callback_book(offer=offer, slot=offer.slots[0])
    assert late.value.code == "offer_expired"
    assert not Callback.objects.exists()


def test_a_slot_just_taken_gives_the_next_proposals_not_a_double_booking(
    frozen, make_customer, channel
):
    london_team()
    ada = sms_conversation(make_customer, channel, phone="+44 7911 100001")
    bob = sms_conversation(make_customer, channel, phone="+44 7911 100002")
    ada_offer = callback_offer(actor=None, conversation=ada)
    bob_offer = callback_offer(actor=None, conversation=bob)
    nine = "2026-03-02T09:00:00+00:00"
    assert nine in ada_offer.slots
    assert nine in bob_offer.slots
    callbacks.callback_book(offer=ada_offer, slot=nine)

    with pytest.raises(Conflict) as taken:
        callbacks.callback_book(offer=bob_offer, slot=nine)

    assert taken.value.code == "slot_taken"
    proposals = taken.value.extra["proposals"]
    assert proposals[0] == "2026-03-02T09:15:00+00:00"
    assert nine not in proposals
    bob_offer.refresh_from_db()
    assert bob_offer.slots == proposals
    assert bob_offer.used_at is None
    # the same link books one of the new times
    callbacks.callback_book(offer=bob_offer, slot=proposals[0])
    assert Callback.objects.filter(status="booked").count() == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent transactions need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_customers_racing_for_the_last_seat_one_wins_one_gets_proposals(make_customer, channel):
    with clock.frozen_at(MONDAY_8AM):
        london_team()
        offers = [
            callback_offer(
                actor=None,
                conversation=sms_conversation(make_customer, channel, phone=f"+44 7911 10000{i}"),
            )
            for i in range(2)
        ]
        nine = "2026-03-02T09:00:00+00:00"
        start = threading.Barrier(2)
        outcomes: list[Any] = []

        def book(offer: CallbackOffer) -> None:
            start.wait()
            try:
                outcomes.append(callbacks.callback_book(offer=offer, slot=nine))
            except Conflict as error:
                outcomes.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=book, args=(offer,)) for offer in offers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    won = [o for o in outcomes if isinstance(o, Callback)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert lost[0].code == "slot_taken"
    assert nine not in lost[0].extra["proposals"]
    assert len(lost[0].extra["proposals"]) == 3
    assert CallbackSeat.objects.filter(starts_at=utc(2026, 3, 2, 9)).count() == 1
    assert Callback.objects.filter(status="booked").count() == 1


def test_an_offer_waits_for_a_booked_callback_to_be_cancelled(
    frozen, make_customer, channel, agent
):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    offer = callback_offer(actor=agent, conversation=conversation)
    callback = callbacks.callback_book(offer=offer, slot=offer.slots[0])
    with pytest.raises(Conflict) as booked:
        callback_offer(actor=agent, conversation=conversation)
    assert booked.value.code == "callback_booked"

    callbacks.callback_cancel(actor=agent, callback=callback, reason="customer asked")
    callbacks.callback_cancel(actor=agent, callback=callback)  # twice: nothing more

    assert Callback.objects.get().status == "cancelled"
    assert not CallbackSeat.objects.exists()
    assert callback_offer(actor=agent, conversation=conversation).slots[0] == offer.slots[0]


def test_customers_cannot_offer_or_cancel(frozen, make_customer, channel):
    london_team()
    conversation = sms_conversation(make_customer, channel)
    customer_user = conversation.customer.user
    with pytest.raises(PermissionDenied):
        callback_offer(actor=customer_user, conversation=conversation)
    offer = callback_offer(actor=None, conversation=conversation)
    callback = callbacks.callback_book(offer=offer, slot=offer.slots[0])
    with pytest.raises(PermissionDenied):
        callbacks.callback_cancel(actor=customer_user, callback=callback)


# --- the sweep --------------------------------------------------------------------------------


def _booked_at_nine(make_customer: Any, channel: Any, **customer: Any) -> Callback:
    conversation = sms_conversation(make_customer, channel, **customer)
    offer = callback_offer(actor=None, conversation=conversation)
    return callbacks.callback_book(offer=offer, slot="2026-03-02T09:00:00+00:00")


def _outbound_texts(conversation: Conversation) -> list[str]:
    return [
        sent_text(m)
        for m in Message.objects.filter(conversation=conversation, direction="outbound").order_by(
            "created_at", "id"
        )
    ]


def test_the_customer_is_reminded_once_before(frozen, make_customer, channel):
    london_team()
    callback = _booked_at_nine(make_customer, channel)
    with clock.frozen_at(utc(2026, 3, 2, 8, 40)):  # 20 minutes before: too early
        assert callback_sweep.callbacks_sweep()["reminded"] == 0
    with clock.frozen_at(utc(2026, 3, 2, 8, 46)):
        assert callback_sweep.callbacks_sweep()["reminded"] == 1
        assert callback_sweep.callbacks_sweep()["reminded"] == 0
    with clock.frozen_at(utc(2026, 3, 2, 8, 50)):
        assert callback_sweep.callbacks_sweep()["reminded"] == 0
    callback.refresh_from_db()
    assert callback.reminded_at == utc(2026, 3, 2, 8, 46)
    reminders = [t for t in _outbound_texts(callback.conversation) if t.startswith("Reminder")]
    assert reminders == ["Reminder: we will call you at Mon 2 Mar, 09:00 (Europe/London)."]


def test_a_due_callback_puts_its_conversation_on_top_of_the_inbox(
    frozen, make_customer, channel, agent
):
    london_team()
    callback = _booked_at_nine(make_customer, channel, phone="+44 7911 100001")
    # newer activity in other conversations, one page of two
    others = [
        sms_conversation(make_customer, channel, phone=f"+44 7911 20000{i}") for i in range(3)
    ]
    with clock.frozen_at(utc(2026, 3, 2, 8, 40)):  # before the reminder (that is activity too)
        customer_says(others[0].customer, "anyone?", channel=channel)
        assert callback_sweep.callbacks_sweep()["due"] == 0
        top = selectors.conversation_list(actor=agent, page_size=2)
        assert callback.conversation not in top.items

    with clock.frozen_at(utc(2026, 3, 2, 9, 0)):
        assert callback_sweep.callbacks_sweep()["due"] == 1
        assert callback_sweep.callbacks_sweep()["due"] == 0

    conversation = Conversation.objects.get(pk=callback.conversation_id)
    assert conversation.priority == "urgent"
    assert conversation.callback_due_at == utc(2026, 3, 2, 9)
    first = selectors.conversation_list(actor=agent, page_size=2)
    assert first.items[0] == conversation
    assert len(first.items) == 3
    # the pages after it hold every other conversation once, and lead back to the top
    second = selectors.conversation_list(actor=agent, page_size=2, cursor=first.next)
    assert conversation not in second.items
    seen = first.items[1:] + second.items
    assert sorted(c.pk for c in seen) == sorted(c.pk for c in others)
    back = selectors.conversation_list(actor=agent, page_size=2, cursor=second.previous)
    assert back.items == first.items
    assert back.previous is None

    callbacks.callback_mark_done(actor=agent, callback=callback)
    conversation.refresh_from_db()
    assert conversation.callback_due_at is None
    assert selectors.conversation_list(actor=agent, page_size=2).items[0] != conversation


def test_a_missed_callback_is_marked_and_new_times_are_offered(frozen, make_customer, channel):
    london_team()
    callback = _booked_at_nine(make_customer, channel)
    with clock.frozen_at(utc(2026, 3, 2, 9, 0)):
        callback_sweep.callbacks_sweep()
    with clock.frozen_at(utc(2026, 3, 2, 9, 44)):  # 29 minutes after the end
        assert callback_sweep.callbacks_sweep()["missed"] == 0
    with clock.frozen_at(utc(2026, 3, 2, 9, 45)):
        assert callback_sweep.callbacks_sweep()["missed"] == 1
        assert callback_sweep.callbacks_sweep()["missed"] == 0

    callback.refresh_from_db()
    assert callback.status == "missed"
    conversation = Conversation.objects.get(pk=callback.conversation_id)
    assert conversation.callback_due_at is None
    fresh = CallbackOffer.objects.filter(conversation=conversation, used_at__isnull=True).get()
    # 09:45 now, an hour's lead
    assert fresh.slots[0] == "2026-03-02T10:45:00+00:00"
    assert "Pick one here" in _outbound_texts(conversation)[-1]
    assert Message.objects.filter(conversation=conversation, kind="callback_missed").exists()
