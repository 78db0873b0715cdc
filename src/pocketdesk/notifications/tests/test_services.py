"""Events in and fan-out through the real services: idempotency, channel choice by ranking and
consent, send windows in the customer's zone, and a fan-out whose query count does not grow
with the audience."""

from datetime import UTC, datetime, time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pocketdesk.core.clock import frozen_at
from pocketdesk.core.errors import PermissionDenied, ValidationFailed
from pocketdesk.customers.services import consent_set
from pocketdesk.messaging.models import Outbound
from pocketdesk.notifications.models import Event, Notification, Subscription
from pocketdesk.notifications.services.engine import notifications_due_send
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.fanout import event_fan_out
from pocketdesk.notifications.services.subscriptions import subscription_add, subscription_remove
from pocketdesk.notifications.tests.factories import customer, twilio_channel

pytestmark = pytest.mark.django_db

MONDAY_3AM_UTC = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Sunday 22:00 in New York
DELAY = {"flight": "AC123", "new_time": "18:40"}


@pytest.fixture
def partner(make_user):
    return make_user("partner")


def _event(actor, subject, *, source_id="evt-1", critical=False, type_="flight.delayed"):
    event, _ = event_accept(
        actor=actor,
        type=type_,
        source_id=source_id,
        subject=subject,
        payload=DELAY,
        critical=critical,
    )
    return event


def _topic(n_subscribers: int, topic: str, actor, start: int) -> None:
    for n in range(start, start + n_subscribers):
        subscription_add(actor=actor, customer=customer(n), topic=topic)


def test_a_replayed_source_id_returns_the_original_and_notifies_once(partner):
    twilio_channel()
    ada = customer(10)
    first, created = event_accept(
        actor=partner,
        type="flight.delayed",
        source_id="ops-991",
        subject={"customer": ada.public_id},
        payload=DELAY,
    )
    event_fan_out(event_id=first.pk)
    again, created_again = event_accept(
        actor=partner,
        type="flight.delayed",
        source_id="ops-991",
        subject={"customer": ada.public_id},
        payload={"flight": "AC123", "new_time": "19:00"},
    )
    event_fan_out(event_id=again.pk)
    notifications_due_send()
    notifications_due_send()

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Event.objects.count() == 1
    assert Notification.objects.get().status == Notification.Status.QUEUED
    (outbound,) = Outbound.objects.all()
    assert outbound.text == "Your flight AC123 is delayed to 18:40."
    assert outbound.recipient == "+447911100010"


@pytest.mark.parametrize(
    ("type_", "subject", "code"),
    [
        ("flight.cancelled.maybe", {"topic": "flight:AC123"}, "unknown_event_type"),
        ("flight.delayed", {"topic": "flight AC123"}, "invalid_topic"),
        ("flight.delayed", {"topic": "x" * 201}, "invalid_topic"),
        ("flight.delayed", {"topic": ""}, "invalid_topic"),
        ("flight.delayed", {"segment": "vip"}, "unknown_segment"),
        ("flight.delayed", {"customer": "cus_x", "topic": "a"}, "invalid_subject"),
        ("flight.delayed", {}, "invalid_subject"),
        ("flight.delayed", {"customer": "cus_nobody"}, "unknown_customer"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_stored(partner, type_, subject, code):
    with pytest.raises(ValidationFailed) as refused:
        event_accept(actor=partner, type=type_, source_id="s-1", subject=subject, payload={})
    assert refused.value.code == code
    assert refused.value.status == 422
    assert not Event.objects.exists()


def test_customers_cannot_send_events(make_customer):
    someone = make_customer()
    with pytest.raises(PermissionDenied):
        event_accept(
            actor=someone.user,
            type="flight.delayed",
            source_id="s",
            subject={"customer": someone.public_id},
        )


def test_a_customer_manages_only_their_own_subscriptions(make_customer):
    ada, bob = make_customer(name="Ada"), make_customer(name="Bob")
    subscription_add(actor=ada.user, customer=ada, topic="order:55123")
    subscription_add(actor=ada.user, customer=ada, topic="order:55123")  # twice is harmless
    with pytest.raises(PermissionDenied):
        subscription_add(actor=ada.user, customer=bob, topic="order:55123")
    with pytest.raises(ValidationFailed):
        subscription_add(actor=ada.user, customer=ada, topic="order 55123")
    assert list(Subscription.objects.values_list("customer", "topic")) == [(ada.pk, "order:55123")]
    assert subscription_remove(actor=ada.user, customer=ada, topic="order:55123") is True
    assert not Subscription.objects.exists()


def test_topic_fan_out_notifies_every_subscriber_with_constant_queries(partner):
    twilio_channel()
    _topic(5, "flight:AC1:2026-11-23", partner, start=100)
    _topic(50, "flight:AC2:2026-11-23", partner, start=200)
    small = _event(partner, {"topic": "flight:AC1:2026-11-23"}, source_id="a")
    large = _event(partner, {"topic": "flight:AC2:2026-11-23"}, source_id="b")

    with CaptureQueriesContext(connection) as for_5:
        assert event_fan_out(event_id=small.pk) == 5
    with CaptureQueriesContext(connection) as for_50:
        assert event_fan_out(event_id=large.pk) == 50

    assert len(for_5.captured_queries) == len(for_50.captured_queries)
    inserts = [q for q in for_50.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    large.refresh_from_db()
    assert (large.recipients, large.state) == (50, Event.State.FANNED_OUT)
    assert set(large.notifications.values_list("channel_kind", "status")) == {
        ("phone", Notification.Status.SCHEDULED)
    }
    # A re-run (a retried task) adds nothing.
    assert event_fan_out(event_id=large.pk) == 50
    assert Notification.objects.count() == 55


def test_withdrawn_consent_skips_but_a_critical_event_still_reaches_them(partner):
    twilio_channel()
    withdrawn = customer(10, alerts=False)
    never_asked = customer(11, alerts=None)
    for who in (withdrawn, never_asked):
        subscription_add(actor=partner, customer=who, topic="lot:09506000134352:L42")

    routine = _event(partner, {"topic": "lot:09506000134352:L42"}, type_="maintenance.due")
    recall = _event(
        partner,
        {"topic": "lot:09506000134352:L42"},
        source_id="recall-1",
        type_="recall.notice",
        critical=True,
    )
    event_fan_out(event_id=routine.pk)
    event_fan_out(event_id=recall.pk)

    assert set(routine.notifications.values_list("status", "skip_reason")) == {
        (Notification.Status.SKIPPED, "no_alerts_consent")
    }
    assert set(recall.notifications.values_list("status", "channel_kind")) == {
        (Notification.Status.SCHEDULED, "phone")
    }
    notifications_due_send()
    assert Outbound.objects.count() == 2  # the recall only, to both
    assert Notification.objects.filter(status=Notification.Status.SKIPPED).count() == 2


def test_the_channel_follows_the_ranking_among_channels_that_can_send(partner):
    twilio_channel()  # SMS only: no e-mail channel is configured
    email_first = customer(10, email=True, ranking=["email", "phone"])
    stopped = customer(11, ranking=["phone"])
    consent_set(actor=None, customer=stopped, purpose="transactional", granted=False, source="sms")
    no_contact = customer(12, phone=False)
    for who in (email_first, stopped, no_contact):
        subscription_add(actor=partner, customer=who, topic="order:55123")

    event = _event(partner, {"topic": "order:55123"}, type_="order.ready_for_pickup")
    event_fan_out(event_id=event.pk)

    plans = {
        n.customer_id: (n.channel_kind, n.status, n.skip_reason) for n in event.notifications.all()
    }
    assert plans[email_first.pk] == ("phone", "scheduled", "")
    # STOP on SMS and no login for an in-app bell: nobody to reach.
    assert plans[stopped.pk] == ("in_app", "skipped", "no_contact")
    assert plans[no_contact.pk] == ("in_app", "skipped", "no_contact")


def test_quiet_hours_delay_to_the_next_window_in_the_customers_zone(partner):
    twilio_channel()
    every_day_9_to_20 = [(day, time(9), time(20)) for day in range(7)]
    new_yorker = customer(10, time_zone="America/New_York", windows=every_day_9_to_20)
    londoner = customer(11, time_zone="Europe/London", windows=every_day_9_to_20)
    anytime = customer(12, time_zone="America/New_York")
    for who in (new_yorker, londoner, anytime):
        subscription_add(actor=partner, customer=who, topic="flight:AC123:2026-11-23")

    with frozen_at(MONDAY_3AM_UTC):
        event = _event(partner, {"topic": "flight:AC123:2026-11-23"})
        urgent = _event(partner, {"topic": "flight:AC123:2026-11-23"}, source_id="u", critical=True)
        event_fan_out(event_id=event.pk)
        event_fan_out(event_id=urgent.pk)
        sent_at_3am = notifications_due_send()

    after = dict(event.notifications.values_list("customer_id", "deliver_after"))
    # Sunday 22:00 in New York: Monday 09:00 EST is 14:00 UTC. 03:00 in London: 09:00 GMT.
    assert after[new_yorker.pk] == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert after[londoner.pk] == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert after[anytime.pk] == MONDAY_3AM_UTC
    # Critical ignores the windows: all three of it went out at 03:00, plus the open one.
    assert sent_at_3am == 4
    assert set(urgent.notifications.values_list("status", flat=True)) == {"queued"}

    with frozen_at(datetime(2026, 11, 23, 9, 30, tzinfo=UTC)):
        assert notifications_due_send() == 1  # London opens
    with frozen_at(datetime(2026, 11, 23, 14, 0, tzinfo=UTC)):
        assert notifications_due_send() == 1  # New York opens
        assert notifications_due_send() == 0
    assert Outbound.objects.count() == 6


def test_in_app_when_no_channel_can_reach_them(partner, make_customer):
    ada = make_customer()  # e-mail only, and no e-mail channel configured
    consent_set(actor=None, customer=ada, purpose="alerts", granted=True, source="web")
    event = _event(partner, {"customer": ada.public_id}, type_="account.low_balance")
    event_fan_out(event_id=event.pk)
    assert notifications_due_send() == 1

    notification = Notification.objects.get()
    assert (notification.channel_kind, notification.status) == ("in_app", "sent")
    assert not Outbound.objects.exists()
    entry = ada.timeline.get(kind="notification.sent")
    assert entry.summary.startswith("Low balance in the app: Your balance is low")


def test_merging_two_customers_who_follow_the_same_topic_keeps_one_subscription(
    make_customer, admin_user, partner
):
    from pocketdesk.customers.services import customer_merge
    from pocketdesk.notifications.models import Notification, Subscription

    # given: both records follow the flight and were notified of the same event
    a = make_customer(name="Ada", phone="+447911123480")
    b = make_customer(name="Ada L.", phone="+447911123481")
    for record in (a, b):
        subscription_add(actor=admin_user, customer=record, topic="flight:AC123:2026-11-23")
        subscription_add(actor=admin_user, customer=record, topic=f"order:{record.pk}")
    event = _event(partner, {"topic": "flight:AC123:2026-11-23"}, source_id="merge-1")
    event_fan_out(event_id=event.pk)
    assert Notification.objects.filter(event=event).count() == 2
    # when
    customer_merge(actor=admin_user, source=b, target=a)
    # then: one of each clash is kept, the rest moves
    assert sorted(Subscription.objects.filter(customer=a).values_list("topic", flat=True)) == [
        "flight:AC123:2026-11-23",
        f"order:{a.pk}",
        f"order:{b.pk}",
    ]
    assert Notification.objects.filter(event=event, customer=a).count() == 1
    assert not Subscription.objects.filter(customer=b).exists()
