"""The console's inbox and thread pages through Django's test client: who may open them, what a
row and a thread show (escaped), the filters, the reply/note forms with and without HTMX, the
controls, the partials the live updates fetch, and flat query counts."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pocketdesk.conversations.models import Conversation
from pocketdesk.conversations.services import inbox
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.customers.services import consent_set, preferences_update
from pocketdesk.messaging.models import Outbound

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def channel(db):
    return sms_channel()


@pytest.fixture
def thread(make_customer, channel):
    customer = make_customer(name="Noor Haddad", phone="+44 7911 123456")
    return customer_says(customer, "Where is my parcel?", channel=channel).conversation


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _thread_url(conversation) -> str:
    return f"/console/conversations/{conversation.public_id}/"


def test_only_staff_open_the_inbox_and_threads(make_customer, make_user, thread):
    for outsider in (thread.customer.user, make_user("employee")):
        client = _client(outsider)
        assert client.get("/console/inbox/").status_code == 403
        assert client.get(_thread_url(thread)).status_code == 403
        assert client.post(f"{_thread_url(thread)}reply/", {"text": "hi"}).status_code == 403
    anonymous = Client().get("/console/inbox/")
    assert (anonymous.status_code, anonymous["Location"].startswith("/login/")) == (302, True)
    assert not Outbound.objects.exists()
    assert _client(make_user("agent")).get("/console/conversations/cnv_nope/").status_code == 404


def test_inbox_row_shows_customer_channel_preview_assignee_priority(agent, make_user, thread):
    other = make_user("agent")
    other.name = "Sam Rivera"
    other.save()
    inbox.conversation_assign(actor=agent, conversation=thread, assignee=other)
    inbox.conversation_priority_set(actor=agent, conversation=thread, priority="urgent")
    page = _client(agent).get("/console/inbox/", {"view": "all"})
    assert page.status_code == 200
    body = page.content.decode()
    row = re.search(
        rf'<li class="conversation[^"]*" id="row-{thread.public_id}".*?</li>', body, re.S
    )
    assert row is not None
    text = row.group(0)
    for shown in ("Noor Haddad", "SMS (Twilio)", "Where is my parcel?", "Sam Rivera", "Urgent"):
        assert shown in text, shown
    assert "1 unread" in text
    assert 'href="/console/inbox/"' in body  # the console navigation has its entry
    assert f'href="{_thread_url(thread)}"' in text


def test_inbox_tabs_and_filters(agent, make_customer, channel):
    mine = customer_says(make_customer(name="Mine", phone="+44 7911 100001"), "a", channel=channel)
    loose = customer_says(
        make_customer(name="Loose", phone="+44 7911 100002"), "b", channel=channel
    )
    done = customer_says(make_customer(name="Done", phone="+44 7911 100003"), "c", channel=channel)
    inbox.conversation_assign(actor=agent, conversation=mine.conversation, assignee=agent)
    inbox.conversation_status_set(actor=agent, conversation=done.conversation, status="resolved")
    inbox.conversation_label_add(actor=agent, conversation=loose.conversation, name="Billing")
    client = _client(agent)

    def names(**params):
        body = client.get("/console/inbox/", params).content.decode()
        return set(re.findall(r'<a class="who" href="[^"]+">([^<]+)</a>', body))

    assert names() == {"Mine"}  # default: my open conversations
    assert names(view="unassigned") == {"Loose"}
    assert names(view="all", status="any") == {"Mine", "Loose", "Done"}
    assert names(view="all", status="resolved") == {"Done"}
    assert names(view="all", label="billing") == {"Loose"}
    assert names(view="all", channel="whatsapp") == set()
    assert names(view="all", q="loo") == {"Loose"}
    bad = client.get("/console/inbox/", {"view": "all", "status": "closed"})
    assert bad.status_code == 422
    # the list partial alone, for live refreshes
    partial = client.get("/console/inbox/", {"view": "all", "partial": "list"}, **HTMX)
    assert partial.content.decode().lstrip().startswith('<div id="inbox-list">')


def test_customer_text_is_escaped_everywhere(agent, make_customer, channel):
    customer = make_customer(name="<b>Eve</b>", phone="+44 7911 123457")
    message = customer_says(customer, "<script>alert('x')</script> hi", channel=channel)
    client = _client(agent)
    for url in (
        "/console/inbox/?view=all",
        _thread_url(message.conversation),
        f"{_thread_url(message.conversation)}messages/{message.public_id}/",
        f"/console/inbox/rows/{message.conversation.public_id}/?view=all",
    ):
        body = client.get(url).content.decode()
        assert "<script>alert(" not in body, url
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body, url
        assert "<b>Eve</b>" not in body, url


def test_thread_shows_messages_notes_status_and_the_customer(agent, thread, channel):
    customer = thread.customer
    preferences_update(actor=None, customer=customer, language="fr", time_zone="Europe/Paris")
    consent_set(actor=None, customer=customer, purpose="marketing", granted=False, source="web")
    reply = message_send(actor=agent, conversation=thread, text="On its way")
    note = inbox.note_add(actor=agent, conversation=thread, text="Carrier says Tuesday")
    later = customer_says(customer, "Thanks!", channel=channel, at=reply.created_at + timedelta(1))
    inbox.canned_reply_create(actor=agent, shortcut="bye", text="Bye {{customer.first_name}}")

    page = _client(agent).get(_thread_url(thread))

    assert page.status_code == 200
    body = page.content.decode()
    thread_html = body[
        body.index('<ol id="thread"') : body.index("</ol>", body.index('id="thread"'))
    ]
    ids = re.findall(r'data-message-id="([^"]+)"', thread_html)
    first = thread.messages.order_by("created_at").first()
    assert ids == [first.public_id, reply.public_id, note.public_id, later.public_id]
    assert 'class="msg msg-note"' in thread_html
    assert (
        f'data-message-id="{reply.public_id}" data-direction="outbound" data-status="queued"'
        in (thread_html)
    )
    assert '<textarea id="reply-text" name="text"' in body
    assert re.search(r'<button type="submit" class="primary">Send</button>', body)
    assert 'data-text="Bye Noor"' in body  # the canned reply, filled in
    for section in ('id="contact-points"', 'id="preferences"', 'id="consent"', 'id="timeline"'):
        assert section in body
    assert "+447911123456" in body
    assert '<dd data-field="language">fr</dd>' in body
    assert 'data-purpose="marketing"' in body
    # opening the thread read it
    thread.refresh_from_db()
    assert thread.unread_count == 0


def test_reply_form_without_javascript(agent, thread):
    client = _client(agent)
    response = client.post(f"{_thread_url(thread)}reply/", {"text": "Line one\r\nline two"})
    assert (response.status_code, response["Location"]) == (302, _thread_url(thread))
    assert Outbound.objects.get().text == "Line one\nline two"  # one character per line break
    refused = client.post(f"{_thread_url(thread)}reply/", {"text": "  "})
    assert refused.status_code == 422
    assert "Write a message or attach a file." in refused.content.decode()
    unknown = client.post(f"{_thread_url(thread)}reply/", {"text": "hi", "channel": "chn_x"})
    assert (unknown.status_code, Outbound.objects.count()) == (422, 1)


def test_reply_form_with_htmx_returns_the_message_or_the_error(agent, thread):
    client = _client(agent)
    sent = client.post(f"{_thread_url(thread)}reply/", {"text": "On its way"}, **HTMX)
    assert sent.status_code == 200
    body = sent.content.decode().strip()
    reply = thread.messages.get(direction="outbound")
    assert body.startswith(f'<li class="msg msg-outbound" id="message-{reply.public_id}"')
    refused = client.post(f"{_thread_url(thread)}reply/", {"text": ""}, **HTMX)
    assert refused.status_code == 422
    assert (refused["HX-Retarget"], refused["HX-Reswap"]) == ("#reply-error", "outerHTML")
    assert 'id="reply-error"' in refused.content.decode()


def test_note_form(agent, thread):
    client = _client(agent)
    added = client.post(f"{_thread_url(thread)}notes/", {"note": "Call back at 5"}, **HTMX)
    assert added.status_code == 200
    assert 'class="msg msg-note"' in added.content.decode()
    assert thread.messages.get(direction="note").text == "Call back at 5"
    assert not Outbound.objects.exists()
    refused = client.post(f"{_thread_url(thread)}notes/", {"note": " "})
    assert refused.status_code == 422


def test_controls_change_status_priority_assignee_labels(agent, make_user, thread):
    other = make_user("agent")
    client = _client(agent)
    url = f"{_thread_url(thread)}manage/"
    for data in (
        {"action": "status", "status": "snoozed", "snooze_hours": "4"},
        {"action": "priority", "priority": "high"},
        {"action": "assign", "assignee": other.public_id},
        {"action": "label_add", "label": "Refund"},
    ):
        response = client.post(url, data, **HTMX)
        assert response.status_code == 200, (data, response.content)
        assert response.content.decode().lstrip().startswith('<section id="controls"')
    thread.refresh_from_db()
    assert (thread.status, thread.priority, thread.assignee) == ("snoozed", "high", other)
    assert thread.snoozed_until is not None
    assert list(thread.labels.values_list("name", flat=True)) == ["Refund"]
    removed = client.post(url, {"action": "label_remove", "label": "Refund"})
    assert removed.status_code == 302
    assert not thread.labels.exists()
    nobody = client.post(url, {"action": "assign_next"}, **HTMX)
    assert nobody.status_code == 422
    assert "No agent is available" in nobody.content.decode()
    assert client.post(url, {"action": "explode"}, **HTMX).status_code == 422


def test_live_partials(agent, thread, channel):
    client = _client(agent)
    row_url = f"/console/inbox/rows/{thread.public_id}/"
    row = client.get(row_url, {"view": "all", "status": "open"}).content.decode()
    assert row.lstrip().startswith(
        f'<li class="conversation unread priority-normal" id="row-{thread.public_id}"'
    )
    inbox.conversation_status_set(actor=agent, conversation=thread, status="resolved")
    # no longer in the open list: an empty answer removes the row
    assert client.get(row_url, {"view": "all", "status": "open"}).content == b""
    message = thread.messages.get()
    partial = client.get(f"{_thread_url(thread)}messages/{message.public_id}/")
    assert partial.content.decode().lstrip().startswith('<li class="msg msg-inbound"')
    controls = client.get(f"{_thread_url(thread)}controls/")
    assert controls.content.decode().lstrip().startswith('<section id="controls"')
    missing = client.get(f"{_thread_url(thread)}messages/msg_nope/")
    assert missing.status_code == 404


def test_console_scripts_are_served(agent):
    client = _client(agent)
    for path in ("/static/conversations/inbox.js", "/static/conversations/console.css"):
        assert client.get(path).status_code == 200


def _flat(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_thread_page_queries_do_not_grow_with_history(agent, make_customer, channel):
    client = _client(agent)
    short = customer_says(make_customer(name="S", phone="+44 7911 100010"), "hi", channel=channel)
    long_customer = make_customer(name="L", phone="+44 7911 100011")
    for i in range(200):
        customer_says(long_customer, f"m{i}", channel=channel, at=T0 + timedelta(seconds=i))
    long = Conversation.objects.get(customer=long_customer)
    message_send(actor=agent, conversation=long, text="reply")
    inbox.note_add(actor=agent, conversation=long, text="note")
    _flat(client, _thread_url(short.conversation))  # both read: no unread left to clear
    _flat(client, _thread_url(long))
    assert _flat(client, _thread_url(short.conversation)) == _flat(client, _thread_url(long))


def test_inbox_page_queries_do_not_grow_with_conversations(agent, make_customer, channel):
    client = _client(agent)
    customer_says(make_customer(name="C0", phone="+44 7911 100100"), "hi", channel=channel)
    one = _flat(client, "/console/inbox/?view=all")
    for i in range(1, 30):
        customer = make_customer(name=f"C{i}", phone=f"+44 7911 1001{i:02d}")
        conversation = customer_says(customer, "hi", channel=channel).conversation
        inbox.conversation_assign(actor=agent, conversation=conversation, assignee=agent)
        inbox.conversation_label_add(actor=agent, conversation=conversation, name=f"l{i % 3}")
    assert _flat(client, "/console/inbox/?view=all") == one
