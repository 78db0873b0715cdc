"""Switch modality: a single-use, expiring link sent by SMS that signs the customer in and opens
the same thread in web chat; used twice, expired, forged or opened while signed in as someone
else, it shows a clear page and changes nothing."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Message, SwitchLink
from pocketdesk.conversations.services.switch_links import switch_link_create
from pocketdesk.conversations.services.webchat import customer_message_post
from pocketdesk.conversations.tests.callback_factories import (
    MONDAY_8AM,
    link_token,
    sent_text,
    sms_conversation,
)
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core import clock
from pocketdesk.core.errors import PermissionDenied, ValidationFailed
from pocketdesk.customers.services import customer_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel() -> Any:
    return sms_channel()


@pytest.fixture
def frozen() -> Any:
    with clock.frozen_at(MONDAY_8AM):
        yield MONDAY_8AM


def _open(client: Client, token: str) -> Any:
    """What a customer does: open the link, then press Continue."""
    page = client.get(f"/app/switch/{token}/")
    if page.status_code != 200:
        return page
    return client.post(f"/app/switch/{token}/")


def test_the_link_goes_by_sms_and_the_thread_shows_it_redacted(
    frozen, make_customer, channel, agent
):
    conversation = sms_conversation(make_customer, channel)

    link = switch_link_create(actor=agent, conversation=conversation, ttl=timedelta(minutes=30))

    assert link.expires_at == MONDAY_8AM + timedelta(minutes=30)
    assert link.message.channel == channel
    token = link_token(link.message)
    assert "works once and for 30 minutes" in sent_text(link.message)
    shown = Message.objects.get(pk=link.message.pk).text
    assert token not in shown
    assert "/app/switch/…" in shown
    assert token not in str(SwitchLink.objects.values_list().get())


def test_the_link_signs_the_customer_in_and_opens_the_thread_once(
    frozen, make_customer, channel, agent
):
    conversation = sms_conversation(make_customer, channel)
    token = link_token(switch_link_create(actor=agent, conversation=conversation).message)
    phone = Client()

    page = phone.get(f"/app/switch/{token}/")
    assert page.status_code == 200
    assert b"switch-continue" in page.content
    assert SwitchLink.objects.get().used_at is None  # opening (or a link preview) uses nothing

    opened = phone.post(f"/app/switch/{token}/")
    assert opened.status_code == 302
    assert opened["Location"] == f"/app/conversations/{conversation.public_id}/"
    thread = phone.get(opened["Location"])
    assert thread.status_code == 200
    assert b"Please call me" in thread.content
    assert SwitchLink.objects.get().used_at == MONDAY_8AM

    # the same link again, in another browser
    again = _open(Client(), token)
    assert again.status_code == 410
    assert b"This link has been used" in again.content
    assert b'data-code="link_used"' in again.content


def test_a_customer_without_a_login_gets_one_without_a_password(frozen, channel, agent):
    customer = customer_create(actor=None, name="Sam", phone="+44 7911 123499")
    conversation = customer_says(customer, "hello?", channel=channel).conversation
    token = link_token(switch_link_create(actor=agent, conversation=conversation).message)
    phone = Client()

    assert _open(phone, token).status_code == 302

    customer.refresh_from_db()
    user = User.objects.get(pk=customer.user_id)
    assert user.role == "customer"
    assert not user.has_usable_password()
    assert user.email == f"{customer.public_id}@customers.invalid"
    assert phone.get(f"/app/conversations/{conversation.public_id}/").status_code == 200


def test_an_expired_link_changes_nothing(frozen, make_customer, channel, agent):
    conversation = sms_conversation(make_customer, channel)
    token = link_token(
        switch_link_create(actor=agent, conversation=conversation, ttl=timedelta(minutes=5)).message
    )
    phone = Client()
    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=5)):
        page = phone.get(f"/app/switch/{token}/")
        pressed = phone.post(f"/app/switch/{token}/")
    assert (page.status_code, pressed.status_code) == (410, 410)
    assert b"This link has expired" in pressed.content
    assert SwitchLink.objects.get().used_at is None
    assert "_auth_user_id" not in phone.session


def test_a_forged_link_is_not_found(frozen, make_customer, channel, agent):
    conversation = sms_conversation(make_customer, channel)
    token = link_token(switch_link_create(actor=agent, conversation=conversation).message)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    phone = Client()
    for response in (phone.get(f"/app/switch/{forged}/"), phone.post(f"/app/switch/{forged}/")):
        assert response.status_code == 404
        assert b"This link does not work" in response.content
    assert SwitchLink.objects.get().used_at is None


def test_signed_in_as_another_customer_the_link_is_refused(frozen, make_customer, channel, agent):
    conversation = sms_conversation(make_customer, channel)
    token = link_token(switch_link_create(actor=agent, conversation=conversation).message)
    someone = make_customer(name="Someone Else", phone="+44 7911 123498")
    browser = Client()
    browser.force_login(someone.user)

    page = browser.get(f"/app/switch/{token}/")
    pressed = browser.post(f"/app/switch/{token}/")

    assert (page.status_code, pressed.status_code) == (403, 403)
    assert b"sign out, then open it again" in pressed.content
    assert SwitchLink.objects.get().used_at is None
    assert int(browser.session["_auth_user_id"]) == someone.user.pk
    # the right customer can still use it
    assert _open(Client(), token).status_code == 302


def test_switch_links_are_refused_in_web_chat_and_with_a_bad_lifetime(
    frozen, make_customer, channel, agent
):
    conversation = sms_conversation(make_customer, channel)
    with pytest.raises(ValidationFailed) as short:
        switch_link_create(actor=agent, conversation=conversation, ttl=timedelta(minutes=1))
    assert short.value.code == "bad_ttl"
    with pytest.raises(PermissionDenied):
        switch_link_create(actor=conversation.customer.user, conversation=conversation)
    chatting = make_customer(name="In the app", phone="+44 7911 123497")
    message, _created = customer_message_post(
        actor=chatting.user, conversation=None, text="hi", client_id=str(uuid.uuid4())
    )
    with pytest.raises(ValidationFailed) as in_app:
        switch_link_create(actor=agent, conversation=message.conversation)
    assert in_app.value.code == "already_in_web_chat"
    assert not SwitchLink.objects.exists()
