"""The staff conversation API over HTTP with bearer tokens: the inbox in cursor pages, a thread,
replies that go out by (fake) Twilio and show their receipts, notes, PATCH, assignment, labels,
canned replies, reply info; bad input answers 4xx with a code; only staff get in."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from twilio.request_validator import RequestValidator

from pocketdesk.conversations.models import Message
from pocketdesk.conversations.services import inbox
from pocketdesk.conversations.tests.factories import (
    SUPPORT_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    customer_says,
    sms_channel,
)
from pocketdesk.customers.services import consent_set
from pocketdesk.messaging.fake_providers import FakeProviders
from pocketdesk.messaging.models import Outbound
from pocketdesk.messaging.services import channel_create, inbound_drain, outbound_attempt

BASE = "/conversations"


@pytest.fixture
def channel(db):
    return sms_channel()


@pytest.fixture
def thread(make_customer, channel):
    customer = make_customer(name="Noor Haddad", phone="+44 7911 123456")
    return customer_says(customer, "Where is my parcel?", channel=channel).conversation


def _cursor(url):
    return parse_qs(urlsplit(url).query)["cursor"][0]


def test_inbox_in_cursor_pages(api_as, agent, make_customer, channel):
    for i in range(5):
        customer = make_customer(name=f"C{i}", phone=f"+44 7911 12300{i}")
        customer_says(customer, f"question {i}", channel=channel)
    api = api_as(agent)
    first = api.get(BASE, {"page_size": 3, "view": "all"})
    assert first.status_code == 200, first.content
    body = first.json()
    assert [c["customer"]["name"] for c in body["results"]] == ["C4", "C3", "C2"]
    row = body["results"][0]
    assert (row["channel_kind"], row["preview"], row["unread_count"], row["status"]) == (
        "twilio_sms",
        "question 4",
        1,
        "open",
    )
    assert body["previous"] is None
    second = api.get(BASE, {"page_size": 3, "view": "all", "cursor": _cursor(body["next"])}).json()
    assert [c["customer"]["name"] for c in second["results"]] == ["C1", "C0"]
    assert second["next"] is None
    assert api.get(BASE, {"view": "unassigned", "status": "open"}).json()["results"]


def test_inbox_query_count_is_flat(api_as, agent, make_customer, channel):
    api = api_as(agent)
    customer_says(make_customer(name="first", phone="+44 7911 120000"), "x", channel=channel)
    api.get(BASE)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(BASE).json()["results"]) == 1
    for i in range(1, 30):
        customer = make_customer(name=f"C{i}", phone=f"+44 7911 12{i:04d}")
        conversation = customer_says(customer, "x", channel=channel).conversation
        inbox.conversation_assign(actor=agent, conversation=conversation, assignee=agent)
        inbox.conversation_label_add(actor=agent, conversation=conversation, name=f"l{i % 4}")
    with CaptureQueriesContext(connection) as thirty:
        assert len(api.get(BASE, {"page_size": 50}).json()["results"]) == 30
    assert len(one) == len(thirty)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"view": "everyone"}, "view"),
        ({"status": "closed"}, "status"),
        ({"cursor": "zz"}, "cursor"),
    ],
)
def test_inbox_bad_filters_are_422(api_as, agent, params, field):
    response = api_as(agent).get(BASE, params)
    assert response.status_code == 422
    assert response.json()["code"] in {"validation_error", "bad_cursor"}
    assert field in response.json()["detail"] or field in str(response.json()["errors"])


def test_only_staff_read_the_inbox(api_as, make_customer, make_user, thread):
    customer = thread.customer
    for outsider in (customer.user, make_user("employee"), make_user("partner")):
        api = api_as(outsider)
        for path in (BASE, f"{BASE}/{thread.public_id}", f"{BASE}/{thread.public_id}/messages"):
            response = api.get(path)
            assert response.status_code == 403, (outsider.role, path)
            assert response.json()["code"] == "forbidden"
        refused = api.post(f"{BASE}/{thread.public_id}/messages", {"text": "hi"})
        assert refused.status_code == 403
    assert Client().get("/api/v1" + BASE).status_code == 401
    assert not Outbound.objects.exists()


def test_unknown_conversation_is_404(api_as, agent, db):
    response = api_as(agent).get(f"{BASE}/cnv_nope")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.fixture
def fake():
    with FakeProviders(twilio_accounts={TWILIO_SID: TWILIO_TOKEN}, status_delay=30) as running:
        yield running


def _receipt(settings, sid, status, error_code=""):
    params = {
        "MessageSid": sid,
        "MessageStatus": status,
        "ErrorCode": error_code,
        "AccountSid": TWILIO_SID,
        "From": SUPPORT_NUMBER,
        "To": "+447911123456",
    }
    url = settings.PD_PUBLIC_URL + "/webhooks/twilio/status"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    response = Client().post("/webhooks/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 204


def test_reply_goes_out_and_shows_its_receipts(api_as, agent, make_customer, fake, settings):
    # given an SMS thread on a channel that sends to (fake) Twilio
    channel = channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support",
        address=SUPPORT_NUMBER,
        credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
        api_base=fake.base_url,
    )
    customer = make_customer(name="Noor", phone="+44 7911 123456")
    conversation = customer_says(customer, "Where is my parcel?", channel=channel).conversation
    api = api_as(agent)

    # when the agent replies through the API
    response = api.post(f"{BASE}/{conversation.public_id}/messages", {"text": "  On its way!  "})

    # then the reply is queued in the outbox of the customer's channel
    assert response.status_code == 201, response.content
    reply = response.json()
    assert (reply["direction"], reply["text"], reply["channel_kind"], reply["status"]) == (
        "outbound",
        "On its way!",
        "twilio_sms",
        "queued",
    )
    assert reply["author"]["id"] == agent.public_id
    outbound = Outbound.objects.get()
    assert (outbound.recipient, outbound.text) == ("+447911123456", "On its way!")

    # when the worker sends it and Twilio reports it undelivered
    outbound_attempt(outbound_id=outbound.pk)
    sent = [r["params"]["Body"] for r in fake.received if r["path"].endswith("Messages.json")]
    assert sent == [["On its way!"]]
    outbound.refresh_from_db()
    _receipt(settings, outbound.provider_id, "undelivered", "30005")
    inbound_drain()

    # then the thread shows the message with its status and the provider's error code
    messages = api.get(f"{BASE}/{conversation.public_id}/messages").json()["results"]
    assert [(m["direction"], m["text"]) for m in messages] == [
        ("inbound", "Where is my parcel?"),
        ("outbound", "On its way!"),
    ]
    assert (messages[1]["status"], messages[1]["error_code"]) == ("undelivered", "30005")
    assert (messages[0]["status"], messages[0]["error_code"]) == (None, None)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"text": "   "}, 422, "validation_error"),
        ({"text": "hi", "channel": "chn_doesnotexist"}, 422, "unknown_channel"),
        ({"text": "x" * 10_001}, 422, "validation_error"),
        ({"channel": 12}, 422, "validation_error"),
    ],
)
def test_bad_replies_are_refused_and_nothing_is_queued(
    api_as, agent, thread, payload, status, code
):
    response = api_as(agent).post(f"{BASE}/{thread.public_id}/messages", payload)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not Outbound.objects.exists()
    assert thread.messages.count() == 1


def test_reply_to_a_customer_who_said_stop_is_refused(api_as, agent, thread):
    consent_set(
        actor=None,
        customer=thread.customer,
        purpose="transactional",
        granted=False,
        source="sms_keyword",
    )
    api = api_as(agent)
    info = api.get(f"{BASE}/{thread.public_id}/reply-info").json()
    assert info["problem"]["code"] == "customer_opted_out"
    response = api.post(f"{BASE}/{thread.public_id}/messages", {"text": "hello?"})
    assert (response.status_code, response.json()["code"]) == (422, "customer_opted_out")


def test_reply_info_counts_sms_segments(api_as, agent, thread, channel):
    api = api_as(agent)
    info = api.get(f"{BASE}/{thread.public_id}/reply-info", {"text": "a" * 161}).json()
    assert info["channel"] == {
        "id": channel.public_id,
        "kind": "twilio_sms",
        "name": "Support line",
    }
    assert info["segments"] == {"encoding": "GSM-7", "units": 161, "segments": 2}
    assert info["problem"] is None
    unicode = api.get(f"{BASE}/{thread.public_id}/reply-info", {"text": "ok 👍"}).json()
    assert unicode["segments"] == {"encoding": "UCS-2", "units": 5, "segments": 1}
    bad = api.get(f"{BASE}/{thread.public_id}/reply-info", {"channel": "chn_nope"})
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_channel")


def test_notes_stay_internal(api_as, agent, thread):
    api = api_as(agent)
    response = api.post(f"{BASE}/{thread.public_id}/notes", {"text": "VIP, be nice"})
    assert response.status_code == 201
    note = response.json()
    assert (note["direction"], note["status"], note["channel_kind"]) == ("note", None, None)
    assert not Outbound.objects.exists()
    empty = api.post(f"{BASE}/{thread.public_id}/notes", {"text": " "})
    assert empty.status_code == 422
    # the customer's own API never lists it
    mine = api_as(thread.customer.user).get(f"/me/conversations/{thread.public_id}")
    assert mine.status_code == 200
    assert "Where is my parcel?" in mine.content.decode()
    assert "VIP, be nice" not in mine.content.decode()


def test_patch_status_priority_assignee_subject(api_as, agent, make_user, thread):
    other = make_user("agent")
    api = api_as(agent)
    path = f"{BASE}/{thread.public_id}"
    response = api.patch(
        path,
        {
            "status": "pending",
            "priority": "high",
            "assignee": other.public_id,
            "subject": "Lost parcel",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["priority"], body["assignee"]["id"], body["subject"]) == (
        "pending",
        "high",
        other.public_id,
        "Lost parcel",
    )
    snooze = api.patch(path, {"status": "snoozed", "snoozed_until": "2099-01-01T09:00:00Z"})
    assert snooze.json()["snoozed_until"].startswith("2099-01-01T09:00:00")
    assert api.patch(path, {"assignee": None}).json()["assignee"] is None


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"status": "closed"}, "validation_error"),
        ({"priority": "asap"}, "validation_error"),
        ({"status": "snoozed"}, "snooze_needs_future_time"),
        (
            {"status": "snoozed", "snoozed_until": "2001-01-01T00:00:00Z"},
            "snooze_needs_future_time",
        ),
        ({"assignee": "usr_nobody"}, "unknown_agent"),
    ],
)
def test_bad_patches_change_nothing(api_as, agent, thread, payload, code):
    response = api_as(agent).patch(f"{BASE}/{thread.public_id}", {"priority": "urgent", **payload})
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    thread.refresh_from_db()
    assert (thread.status, thread.priority) == ("open", "normal")  # all or nothing


def test_assign_next_and_agents(api_as, agent, make_user, thread):
    api = api_as(agent)
    nobody = api.post(f"{BASE}/{thread.public_id}/assign-next")
    assert (nobody.status_code, nobody.json()["code"]) == (409, "no_agent_available")
    me = api.patch(f"{BASE}/agents/{agent.public_id}", {"available": True})
    assert (me.status_code, me.json()["available"]) == (200, True)
    assigned = api.post(f"{BASE}/{thread.public_id}/assign-next")
    assert assigned.json()["assignee"]["id"] == agent.public_id
    agents = {a["id"]: a for a in api.get(f"{BASE}/agents").json()}
    assert (agents[agent.public_id]["open_count"], agents[agent.public_id]["max_open"]) == (1, 10)
    other = make_user("agent")
    refused = api.patch(f"{BASE}/agents/{other.public_id}", {"available": True})
    assert refused.status_code == 403


def test_labels(api_as, agent, thread):
    api = api_as(agent)
    created = api.post(f"{BASE}/labels", {"name": "Billing", "colour": "#aa3300"})
    assert created.status_code == 201
    dup = api.post(f"{BASE}/labels", {"name": "billing"})
    assert (dup.status_code, dup.json()["code"]) == (409, "label_exists")
    bad = api.post(f"{BASE}/labels", {"name": "x", "colour": "red"})
    assert bad.status_code == 422
    put = api.post(f"{BASE}/{thread.public_id}/labels", {"name": "billing"})
    assert [label["name"] for label in put.json()] == ["Billing"]
    listed = api.get(BASE, {"label": "Billing"}).json()["results"]
    assert [c["id"] for c in listed] == [thread.public_id]
    assert api.delete(f"{BASE}/{thread.public_id}/labels/Billing").status_code == 204
    assert api.get(f"{BASE}/{thread.public_id}").json()["labels"] == []


def test_canned_replies(api_as, agent, thread):
    api = api_as(agent)
    created = api.post(
        f"{BASE}/canned-replies",
        {"shortcut": "hello", "title": "Hi", "text": "Hi {{customer.first_name}}!"},
    )
    assert created.status_code == 201, created.content
    listed = api.get(f"{BASE}/canned-replies", {"conversation": thread.public_id}).json()
    assert [(r["shortcut"], r["rendered"]) for r in listed] == [("hello", "Hi Noor!")]
    bad = api.post(f"{BASE}/canned-replies", {"shortcut": "x", "text": "{{customer.email}}"})
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_variable")


def test_messages_are_paged_oldest_to_newest(api_as, agent, thread, channel):
    for i in range(4):
        customer_says(thread.customer, f"more {i}", channel=channel)
    api = api_as(agent)
    page = api.get(f"{BASE}/{thread.public_id}/messages", {"page_size": 2}).json()
    assert [m["text"] for m in page["results"]] == ["more 2", "more 3"]
    older = api.get(page["previous"].split("/api/v1")[1]).json()
    assert [m["text"] for m in older["results"]] == ["more 0", "more 1"]
    assert Message.objects.filter(conversation=thread).count() == 5
