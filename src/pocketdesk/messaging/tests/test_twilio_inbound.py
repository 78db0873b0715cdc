"""Inbound SMS through Twilio's signed webhook: verified, stored raw once, processed by the
worker into the customer's thread; forged or unknown requests store nothing."""

import pytest
from django.core.management import call_command
from django.test import Client
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.customers.models import Consent, ContactPoint, Customer
from pocketdesk.customers.services import consent_set
from pocketdesk.messaging.fake_providers import FakeProviders, twilio_sid
from pocketdesk.messaging.models import InboundEvent
from pocketdesk.messaging.services import channel_create

SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token-for-tests"
NUMBER = "+14155550199"
PATH = "/webhooks/twilio/sms"


@pytest.fixture
def channel(db):
    return channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support line",
        address=NUMBER,
        credentials={"account_sid": SID, "auth_token": TOKEN},
    )


def _post(settings, params, *, token=TOKEN, sign=True):
    headers = {}
    if sign:
        url = settings.PD_PUBLIC_URL + PATH
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(token).compute_signature(url, params)
    return Client().post(PATH, params, **headers)


def _sms(body, *, sender="+447911123451", sid=None):
    return {
        "MessageSid": sid or twilio_sid("SM"),
        "AccountSid": SID,
        "From": sender,
        "To": NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


def _work():
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_unknown_sender_becomes_a_lead_with_a_thread(channel, settings):
    response = _post(settings, _sms("My parcel never arrived"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert InboundEvent.objects.get().state == "pending"  # stored before processing
    _work()
    point = ContactPoint.objects.get(kind="phone", value="+447911123451")
    assert point.customer.is_lead
    message = Message.objects.get()
    assert (message.text, message.direction, message.conversation.customer_id) == (
        "My parcel never arrived",
        "inbound",
        point.customer_id,
    )
    assert message.conversation.unread_count == 1
    assert point.customer.timeline.filter(kind="message.received").exists()
    assert InboundEvent.objects.get().state == "processed"


@pytest.mark.django_db(transaction=True)
def test_a_replayed_message_is_stored_and_threaded_once(channel, settings):
    params = _sms("Hello?", sid=twilio_sid("SM"))
    assert _post(settings, params).status_code == 200
    assert _post(settings, params).status_code == 200
    _work()
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_known_customer_continues_the_open_thread(channel, settings, make_customer):
    customer = make_customer(phone="+44 7911 123452")
    _post(settings, _sms("first", sender="+447911123452"))
    _post(settings, _sms("second", sender="+447911123452"))
    _work()
    conversation = Conversation.objects.get(customer=customer)
    assert list(
        conversation.messages.order_by("created_at", "id").values_list("text", flat=True)
    ) == ["first", "second"]
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    _post(settings, _sms("a new problem", sender="+447911123452"))
    _work()
    assert Conversation.objects.filter(customer=customer).count() == 2
    assert not Customer.objects.filter(is_lead=True).exists()


@pytest.mark.django_db(transaction=True)
def test_stop_and_start_keywords_change_consent(channel, settings, make_customer):
    customer = make_customer(phone="+44 7911 123453")
    for purpose in ("transactional", "alerts", "marketing"):
        consent_set(actor=None, customer=customer, purpose=purpose, granted=True, source="web")
    _post(settings, _sms("Stop", sender="+447911123453"))
    _work()
    assert not Consent.objects.filter(customer=customer, granted=True).exists()
    assert set(Consent.objects.filter(customer=customer).values_list("source", flat=True)) == {
        "sms_keyword"
    }
    _post(settings, _sms("START", sender="+447911123453"))
    _work()
    granted = set(
        Consent.objects.filter(customer=customer, granted=True).values_list("purpose", flat=True)
    )
    assert granted == {"transactional", "alerts"}


@pytest.mark.parametrize(
    ("change", "sign_with"),
    [
        ({}, "wrong-token"),  # forged
        ({"To": "+14155550100"}, TOKEN),  # not our number
        ({"To": "not a number"}, TOKEN),
        ({"AccountSid": "AC" + "2" * 32}, TOKEN),  # another account's
    ],
)
def test_forged_or_foreign_webhooks_are_refused_and_nothing_is_stored(
    channel, settings, change, sign_with
):
    response = _post(settings, {**_sms("hi"), **change}, token=sign_with)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_unsigned_webhook_is_refused(channel, settings):
    assert _post(settings, _sms("hi"), sign=False).status_code == 403
    assert not InboundEvent.objects.exists()


def test_signature_covers_the_body(channel, settings):
    params = _sms("original")
    url = settings.PD_PUBLIC_URL + PATH
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    tampered = {**params, "Body": "tampered"}
    assert Client().post(PATH, tampered, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_round_trip_through_the_fake_provider(channel, live_server, settings):
    settings.PD_PUBLIC_URL = live_server.url
    with FakeProviders(twilio_accounts={SID: TOKEN}) as fake:
        status = fake.send_inbound_sms(
            live_server.url + PATH,
            "+447911123454",
            NUMBER,
            "Sent from a real HTTP client",
            TOKEN,
            account_sid=SID,
        )
    assert status == 200
    _work()
    assert Message.objects.get().text == "Sent from a real HTTP client"


@pytest.mark.django_db(transaction=True)
def test_a_sender_that_is_no_phone_number_fails_the_event_not_the_worker(channel, settings):
    # short codes and alphanumeric senders cannot become contact points
    _post(settings, _sms("promo", sender="VODAFONE"))
    _work()
    event = InboundEvent.objects.get()
    assert event.state == "failed"
    assert "not a phone number" in event.error
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_malformed_media_count_does_not_stall_the_event(channel, settings):
    _post(settings, {**_sms("photo attached", sender="+447911123455"), "NumMedia": "lots"})
    _work()
    assert InboundEvent.objects.get().state == "processed"
    assert Message.objects.get().media == []


def test_webhooks_take_the_fast_path_but_keep_the_body_limit(channel, settings):
    settings.PD_MAX_BODY_BYTES = 2_000
    response = _post(settings, _sms("x" * 5_000))
    assert response.status_code == 413
    assert response["X-Content-Type-Options"] == "nosniff"
    assert InboundEvent.objects.count() == 0
    # No session or CSRF machinery on a webhook: no cookie is ever set.
    ok = _post(settings, _sms("short"))
    assert ok.status_code == 200
    assert not ok.cookies
