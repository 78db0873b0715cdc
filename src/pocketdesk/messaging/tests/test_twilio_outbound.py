"""Replies by SMS through the outbox: sent by the worker to (fake) Twilio's Messages API, receipts
back through the signed status webhook, retries with backoff, and no double send after a crash."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import TimelineEntry
from pocketdesk.messaging import services, tasks
from pocketdesk.messaging.adapters import twilio_sms
from pocketdesk.messaging.fake_providers import FakeProviders, twilio_sid
from pocketdesk.messaging.models import InboundEvent, Outbound

SID = "AC" + "2" * 32
TOKEN = "twilio-token-outbound-tests"
NUMBER = "+14155550123"


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def _sms_in(settings, sender: str, body: str) -> None:
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


@pytest.fixture
def fake():
    with FakeProviders(twilio_accounts={SID: TOKEN}, status_delay=0.02) as running:
        yield running


@pytest.fixture
def channel(db, fake):
    return services.channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support",
        address=NUMBER,
        credentials={"account_sid": SID, "auth_token": TOKEN},
        api_base=fake.base_url,
    )


def _thread(settings, sender: str) -> Conversation:
    _sms_in(settings, sender, "Where is my order?")
    _work()
    return Conversation.objects.get(customer__contact_points__value=sender)


def _posts(fake: FakeProviders) -> list:
    return [
        r for r in fake.received if r["method"] == "POST" and r["path"].endswith("Messages.json")
    ]


@pytest.mark.django_db(transaction=True)
def test_reply_goes_out_by_sms_and_receipts_arrive_signed(
    channel, fake, agent, live_server, settings
):
    settings.PD_PUBLIC_URL = live_server.url
    conversation = _thread(settings, "+447911123456")

    message = message_send(actor=agent, conversation=conversation, text="It left our depot today.")
    _work()

    (sent,) = _posts(fake)
    assert sent["params"]["To"] == ["+447911123456"]
    assert sent["params"]["From"] == [NUMBER]
    assert sent["params"]["Body"] == ["It left our depot today."]
    assert sent["params"]["StatusCallback"] == [live_server.url + "/webhooks/twilio/status"]
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert outbound.provider_id.startswith("SM")
    # The fake posts sent, then delivered, to our live server, signed as Twilio signs.
    assert fake.wait_idle(5)
    assert [hook["status"] for hook in fake.sent] == [204, 204]
    _work()
    outbound.refresh_from_db()
    assert outbound.status == Outbound.Status.DELIVERED
    assert InboundEvent.objects.filter(kind="status").count() == 2


@pytest.mark.django_db(transaction=True)
def test_out_of_order_receipts_never_move_back(channel, fake, agent, live_server, settings):
    settings.PD_PUBLIC_URL = live_server.url
    conversation = _thread(settings, "+447911120002")  # the fake sends delivered before sent
    message = message_send(actor=agent, conversation=conversation, text="On its way")
    _work()
    assert fake.wait_idle(5)
    _work()
    assert Outbound.objects.get(pk=message.outbound_id).status == Outbound.Status.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_undelivered_is_shown_and_written_to_the_timeline(
    channel, fake, agent, live_server, settings
):
    settings.PD_PUBLIC_URL = live_server.url
    conversation = _thread(settings, "+447911120000")  # unknown handset: 30005
    message = message_send(actor=agent, conversation=conversation, text="Hello?")
    _work()
    assert fake.wait_idle(5)
    _work()
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.error_code) == (Outbound.Status.UNDELIVERED, "30005")
    assert TimelineEntry.objects.filter(
        customer=conversation.customer, kind="message.failed"
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_forged_and_replayed_status_callbacks(channel, fake, agent, live_server, settings):
    settings.PD_PUBLIC_URL = live_server.url
    conversation = _thread(settings, "+447911123457")
    message_send(actor=agent, conversation=conversation, text="Hi")
    _work()
    assert fake.wait_idle(5)
    stored = InboundEvent.objects.filter(kind="status").count()
    delivered = fake.sent[-1]["params"]
    url = live_server.url + "/webhooks/twilio/status"
    client = Client()

    forged = RequestValidator("not-the-token").compute_signature(url, delivered)
    assert (
        client.post(
            "/webhooks/twilio/status", delivered, HTTP_X_TWILIO_SIGNATURE=forged
        ).status_code
        == 403
    )
    assert client.post("/webhooks/twilio/status", delivered).status_code == 403
    genuine = RequestValidator(TOKEN).compute_signature(url, delivered)
    replay = client.post("/webhooks/twilio/status", delivered, HTTP_X_TWILIO_SIGNATURE=genuine)
    assert replay.status_code == 204
    assert InboundEvent.objects.filter(kind="status").count() == stored


@pytest.mark.django_db(transaction=True)
def test_unreachable_provider_is_retried_with_backoff(channel, fake, agent, settings):
    conversation = _thread(settings, "+447911123458")
    port = fake.port
    fake.stop()
    message = message_send(actor=agent, conversation=conversation, text="Retry me")
    _work()
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.attempts) == (Outbound.Status.QUEUED, 1)
    assert outbound.error_code == "provider_unreachable"
    assert timedelta(seconds=20) < outbound.next_attempt_at - clock.now() < timedelta(seconds=40)
    assert services.outbound_due() == []  # not before its time

    with FakeProviders(port=port, twilio_accounts={SID: TOKEN}) as back:
        with clock.frozen_at(outbound.next_attempt_at + timedelta(seconds=30)):
            assert services.outbound_due() == [outbound.pk]
            tasks.messaging_sweep.enqueue()
            _work()
        outbound.refresh_from_db()
        assert outbound.status == Outbound.Status.SENT
        assert len(_posts(back)) == 1


@pytest.mark.django_db(transaction=True)
def test_rejected_credentials_fail_at_once(channel, fake, agent, settings):
    conversation = _thread(settings, "+447911123459")
    channel.credentials = {"account_sid": SID, "auth_token": "wrong"}
    channel.save()
    message = message_send(actor=agent, conversation=conversation, text="No")
    _work()
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.error_code) == (Outbound.Status.FAILED, "twilio_20003")


@pytest.mark.django_db(transaction=True)
def test_a_send_interrupted_after_the_provider_took_it_is_not_sent_again(
    channel, fake, agent, live_server, settings
):
    settings.PD_PUBLIC_URL = live_server.url
    conversation = _thread(settings, "+447911123460")
    message = message_send(actor=agent, conversation=conversation, text="Only once, please")
    outbound = Outbound.objects.get(pk=message.outbound_id)
    # A worker marked the row SENDING, Twilio accepted the message, and the worker died before
    # recording the sid: exactly what a crash at that point leaves behind.
    sid = twilio_sms.ADAPTER.send(channel, outbound)
    Outbound.objects.filter(pk=outbound.pk).update(
        status=Outbound.Status.SENDING,
        attempts=1,
        attempt_started_at=clock.now(),
    )
    # Its receipts arrive before anyone knows the sid: they wait. The queued task leaves the
    # row alone: its attempt may still be waiting for Twilio.
    assert fake.wait_idle(5)
    _work()
    waiting = InboundEvent.objects.filter(kind="status", state=InboundEvent.State.PENDING)
    assert waiting.count() == 2
    outbound.refresh_from_db()
    assert (outbound.status, outbound.provider_id) == (Outbound.Status.SENDING, None)

    # Past the send timeout the sweeper hands it to a worker, which asks Twilio first.
    with clock.frozen_at(clock.now() + timedelta(minutes=2)):
        tasks.messaging_sweep.enqueue()
        _work()

    outbound.refresh_from_db()
    assert outbound.provider_id == sid
    assert outbound.status == Outbound.Status.DELIVERED  # the waiting receipts were applied
    bodies = [p["params"]["Body"] for p in _posts(fake)]
    assert bodies == [["Only once, please"]]
    assert not waiting.exists()


@pytest.mark.django_db(transaction=True)
def test_opted_out_customer_gets_no_more_sms(channel, fake, agent, settings):
    conversation = _thread(settings, "+447911123461")
    _sms_in(settings, "+447911123461", "STOP")
    _work()
    with pytest.raises(ValidationFailed) as error:
        message_send(actor=agent, conversation=conversation, text="Still there?")
    assert error.value.code == "customer_opted_out"
    assert Message.objects.filter(direction="outbound").count() == 0
