"""Learned habits: the channel a customer answers best and the hours they write at, with a
confidence and a why; the hourly refresh; the 360 page's habits panel."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pocketdesk.conversations import habits as habits_module
from pocketdesk.conversations.habits import (
    habits_learn,
    habits_refresh,
    habits_stale_customers,
    wilson_lower_bound,
)
from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_receive, message_send
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core.clock import frozen_at
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.core.schedule import periodic_tasks
from pocketdesk.customers.models import Customer, CustomerHabits
from pocketdesk.customers.selectors import customer_habits_get
from pocketdesk.customers.services import (
    contact_point_add,
    habits_store,
    preferences_update,
    timeline_record,
)
from pocketdesk.messaging.fake_providers import whatsapp_message_id
from pocketdesk.messaging.handlers import InboundMessage
from pocketdesk.messaging.models import Channel, Outbound
from pocketdesk.messaging.services import channel_create

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday, winter time in Europe
WA_PHONE = "+447911123456"


@pytest.fixture
def whatsapp(db) -> Channel:
    return channel_create(
        actor=None,
        kind="whatsapp",
        name="WhatsApp line",
        address="106540352242922",
        credentials={
            "app_secret": "meta-app-secret-for-tests",
            "verify_token": "verify-me-please",
            "access_token": "EAAG-test-access-token",
        },
    )


@pytest.fixture
def sms(db) -> Channel:
    return sms_channel()


@pytest.fixture
def customer(make_customer) -> Customer:
    customer = make_customer(name="Noor Haddad", phone="+44 7911 000111", time_zone="Europe/Paris")
    contact_point_add(actor=None, customer=customer, kind="whatsapp", value=WA_PHONE)
    return customer


def _on_whatsapp(customer: Customer, channel: Channel, at: datetime, text: str = "ok") -> Message:
    point = customer.contact_points.get(kind="whatsapp")
    return message_receive(
        InboundMessage(
            channel_id=channel.pk,
            customer_id=customer.pk,
            contact_point_id=point.pk,
            text=text,
            provider_id=whatsapp_message_id(point.value.lstrip("+")),
            received_at=at,
        )
    )


def _agent_sends(agent, conversation: Conversation, channel: Channel, at: datetime) -> Message:
    with frozen_at(at):
        return message_send(
            actor=agent, conversation=conversation, text="Any news?", channel=channel
        )


def _learn(customer: Customer, now: datetime) -> CustomerHabits:
    assert habits_learn([customer.pk], now=now) == 1
    return CustomerHabits.objects.get(customer=customer)


def test_whatsapp_answered_fast_and_sms_ignored_makes_whatsapp_preferred(
    customer, agent, whatsapp, sms
):
    # given a customer who answers 9 of 10 WhatsApp messages within minutes and 2 of 7 SMS
    # hours later
    conversation = _on_whatsapp(customer, whatsapp, T0, "Hello").conversation
    for day in range(10):
        sent = T0 + timedelta(days=day, hours=1)
        _agent_sends(agent, conversation, whatsapp, sent)
        if day != 3:
            _on_whatsapp(customer, whatsapp, sent + timedelta(minutes=4 + day % 5))
    for day in range(7):
        sent = T0 + timedelta(days=day, hours=6)
        _agent_sends(agent, conversation, sms, sent)
        if day < 2:
            customer_says(customer, "ok", channel=sms, at=sent + timedelta(hours=3))
    # and a WhatsApp message an hour ago, not answered yet: too early to count
    now = T0 + timedelta(days=12)
    _agent_sends(agent, conversation, whatsapp, now - timedelta(hours=1))

    # when the habits are learned
    habits = _learn(customer, now)

    # then WhatsApp is preferred, with the numbers and a why saying so
    assert habits.preferred_channel == "whatsapp"
    assert habits.channel_ranking[0] == "whatsapp"
    assert habits.channel_ranking[1] == "phone"  # answered sometimes: before the untried kinds
    assert sorted(habits.channel_ranking) == sorted(
        ["phone", "whatsapp", "email", "webpush", "messenger", "instagram", "social"]
    )
    stats = habits.channel_stats
    assert stats["whatsapp"] == {
        "sent": 10,
        "answered": 9,
        "answer_rate": 0.9,
        "median_minutes": 6.0,
    }
    assert stats["phone"] == {
        "sent": 7,
        "answered": 2,
        "answer_rate": 0.286,
        "median_minutes": 180.0,
    }
    assert habits.channel_why == (
        "answers 9 of 10 WhatsApp messages, typically within 6 minutes; 2 of 7 SMS"
    )
    assert habits.channel_confidence == pytest.approx(17 / 25, abs=0.001)


def test_one_quick_sms_reply_does_not_beat_a_steady_channel(customer, agent, whatsapp, sms):
    # given 1 of 1 SMS answered at once, and 8 of 10 WhatsApp answered in 20 minutes
    conversation = _on_whatsapp(customer, whatsapp, T0).conversation
    for day in range(10):
        sent = T0 + timedelta(days=day, hours=1)
        _agent_sends(agent, conversation, whatsapp, sent)
        if day >= 2:
            _on_whatsapp(customer, whatsapp, sent + timedelta(minutes=20))
    sent = T0 + timedelta(days=10, hours=1)
    _agent_sends(agent, conversation, sms, sent)
    customer_says(customer, "yes", channel=sms, at=sent + timedelta(minutes=1))

    habits = _learn(customer, T0 + timedelta(days=12))

    # then the rate's lower bound (0.21 for 1 of 1, 0.49 for 8 of 10) decides, not the speed
    assert wilson_lower_bound(1, 1) < wilson_lower_bound(8, 10)
    assert habits.channel_ranking[:2] == ["whatsapp", "phone"]


def test_a_reply_on_another_channel_or_a_failed_send_is_not_an_answer(
    customer, agent, whatsapp, sms
):
    conversation = _on_whatsapp(customer, whatsapp, T0).conversation
    # an SMS answered on WhatsApp: the SMS went unanswered, WhatsApp had no attempt
    _agent_sends(agent, conversation, sms, T0 + timedelta(hours=1))
    _on_whatsapp(customer, whatsapp, T0 + timedelta(hours=1, minutes=5))
    # a WhatsApp message the provider could not deliver: no attempt at all
    failed = _agent_sends(agent, conversation, whatsapp, T0 + timedelta(hours=2))
    Outbound.objects.filter(pk=failed.outbound_id).update(status=Outbound.Status.FAILED)
    # three SMS in a row, then a reply: one attempt, timed from the last of them
    for minutes in (0, 1, 2):
        _agent_sends(agent, conversation, sms, T0 + timedelta(hours=3, minutes=minutes))
    customer_says(customer, "ok", channel=sms, at=T0 + timedelta(hours=3, minutes=12))

    habits = _learn(customer, T0 + timedelta(days=2))

    assert habits.channel_stats == {
        "phone": {"sent": 2, "answered": 1, "answer_rate": 0.5, "median_minutes": 10.0}
    }
    assert habits.preferred_channel == "phone"
    assert habits.channel_why.startswith("only 1 reply so far: answers 1 of 2 SMS messages")
    assert habits.channel_confidence < 0.4


def test_best_hours_are_local_across_daylight_saving_time(make_customer, whatsapp):
    # given a customer in Paris who writes at 09:00 local time, winter (UTC+1) and summer
    # (UTC+2), and one in New York who writes at 08:00 local (UTC-5, then UTC-4)
    paris = make_customer(name="Paris", time_zone="Europe/Paris")
    contact_point_add(actor=None, customer=paris, kind="whatsapp", value=WA_PHONE)
    new_york = make_customer(name="New York", time_zone="America/New_York")
    contact_point_add(actor=None, customer=new_york, kind="whatsapp", value="+12125550123")
    for day in range(6):
        winter = datetime(2026, 1, 12 + day, 8, 0, tzinfo=UTC)
        summer = datetime(2026, 7, 13 + day, 7, 0, tzinfo=UTC)
        for at in (winter, summer):
            _on_whatsapp(paris, whatsapp, at)
            _on_whatsapp(paris, whatsapp, at + timedelta(minutes=5))  # the same moment
            _on_whatsapp(new_york, whatsapp, at + timedelta(hours=5))
    _on_whatsapp(paris, whatsapp, datetime(2026, 7, 20, 16, 30, tzinfo=UTC))  # 18:30 in Paris

    # when both are learned in one go
    assert habits_learn([paris.pk, new_york.pk], now=datetime(2026, 8, 1, tzinfo=UTC)) == 2

    # then each customer's hours are in their own zone, a burst counting once
    in_paris = CustomerHabits.objects.get(customer=paris)
    assert in_paris.best_hours == [{"hour": 9, "count": 12}, {"hour": 18, "count": 1}]
    assert in_paris.hours_confidence == pytest.approx(13 / 23, abs=0.001)
    assert in_paris.hours_why == (
        "writes most often around 09:00 (12×), 18:00 (1×), Europe/Paris time; 13 times in all"
    )
    in_new_york = CustomerHabits.objects.get(customer=new_york)
    assert in_new_york.best_hours == [{"hour": 8, "count": 12}]
    # nobody was ever sent anything: no channel preference
    assert in_new_york.preferred_channel == ""
    assert in_new_york.channel_why == "no messages sent to this customer yet"


def test_no_data_means_no_preference_and_no_confidence(make_customer):
    quiet = make_customer(name="Quiet")

    habits = _learn(quiet, T0)

    assert (habits.preferred_channel, habits.channel_ranking, habits.best_hours) == ("", [], [])
    assert (habits.channel_confidence, habits.hours_confidence) == (0.0, 0.0)
    assert habits.channel_why == "no messages sent to this customer yet"
    assert habits.hours_why == "has not written yet"
    assert habits.computed_at == T0


def test_unanswered_messages_give_no_preference(customer, agent, whatsapp, sms):
    conversation = _on_whatsapp(customer, whatsapp, T0).conversation
    for day in range(3):
        _agent_sends(agent, conversation, sms, T0 + timedelta(days=day, hours=1))

    habits = _learn(customer, T0 + timedelta(days=5))

    assert habits.preferred_channel == ""
    assert habits.channel_ranking == []
    assert habits.channel_confidence == 0.0
    assert habits.channel_stats["phone"]["answered"] == 0
    assert habits.channel_why == "no reply yet to 3 messages"
    assert habits.hours_why == "only 1 message time so far: 09:00 (1×), Europe/Paris time"


def test_recompute_is_idempotent(customer, agent, whatsapp):
    conversation = _on_whatsapp(customer, whatsapp, T0).conversation
    _agent_sends(agent, conversation, whatsapp, T0 + timedelta(hours=1))
    _on_whatsapp(customer, whatsapp, T0 + timedelta(hours=1, minutes=3))
    now = T0 + timedelta(days=2)

    def snapshot() -> list[dict]:
        return list(CustomerHabits.objects.values())

    _learn(customer, now)
    first = snapshot()
    _learn(customer, now)
    habits_learn(None, now=now)

    assert snapshot() == first
    assert len(first) == 1


def test_refresh_relearns_only_customers_whose_habits_are_stale(make_customer, agent, whatsapp):
    with frozen_at(T0 - timedelta(days=1)):
        customer = make_customer(name="Noor", time_zone="Europe/Paris")
        contact_point_add(actor=None, customer=customer, kind="whatsapp", value=WA_PHONE)
        other = make_customer(name="Other", time_zone="Asia/Tokyo")
        contact_point_add(actor=None, customer=other, kind="whatsapp", value="+818012345678")
        never_wrote = make_customer(name="Never wrote")
    conversation = _on_whatsapp(customer, whatsapp, T0).conversation
    _on_whatsapp(other, whatsapp, T0)

    # the first run learns everyone with a conversation
    assert habits_refresh(now=T0 + timedelta(hours=1)) == 2
    assert not CustomerHabits.objects.filter(customer=never_wrote).exists()
    # nothing new: nothing to do
    assert habits_stale_customers(now=T0 + timedelta(hours=2)) == []

    # a reply goes out; the customer answers: only they are re-learned
    _agent_sends(agent, conversation, whatsapp, T0 + timedelta(hours=2, minutes=30))
    assert habits_stale_customers(now=T0 + timedelta(hours=3)) == [customer.pk]
    assert habits_refresh(now=T0 + timedelta(hours=3)) == 1
    assert CustomerHabits.objects.get(customer=customer).channel_stats == {}  # window still open
    assert habits_stale_customers(now=T0 + timedelta(hours=4)) == []

    # the attempt's 24-hour window closes unanswered: re-learned once, then left alone (the
    # other customer too: the conversation does not say which way its last message went)
    later = T0 + timedelta(days=1, hours=3)
    assert habits_stale_customers(now=later) == sorted([customer.pk, other.pk])
    habits_refresh(now=later)
    assert CustomerHabits.objects.get(customer=customer).channel_stats["whatsapp"]["sent"] == 1
    assert habits_stale_customers(now=later + timedelta(hours=1)) == []

    # a new time zone moves the hours: re-learned
    with frozen_at(later + timedelta(hours=2)):
        preferences_update(actor=None, customer=other, time_zone="Europe/Paris")
    assert habits_stale_customers(now=later + timedelta(hours=3)) == [other.pk]
    habits_refresh(now=later + timedelta(hours=3))
    assert CustomerHabits.objects.get(customer=other).best_hours == [{"hour": 9, "count": 1}]


def test_learning_is_a_fixed_number_of_queries(make_customer, agent, whatsapp):
    def run(first: int, count: int) -> int:
        ids = []
        for n in range(first, first + count):
            c = make_customer(name=f"C{n}")
            contact_point_add(actor=None, customer=c, kind="whatsapp", value=f"+4479110000{n:02d}")
            conversation = _on_whatsapp(c, whatsapp, T0).conversation
            _agent_sends(agent, conversation, whatsapp, T0 + timedelta(hours=1))
            _on_whatsapp(c, whatsapp, T0 + timedelta(hours=1, minutes=2))
            ids.append(c.pk)
        with CaptureQueriesContext(connection) as queries:
            habits_learn(ids, now=T0 + timedelta(days=2))
        return len(queries)

    assert run(0, 2) == run(2, 12)


def test_store_refuses_what_is_not_a_habit(customer):
    with pytest.raises(ValidationFailed) as unknown:
        habits_store(customer=customer, preferred_channel="pigeon")
    assert unknown.value.extra["errors"][0]["field"] == "preferred_channel"
    with pytest.raises(ValidationFailed):
        habits_store(customer=customer, channel_ranking=["phone", "phone"])
    with pytest.raises(ValidationFailed):
        habits_store(customer=customer, best_hours=[{"hour": 24, "count": 1}])
    with pytest.raises(IntegrityError), transaction.atomic():
        habits_store(customer=customer, channel_confidence=1.5)
    stored = habits_store(customer=customer, preferred_channel="email", channel_confidence=0.5)
    assert stored.preferred_channel == "email"
    assert CustomerHabits.objects.filter(customer=customer).count() == 1


def test_habits_are_read_by_staff_and_the_customer_only(customer, make_customer, agent):
    habits_store(customer=customer, preferred_channel="whatsapp")
    assert customer_habits_get(actor=agent, customer=customer) is not None
    assert customer_habits_get(actor=customer.user, customer=customer) is not None
    assert customer_habits_get(actor=make_customer(name="Nosy").user, customer=customer) is None


# --- the 360 page ------------------------------------------------------------------------------


def _page(agent, customer: Customer) -> tuple[str, int]:
    client = Client()
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/console/customers/{customer.public_id}/")
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_360_panel_shows_habits_and_recent_context_in_constant_queries(
    customer, make_customer, agent, whatsapp
):
    # given a customer with nothing learned and one with habits and a busy timeline
    bare = make_customer(name="Bare")
    _bare_body, bare_queries = _page(agent, bare)
    conversation = _on_whatsapp(customer, whatsapp, T0, "Where is my <b>order</b>?").conversation
    for day in range(6):
        _agent_sends(agent, conversation, whatsapp, T0 + timedelta(days=day, hours=1))
        _on_whatsapp(customer, whatsapp, T0 + timedelta(days=day, hours=1, minutes=5))
    for n in range(7):
        timeline_record(
            customer=customer,
            kind="shipment.delivered",
            summary=f"Order #{n} <delivered>",
            source="shipping",
            at=T0 + timedelta(days=n),
        )
    timeline_record(
        customer=customer,
        kind="notification.sent",
        summary="Your parcel is near",
        source="notifications",
        at=T0 + timedelta(days=9),
    )
    habits_learn([customer.pk], now=T0 + timedelta(days=10))

    # when an agent opens both pages
    body, queries = _page(agent, customer)

    # then the panel shows the preference, the hours, their confidence and why
    assert 'id="panel-habits"' in body
    assert 'data-channel="whatsapp"' in body
    assert "<strong>WhatsApp</strong>" in body
    assert "answers 6 of 6 WhatsApp messages, typically within 5 minutes" in body
    assert 'data-hour="10"' in body  # 09:00 UTC in Paris in January
    assert "Europe/Paris" in body
    assert "confidence, 43 %" in body  # 6 attempts: 6 / (6 + 8)
    # and the five latest entries of other apps, escaped; not the notifications' or messages'
    panel = body.split('id="panel-habits"')[1].split("</section>")[0]
    assert panel.count("shipment.delivered") == 5
    assert "Order #6 &lt;delivered&gt;" in panel
    assert "Order #1 " not in panel
    assert "Your parcel is near" not in panel
    assert "message.received" not in panel
    # in as many queries as for the customer with nothing
    assert queries == bare_queries
    assert "not known yet" in _bare_body


def test_stream_tolerates_an_unknown_time_zone():
    assert habits_module._zone("Mars/Olympus_Mons").key == "UTC"


def test_hourly_task_is_registered_and_refreshes(make_customer, whatsapp):
    with frozen_at(T0 - timedelta(days=1)):  # a profile changed after T0 would be re-learned
        customer = make_customer(name="Noor", time_zone="Europe/Paris")
        contact_point_add(actor=None, customer=customer, kind="whatsapp", value=WA_PHONE)
    _on_whatsapp(customer, whatsapp, T0)
    periodic = {item.name: item for item in periodic_tasks()}["conversations.habits_refresh"]
    assert periodic.every_seconds == 3600

    with frozen_at(T0 + timedelta(hours=1)):
        assert periodic.task.call() == 1
        assert periodic.task.call() == 0

    assert CustomerHabits.objects.get(customer=customer).best_hours == [{"hour": 9, "count": 1}]
