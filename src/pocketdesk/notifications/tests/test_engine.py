"""The workflow engine through the real services: channel fallback stopped by a receipt or a
read and hurried by a failure, delays, digests, throttles, critical bypass, consent checked
again at send time, and nothing sent twice when a run is repeated."""

import base64
from datetime import UTC, datetime, time, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pocketdesk.core.clock import frozen_at
from pocketdesk.customers.services import consent_set, habits_store, push_subscription_add
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.services import channel_create, outbound_mark
from pocketdesk.notifications.models import AlertRule, Delivery, Notification, Workflow
from pocketdesk.notifications.services.bell import notification_read
from pocketdesk.notifications.services.configuration import broadcast_send, segment_create
from pocketdesk.notifications.services.engine import notifications_due_send
from pocketdesk.notifications.services.events import event_accept
from pocketdesk.notifications.services.fanout import event_fan_out
from pocketdesk.notifications.services.subscriptions import subscription_add
from pocketdesk.notifications.tasks import notifications_due
from pocketdesk.notifications.tests.factories import customer, twilio_channel

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DELAY = {"flight": "AC123", "new_time": "18:40"}
FALLBACK = [
    {"type": "send", "channels": ["webpush", "phone", "email"], "fallback_after_minutes": 10}
]


@pytest.fixture
def channels(db):
    twilio_channel()
    channel_create(actor=None, kind="webpush", name="Push", address="", credentials={})
    channel_create(
        actor=None,
        kind="email",
        name="Alerts",
        address="alerts@test.example",
        credentials={"inbound_secret": "s" * 32, "smtp_url": "smtp://127.0.0.1:9"},
    )


@pytest.fixture
def partner(make_user):
    return make_user("partner")


def _workflow(key, steps, **fields):
    now = NOON
    return Workflow.objects.create(
        key=key, name=key, steps=steps, created_at=now, updated_at=now, **fields
    )


def _rule(workflow, *, event_type="flight.delayed", condition="", priority=100):
    return AlertRule.objects.create(
        name=workflow.key,
        event_type=event_type,
        condition=condition,
        workflow=workflow,
        priority=priority,
        created_at=NOON,
        updated_at=NOON,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# A browser's subscription keys: a P-256 public point and a 16-byte secret.
P256DH = _b64(
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)


def _passenger(n, *, user=None, **kwargs):
    made = customer(n, email=True, user=user, **kwargs)
    push_subscription_add(
        actor=None,
        customer=made,
        endpoint=f"https://push.test.example/sub/{n}",
        p256dh=P256DH,
        auth=_b64(bytes(16)),
    )
    return made


def _send(partner, subject, *, source_id="e1", critical=False, at=NOON, type_="flight.delayed"):
    with frozen_at(at):
        event, _ = event_accept(
            actor=partner,
            type=type_,
            source_id=source_id,
            subject=subject,
            payload=DELAY,
            critical=critical,
        )
        event_fan_out(event_id=event.pk)
        notifications_due_send()
    return event


def _run(at):
    with frozen_at(at):
        return notifications_due_send()


def _kinds(notification):
    return list(notification.deliveries.order_by("pk").values_list("channel_kind", flat=True))


def test_push_falls_back_to_sms_then_email_when_nothing_is_delivered(channels, partner):
    _rule(_workflow("delay-fallback", FALLBACK))
    ada = _passenger(1)
    _send(partner, {"customer": ada.public_id})
    notification = Notification.objects.get()
    assert (notification.status, _kinds(notification)) == ("waiting", ["webpush"])
    assert notification.deliver_after == NOON + timedelta(minutes=10)

    assert _run(NOON + timedelta(minutes=9)) == 0  # not yet
    _run(NOON + timedelta(minutes=10))
    notification.refresh_from_db()
    assert (notification.status, _kinds(notification)) == ("waiting", ["webpush", "phone"])

    _run(NOON + timedelta(minutes=20))
    notification.refresh_from_db()
    # the last channel: nothing to fall back to, it stays queued with the outbox
    assert (notification.status, _kinds(notification)) == ("queued", ["webpush", "phone", "email"])
    assert _run(NOON + timedelta(hours=5)) == 0
    assert Outbound.objects.count() == 3
    recipients = set(Outbound.objects.values_list("recipient", flat=True))
    assert recipients == {
        "https://push.test.example/sub/1",
        "+447911100001",
        "passenger1@test.example",
    }


def test_a_delivery_receipt_stops_the_fallback_and_a_failure_hurries_it(channels, partner):
    _rule(_workflow("delay-fallback", FALLBACK))
    ada, bob = _passenger(1), _passenger(2)
    _send(partner, {"customer": ada.public_id}, source_id="a")
    _send(partner, {"customer": bob.public_id}, source_id="b")
    to_ada = Notification.objects.get(customer=ada)
    to_bob = Notification.objects.get(customer=bob)

    with frozen_at(NOON + timedelta(minutes=1)):
        outbound_mark(outbound=to_ada.deliveries.get().outbound, status="delivered")
        outbound_mark(outbound=to_bob.deliveries.get().outbound, status="failed")
    to_ada.refresh_from_db()
    to_bob.refresh_from_db()
    assert to_ada.status == "delivered"
    assert to_ada.deliveries.get().status == "delivered"
    # Bob's push failed: the SMS goes on the next run, not ten minutes later.
    assert (to_bob.status, to_bob.deliver_after) == ("waiting", NOON + timedelta(minutes=1))
    _run(NOON + timedelta(minutes=1))
    to_bob.refresh_from_db()
    assert _kinds(to_bob) == ["webpush", "phone"]
    assert _kinds(to_ada) == ["webpush"]


def test_reading_it_in_the_app_stops_the_fallback(channels, partner, make_user):
    _rule(
        _workflow(
            "bell-first",
            [{"type": "send", "channels": ["in_app", "email"], "fallback_after_minutes": 30}],
        )
    )
    login = make_user("customer")
    ada = _passenger(1, user=login)
    _send(partner, {"customer": ada.public_id})
    notification = Notification.objects.get()
    assert (notification.status, _kinds(notification)) == ("waiting", ["in_app"])

    with frozen_at(NOON + timedelta(minutes=5)):
        notification_read(actor=login, notification=notification)
    _run(NOON + timedelta(hours=1))
    notification.refresh_from_db()
    assert notification.status == "delivered"
    assert _kinds(notification) == ["in_app"]
    assert not Outbound.objects.exists()


def test_a_delay_then_a_send_and_a_re_run_sends_nothing_twice(channels, partner):
    _rule(
        _workflow(
            "remind-later",
            [{"type": "delay", "minutes": 60}, {"type": "send", "channels": ["email"]}],
        )
    )
    ada = _passenger(1)
    _send(partner, {"customer": ada.public_id})
    notification = Notification.objects.get()
    assert (notification.status, notification.deliver_after) == (
        "scheduled",
        NOON + timedelta(hours=1),
    )
    assert not Delivery.objects.exists()
    _run(NOON + timedelta(hours=1))
    _run(NOON + timedelta(hours=1, minutes=1))
    notification.refresh_from_db()
    assert (notification.status, _kinds(notification)) == ("queued", ["email"])
    assert Outbound.objects.count() == 1


def test_a_digest_folds_events_of_the_window_into_one_message(channels, partner):
    _rule(
        _workflow(
            "gate-changes",
            [{"type": "digest", "window_minutes": 15}, {"type": "send", "channels": ["email"]}],
        )
    )
    ada = _passenger(1)
    for n, minute in enumerate((0, 4, 9)):
        with frozen_at(NOON + timedelta(minutes=minute)):
            event, _ = event_accept(
                actor=partner,
                type="flight.delayed",
                source_id=f"d{n}",
                subject={"customer": ada.public_id},
                payload={"flight": "AC123", "new_time": f"18:{40 + n}"},
            )
            event_fan_out(event_id=event.pk)
            notifications_due_send()
    statuses = list(Notification.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == ["scheduled", "digested", "digested"]
    assert not Outbound.objects.exists()

    _run(NOON + timedelta(minutes=15))
    (outbound,) = Outbound.objects.all()
    for new_time in ("18:40", "18:41", "18:42"):
        assert new_time in outbound.text
    # a fourth event after the window starts a new digest
    with frozen_at(NOON + timedelta(minutes=20)):
        event, _ = event_accept(
            actor=partner,
            type="flight.delayed",
            source_id="d4",
            subject={"customer": ada.public_id},
            payload=DELAY,
        )
        event_fan_out(event_id=event.pk)
        notifications_due_send()
    assert Notification.objects.filter(status="scheduled").count() == 1


def test_a_throttle_drops_what_is_over_the_limit_but_never_a_critical_one(channels, partner):
    _rule(
        _workflow(
            "throttled",
            [
                {"type": "throttle", "limit": 2, "period_minutes": 60},
                {"type": "send", "channels": ["email"]},
            ],
            category="flight-updates",
        )
    )
    ada = _passenger(1)
    for n in range(3):
        _send(
            partner, {"customer": ada.public_id}, source_id=f"t{n}", at=NOON + timedelta(minutes=n)
        )
    _send(partner, {"customer": ada.public_id}, source_id="t-critical", critical=True, at=NOON)
    statuses = list(Notification.objects.order_by("pk").values_list("status", "skip_reason"))
    assert statuses == [("queued", ""), ("queued", ""), ("skipped", "throttled"), ("queued", "")]
    # the period over, it goes through again
    _send(partner, {"customer": ada.public_id}, source_id="t-later", at=NOON + timedelta(hours=2))
    assert Notification.objects.order_by("-pk").first().status == "queued"


def test_critical_passes_quiet_hours_and_alerts_consent_but_never_marketing_consent(
    channels, partner
):
    night = [(d, time(9, 0), time(17, 0)) for d in range(7)]
    quiet = _passenger(1, windows=night, alerts=False)
    _send(
        partner,
        {"customer": quiet.public_id},
        source_id="c1",
        critical=True,
        at=NOON.replace(hour=22),
    )
    assert Notification.objects.get().status == "queued"

    marketing = _workflow("promo", [{"type": "send", "channels": ["email"]}], purpose="marketing")
    _rule(marketing, event_type="order.ready_for_pickup")
    _send(
        partner,
        {"customer": quiet.public_id},
        source_id="c2",
        critical=True,
        type_="order.ready_for_pickup",
    )
    promo = Notification.objects.get(event__source_id="c2")
    assert (promo.status, promo.skip_reason) == ("skipped", "no_marketing_consent")


def test_consent_withdrawn_while_waiting_for_the_send_window_skips_the_send(channels, partner):
    mornings = [(d, time(9, 0), time(17, 0)) for d in range(7)]
    ada = _passenger(1, windows=mornings)
    _send(partner, {"customer": ada.public_id}, at=NOON.replace(hour=20))
    notification = Notification.objects.get()
    assert notification.status == "scheduled"
    consent_set(actor=None, customer=ada, purpose="alerts", granted=False, source="web")
    _run(NOON.replace(hour=9) + timedelta(days=1))
    notification.refresh_from_db()
    assert (notification.status, notification.skip_reason) == ("skipped", "no_consent")
    assert not Outbound.objects.exists()


def test_a_customer_without_a_reachable_channel_is_skipped_not_lost(channels, partner):
    _rule(_workflow("sms-only", [{"type": "send", "channels": ["whatsapp"]}]))
    ada = _passenger(1)
    _send(partner, {"customer": ada.public_id})
    notification = Notification.objects.get()
    assert (notification.status, notification.skip_reason) == ("skipped", "no_contact")


def test_sms_stop_is_honoured_by_every_fallback(channels, partner):
    _rule(_workflow("delay-fallback", FALLBACK))
    ada = _passenger(1)
    consent_set(
        actor=None, customer=ada, purpose="transactional", granted=False, source="sms_keyword"
    )
    _send(partner, {"customer": ada.public_id})
    _run(NOON + timedelta(minutes=10))
    assert _kinds(Notification.objects.get()) == ["webpush", "email"]


def test_a_rule_condition_picks_the_workflow_per_customer(channels, partner):
    _rule(
        _workflow("french-email", [{"type": "send", "channels": ["email"]}]),
        condition='customer.language == "fr"',
        priority=1,
    )
    _rule(_workflow("others-sms", [{"type": "send", "channels": ["phone"]}]), priority=2)
    ada = _passenger(1)
    amelie = _passenger(2)
    amelie.language = "fr"
    amelie.save(update_fields=["language"])
    for who in (ada, amelie):
        _send(partner, {"customer": who.public_id}, source_id=who.public_id)
    assert _kinds(Notification.objects.get(customer=ada)) == ["phone"]
    assert _kinds(Notification.objects.get(customer=amelie)) == ["email"]


def test_a_broadcast_to_a_segment_goes_through_the_workflow_it_names(channels, admin_user):
    by_email = _workflow("by-email", [{"type": "send", "channels": ["email"]}])
    _rule(_workflow("rule-sms", [{"type": "send", "channels": ["phone"]}]), event_type="broadcast")
    french = _passenger(1)
    french.language = "fr"
    french.save(update_fields=["language"])
    _passenger(2)  # English: not in the segment
    segment = segment_create(
        actor=admin_user, key="french", name="French", filters={"language": ["fr"]}
    )
    with frozen_at(NOON):
        event, _ = broadcast_send(
            actor=admin_user,
            segment=segment,
            title="Terminal works",
            text="Le terminal 2 ferme samedi.",
            source_id="b1",
            workflow=by_email,
        )
        event_fan_out(event_id=event.pk)
        notifications_due_send()
    (notification,) = Notification.objects.all()
    assert (notification.customer_id, notification.workflow_id) == (french.pk, by_email.pk)
    assert _kinds(notification) == ["email"]
    outbound = Outbound.objects.get()
    assert (outbound.text, outbound.extra["subject"]) == (
        "Le terminal 2 ferme samedi.",
        "Terminal works",
    )
    line = french.timeline.get(kind="notification.sent")
    assert line.summary.startswith("Terminal works by")


def test_without_a_ranking_of_their_own_the_learned_one_picks_the_channel(channels, partner):
    learned = _passenger(1)
    habits_store(customer=learned, channel_ranking=["email", "phone"], channel_confidence=0.7)
    chosen = _passenger(2, ranking=["phone", "email"])
    habits_store(customer=chosen, channel_ranking=["email", "phone"], channel_confidence=0.7)
    for who in (learned, chosen):
        _send(partner, {"customer": who.public_id}, source_id=who.public_id)
    assert _kinds(Notification.objects.get(customer=learned)) == ["email"]
    assert _kinds(Notification.objects.get(customer=chosen)) == ["phone"]


def test_a_retired_push_subscription_falls_back_to_sms_not_past_it(channels, partner):
    _rule(_workflow("delay-fallback", FALLBACK))
    ada = _passenger(1)
    _send(partner, {"customer": ada.public_id})
    notification = Notification.objects.get()
    # the push service answered 410: the subscription is gone, the delivery failed
    ada.contact_points.filter(kind="webpush").delete()
    with frozen_at(NOON + timedelta(minutes=1)):
        outbound_mark(outbound=notification.deliveries.get().outbound, status="failed")
    _run(NOON + timedelta(minutes=1))
    notification.refresh_from_db()
    assert _kinds(notification) == ["webpush", "phone"]


def test_a_late_failure_of_an_earlier_attempt_does_not_undo_a_delivery(channels, partner):
    _rule(
        _workflow(
            "two", [{"type": "send", "channels": ["webpush", "phone"], "fallback_after_minutes": 5}]
        )
    )
    ada = _passenger(1)
    _send(partner, {"customer": ada.public_id})
    _run(NOON + timedelta(minutes=5))
    notification = Notification.objects.get()
    push, sms = notification.deliveries.order_by("pk")
    with frozen_at(NOON + timedelta(minutes=6)):
        outbound_mark(outbound=sms.outbound, status="delivered")
        outbound_mark(outbound=push.outbound, status="failed")
    notification.refresh_from_db()
    assert notification.status == "delivered"


def test_a_throttle_counts_notifications_held_back_by_a_send_window(channels, partner):
    _rule(
        _workflow(
            "one-a-day",
            [
                {"type": "throttle", "limit": 1, "period_minutes": 240},
                {"type": "send", "channels": ["phone"]},
            ],
            category="ops",
        )
    )
    evenings = [(d, time(18, 0), time(20, 0)) for d in range(7)]
    ada = _passenger(1, windows=evenings)
    for n in range(3):
        _send(
            partner, {"customer": ada.public_id}, source_id=f"w{n}", at=NOON + timedelta(minutes=n)
        )
    _run(NOON.replace(hour=18))
    statuses = sorted(Notification.objects.values_list("status", flat=True))
    assert statuses == ["queued", "skipped", "skipped"]
    assert Outbound.objects.count() == 1


def test_marketing_needs_marketing_consent_only(channels, partner):
    _rule(
        _workflow("promo", [{"type": "send", "channels": ["email"]}], purpose="marketing"),
        event_type="order.ready_for_pickup",
    )
    fan = _passenger(1, alerts=False)
    consent_set(actor=None, customer=fan, purpose="marketing", granted=True, source="web")
    _send(partner, {"customer": fan.public_id}, type_="order.ready_for_pickup")
    assert Notification.objects.get().status == "queued"


def test_a_fan_out_whose_task_was_lost_is_finished_by_the_due_sweep(channels, partner):
    ada, bob = _passenger(1), _passenger(2)
    for who in (ada, bob):
        subscription_add(actor=partner, customer=who, topic="flight:AC9:2026-11-25")
    with frozen_at(NOON):
        event, _ = event_accept(
            actor=partner,
            type="flight.delayed",
            source_id="lost",
            subject={"topic": "flight:AC9:2026-11-25"},
            payload=DELAY,
        )
    # the worker died before the fan-out: nothing written, the event still "accepted"
    with frozen_at(NOON + timedelta(seconds=10)):
        notifications_due.call()
    assert Notification.objects.count() == 0
    with frozen_at(NOON + timedelta(minutes=1)):
        notifications_due.call()
    event.refresh_from_db()
    assert (event.state, event.recipients) == ("fanned_out", 2)
    assert Outbound.objects.count() == 2


def test_a_customer_reminder_cannot_carry_the_business_s_words(make_customer, api_as):
    customer = make_customer()
    api = api_as(customer.user)
    broadcast = api.post(
        "/notifications/me/reminders",
        {
            "title": "x",
            "event_type": "broadcast",
            "rrule": "FREQ=DAILY",
            "payload": {"text": "BANK"},
        },
    )
    recall = api.post(
        "/notifications/me/reminders",
        {"title": "x", "event_type": "recall.notice", "rrule": "FREQ=DAILY"},
    )
    forged = api.post(
        "/notifications/me/reminders",
        {"title": "x", "rrule": "FREQ=DAILY", "payload": {"action": "Call +1 555 0100"}},
    )
    assert [r.status_code for r in (broadcast, recall, forged)] == [422, 422, 422]
    assert [r.json()["code"] for r in (broadcast, recall, forged)] == [
        "event_type_not_allowed",
        "event_type_not_allowed",
        "invalid_payload",
    ]
