"""WhatsApp's 24-hour customer-service window in the console: reply-info's `window` and the
thread page's notice near the reply box, from the customer's latest WhatsApp message in the
thread (per business number); replying outside it is not refused here (Meta decides)."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_receive
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core.clock import frozen_at
from pocketdesk.customers.models import Customer
from pocketdesk.customers.services import contact_point_add
from pocketdesk.messaging.fake_providers import whatsapp_message_id
from pocketdesk.messaging.handlers import InboundMessage
from pocketdesk.messaging.models import Channel, Outbound
from pocketdesk.messaging.services import channel_create

BASE = "/conversations"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WA_PHONE = "+447911123456"
OPEN_TEXT = "WhatsApp window open until"
CLOSED_TEXT = (
    "Outside WhatsApp's 24-hour window: only approved templates can be sent. "
    "Pick another channel or send a template."
)


@pytest.fixture(autouse=True)
def utc(settings):
    settings.TIME_ZONE = "UTC"


def _whatsapp(number_id: str = "106540352242922", name: str = "WhatsApp line") -> Channel:
    return channel_create(
        actor=None,
        kind="whatsapp",
        name=name,
        address=number_id,
        credentials={
            "app_secret": "meta-app-secret-for-tests",
            "verify_token": "verify-me-please",
            "access_token": "EAAG-test-access-token",
        },
    )


@pytest.fixture
def whatsapp(db) -> Channel:
    return _whatsapp()


@pytest.fixture
def customer(make_customer) -> Customer:
    customer = make_customer(name="Noor Haddad", phone="+44 7911 000111")
    contact_point_add(actor=None, customer=customer, kind="whatsapp", value=WA_PHONE)
    return customer


def _writes_on_whatsapp(customer: Customer, channel: Channel, at: datetime) -> Message:
    point = customer.contact_points.get(kind="whatsapp")
    return message_receive(
        InboundMessage(
            channel_id=channel.pk,
            customer_id=customer.pk,
            contact_point_id=point.pk,
            text="Is my order coming?",
            provider_id=whatsapp_message_id(WA_PHONE.lstrip("+")),
            received_at=at,
        )
    )


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _reply_info(api, conversation: Conversation, **params: str) -> dict:
    response = api.get(f"{BASE}/{conversation.public_id}/reply-info", params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_window_is_open_two_hours_after_the_customer_wrote(api_as, agent, customer, whatsapp):
    # given a customer who wrote on WhatsApp two hours ago
    conversation = _writes_on_whatsapp(customer, whatsapp, T0).conversation

    # when an agent asks where a reply would go
    with frozen_at(T0 + timedelta(hours=2)):
        info = _reply_info(api_as(agent), conversation)

    # then it goes to WhatsApp, whose window is open for 22 more hours
    assert info["channel"]["kind"] == "whatsapp"
    assert info["problem"] is None
    assert info["window"]["open"] is True
    assert _at(info["window"]["closes_at"]) == T0 + timedelta(hours=2) + timedelta(hours=22)


def test_window_is_closed_25_hours_after_and_replying_is_still_allowed(
    api_as, agent, customer, whatsapp
):
    conversation = _writes_on_whatsapp(customer, whatsapp, T0).conversation
    api = api_as(agent)

    with frozen_at(T0 + timedelta(hours=25)):
        info = _reply_info(api, conversation)
        # Meta decides (a refused send fails with meta_131047): the console does not block.
        sent = api.post(f"{BASE}/{conversation.public_id}/messages", {"text": "Still there?"})

    assert info["window"]["open"] is False
    assert _at(info["window"]["closes_at"]) == T0 + timedelta(hours=24)
    assert info["problem"] is None
    assert sent.status_code == 201, sent.content
    assert Outbound.objects.get().channel == whatsapp


def test_the_latest_whatsapp_message_counts_and_the_window_is_per_number(
    api_as, agent, customer, whatsapp
):
    # given a customer who wrote on WhatsApp 30 h and 3 h ago, then by SMS
    sms = sms_channel()
    _writes_on_whatsapp(customer, whatsapp, T0 - timedelta(hours=30))
    conversation = _writes_on_whatsapp(customer, whatsapp, T0 - timedelta(hours=3)).conversation
    customer_says(customer, "Or by text", channel=sms, at=T0 - timedelta(hours=1))
    other_number = _whatsapp("106540352240000", "Sales WhatsApp")
    api = api_as(agent)

    with frozen_at(T0):
        by_default = _reply_info(api, conversation)
        picked = _reply_info(api, conversation, channel=whatsapp.public_id)
        elsewhere = _reply_info(api, conversation, channel=other_number.public_id)

    # then SMS, the last channel, has no window; WhatsApp's is open from the latest message;
    # another business number never heard from the customer
    assert (by_default["channel"]["kind"], by_default["window"]) == ("twilio_sms", None)
    assert picked["window"]["open"] is True
    assert _at(picked["window"]["closes_at"]) == T0 + timedelta(hours=21)
    assert elsewhere["window"] == {"open": False, "closes_at": None}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _reply_form(body: str) -> str:
    start = body.index('<form id="reply"')
    return body[start : body.index("</form>", start)]


def _notice(form: str, channel: Channel) -> re.Match[str] | None:
    return re.search(
        rf'<p id="window-{channel.public_id}" class="window-notice ([^"]+)"[^>]*?'
        r"(?P<hidden> hidden)?>(?P<text>[^<]*)</p>",
        form,
    )


def test_thread_page_shows_the_open_window_near_the_reply_box(agent, customer, whatsapp):
    conversation = _writes_on_whatsapp(customer, whatsapp, T0).conversation

    with frozen_at(T0 + timedelta(hours=2)):
        page = _client(agent).get(f"/console/conversations/{conversation.public_id}/")

    assert page.status_code == 200
    notice = _notice(_reply_form(page.content.decode()), whatsapp)
    assert notice is not None
    assert notice["hidden"] is None
    assert notice["text"] == f"{OPEN_TEXT} 09:00"
    assert "Outside" not in notice["text"]


def test_thread_page_shows_the_closed_window(agent, customer, whatsapp):
    conversation = _writes_on_whatsapp(customer, whatsapp, T0).conversation

    with frozen_at(T0 + timedelta(hours=25)):
        page = _client(agent).get(f"/console/conversations/{conversation.public_id}/")

    notice = _notice(_reply_form(page.content.decode()), whatsapp)
    assert notice is not None
    assert notice["hidden"] is None
    assert html.unescape(notice["text"]) == CLOSED_TEXT
    assert 'class="window-notice error"' in notice[0]
    assert OPEN_TEXT not in page.content.decode()


def test_no_notice_for_other_channels(agent, make_customer):
    customer = make_customer(phone="+44 7911 000222")
    conversation = customer_says(customer, "Hello", channel=sms_channel()).conversation
    page = _client(agent).get(f"/console/conversations/{conversation.public_id}/")
    assert page.status_code == 200
    assert "window-notice" not in page.content.decode()


def test_thread_page_has_a_hidden_notice_for_a_whatsapp_channel_one_may_pick(
    agent, customer, whatsapp
):
    # given a customer who last wrote by SMS, but can be reached on WhatsApp
    conversation = customer_says(customer, "Hi", channel=sms_channel(), at=T0).conversation

    with frozen_at(T0 + timedelta(hours=1)):
        page = _client(agent).get(f"/console/conversations/{conversation.public_id}/")

    # then the WhatsApp notice is there for the picker (inbox.js shows it), hidden by default
    notice = _notice(_reply_form(page.content.decode()), whatsapp)
    assert notice is not None
    assert notice["hidden"] == " hidden"
    assert html.unescape(notice["text"]) == CLOSED_TEXT  # they never wrote on WhatsApp


def test_a_new_whatsapp_message_brings_the_reopened_window_along(agent, customer, whatsapp):
    # given a thread whose window closed
    conversation = _writes_on_whatsapp(customer, whatsapp, T0).conversation
    later = T0 + timedelta(hours=30)

    # when the customer writes again and the console fetches the new message
    with frozen_at(later):
        message = _writes_on_whatsapp(customer, whatsapp, later)
        url = f"/console/conversations/{conversation.public_id}/messages/{message.public_id}/"
        response = _client(agent).get(url)

    # then the message comes with the notice, open again, to swap out of band
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<li class="msg msg-inbound" id="message-{message.public_id}"')
    assert f'id="window-{whatsapp.public_id}"' in body
    assert 'hx-swap-oob="true"' in body
    assert f"{OPEN_TEXT} 15:00" in body


def test_reply_info_window_is_for_staff_only(api_as, customer, whatsapp):
    conversation = _writes_on_whatsapp(customer, whatsapp, T0).conversation
    response = api_as(customer.user).get(f"{BASE}/{conversation.public_id}/reply-info")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
