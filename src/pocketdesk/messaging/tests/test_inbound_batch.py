"""A burst of stored webhooks is processed as one batch: every message in its customer's one
thread, unknown senders as leads, a refused sender failing only its own event, and a query count
that does not grow with the batch."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.customers.models import Customer, TimelineEntry
from pocketdesk.messaging import services
from pocketdesk.messaging.fake_providers import twilio_sid
from pocketdesk.messaging.models import InboundEvent

SID = "AC" + "4" * 32
TOKEN = "twilio-token-batch-tests"
NUMBER = "+14155550166"


@pytest.fixture
def channel(db):
    return services.channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support",
        address=NUMBER,
        credentials={"account_sid": SID, "auth_token": TOKEN},
    )


def _store(settings, sender: str, body: str) -> None:
    params = {
        "MessageSid": twilio_sid("SM"),
        "AccountSid": SID,
        "From": sender,
        "To": NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    url = settings.PD_PUBLIC_URL + "/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    response = Client().post("/webhooks/twilio/sms", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200


def test_a_burst_lands_in_one_thread_per_customer(channel, settings, make_customer):
    known = make_customer(name="Grace", phone="+447911123400")
    earlier = services.inbound_events_process()  # nothing pending yet
    assert earlier == 0
    _store(settings, "+447911123400", "first")
    _store(settings, "+447911123401", "a stranger")
    _store(settings, "+447911123400", "second")
    _store(settings, "+447911123401", "the stranger again")

    assert services.inbound_events_process() == 4

    thread = Conversation.objects.get(customer=known)
    assert list(thread.messages.order_by("created_at").values_list("text", flat=True)) == [
        "first",
        "second",
    ]
    assert thread.unread_count == 2
    lead = Customer.objects.get(contact_points__value="+447911123401")
    assert lead.is_lead
    assert Conversation.objects.get(customer=lead).messages.count() == 2
    assert TimelineEntry.objects.filter(customer=known, kind="message.received").count() == 2
    assert not InboundEvent.objects.exclude(state="processed").exists()


def test_a_refused_sender_fails_only_its_own_event(channel, settings):
    _store(settings, "+447911123402", "fine")
    _store(settings, "not-a-number", "spam")
    _store(settings, "+447911123403", "also fine")

    services.inbound_events_process()

    states = dict(InboundEvent.objects.values_list("payload__Body", "state"))
    assert states == {"fine": "processed", "spam": "failed", "also fine": "processed"}
    assert Message.objects.count() == 2


def test_queries_do_not_grow_with_the_batch(channel, settings):
    def drain(count: int, offset: int) -> int:
        for i in range(count):
            _store(settings, f"+4479111235{offset + i:02d}", f"hello {i}")
        with CaptureQueriesContext(connection) as queries:
            services.inbound_events_process()
        assert Message.objects.count() == offset + count
        return len(queries)

    small = drain(3, 0)
    large = drain(30, 3)
    # Per message only the pushes' bookkeeping may add up, never a query per row.
    assert large <= small + 2, (small, large)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_webhooks_wakes_one_drain(channel, settings):
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    def drains() -> int:
        return DBTaskResult.objects.filter(task_path__endswith="inbound_drain").count()

    for i in range(5):
        _store(settings, f"+4479111236{i:02d}", f"burst {i}")
    assert drains() == 1
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    assert Message.objects.count() == 5
    # Once the drain has begun, the next webhook asks for a new one: nothing waits unseen.
    _store(settings, "+447911123699", "after the drain")
    assert drains() == 2
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    assert Message.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_a_drain_request_whose_task_was_lost_goes_stale(channel, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    from pocketdesk.core import clock
    from pocketdesk.messaging.models import InboundDrain

    # A webhook asked for a drain and its process died before enqueuing the task.
    InboundDrain.objects.create(pk=1, requested_at=clock.now())
    _store(settings, "+447911123610", "while the request is fresh")
    assert not DBTaskResult.objects.exists()  # it trusts the fresh request
    with clock.frozen_at(clock.now() + timedelta(seconds=11)):
        _store(settings, "+447911123611", "after it went stale")
    assert DBTaskResult.objects.filter(task_path__endswith="inbound_drain").count() == 1
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    assert Message.objects.count() == 2
