""" "Call me back" requests: a message of kind callback_request written by the customer in the
app (API, service, the PWA's form without JavaScript), idempotent by client_id, recorded on the
timeline, and shown distinctly in the console's inbox and thread and in the staff API."""

import re
import uuid

import pytest
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.webchat import customer_message_post
from pocketdesk.conversations.tests.factories import Listener, layer_settings
from pocketdesk.core.errors import Conflict, ValidationFailed
from pocketdesk.core.realtime import STAFF_GROUP

pytestmark = pytest.mark.django_db

ME = "/me/conversations"


def _cid() -> str:
    return str(uuid.uuid4())


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _callback(customer, text: str = "", conversation=None) -> Message:
    message, created = customer_message_post(
        actor=customer.user,
        conversation=conversation,
        text=text,
        client_id=_cid(),
        kind="callback_request",
    )
    assert created
    return message


# --- the customer API -----------------------------------------------------------------------


def test_a_callback_request_needs_no_text(make_customer, api_as):
    # given a signed-in customer
    customer = make_customer()
    api = api_as(customer.user)

    # when they ask to be called back from the app, without a note
    response = api.post(ME, {"kind": "callback_request", "client_id": _cid()})

    # then a new thread holds a callback request, unread for the agents, on the timeline
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["text"], body["sender"]) == ("callback_request", "", "customer")
    conversation = Conversation.objects.get(public_id=body["conversation"])
    assert (conversation.status, conversation.unread_count) == ("open", 1)
    entry = customer.timeline.get(kind="callback.requested")
    assert entry.summary == "Callback requested"
    assert entry.data["message"] == body["id"]


def test_a_callback_request_with_a_note_into_a_thread(make_customer, api_as):
    customer = make_customer()
    api = api_as(customer.user)
    first = api.post(ME, {"text": "My boiler is broken", "client_id": _cid()}).json()

    response = api.post(
        f"{ME}/{first['conversation']}/messages",
        {"kind": "callback_request", "text": "  After 5pm please ", "client_id": _cid()},
    )

    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["text"]) == (
        "callback_request",
        "After 5pm please",
    )
    conversation = Conversation.objects.get(public_id=first["conversation"])
    assert list(conversation.messages.order_by("created_at").values_list("kind", flat=True)) == [
        "text",
        "callback_request",
    ]
    assert (
        customer.timeline.get(kind="callback.requested").summary
        == "Callback requested: After 5pm please"
    )
    # the thread, as the app reads it, carries the kind
    thread = api.get(f"{ME}/{first['conversation']}").json()
    assert [m["kind"] for m in thread["messages"]] == ["text", "callback_request"]


def test_a_replayed_callback_request_is_stored_once(make_customer, api_as):
    # given a callback request the app sent, whose answer it never saw
    customer = make_customer()
    api = api_as(customer.user)
    client_id = _cid()
    payload = {"kind": "callback_request", "client_id": client_id}
    first = api.post(ME, payload)
    assert first.status_code == 201
    conversation = first.json()["conversation"]

    # when the offline queue sends it again, as a new thread and into the thread
    again = api.post(ME, payload)
    into = api.post(f"{ME}/{conversation}/messages", payload)

    # then both answer 200 with the stored request, and nothing was added
    assert (again.status_code, into.status_code) == (200, 200)
    assert again.json()["id"] == into.json()["id"] == first.json()["id"]
    assert Message.objects.filter(client_id=client_id).count() == 1
    assert customer.timeline.filter(kind="callback.requested").count() == 1

    # and the same id for a plain message is another message: a conflict
    reused = api.post(f"{ME}/{conversation}/messages", {"text": "", "client_id": client_id})
    assert reused.status_code == 422  # a text message needs text
    reused = api.post(f"{ME}/{conversation}/messages", {"text": "Hi", "client_id": client_id})
    assert (reused.status_code, reused.json()["code"]) == (409, "client_id_reused")
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "voice_call", "text": "Hi"}, "kind"),
        ({"kind": "", "text": "Hi"}, "kind"),
        ({"kind": "CALLBACK_REQUEST"}, "kind"),
        ({"kind": 7, "text": "Hi"}, "kind"),
        ({"kind": "text", "text": "   "}, "text"),
        ({"kind": "text"}, "text"),
        ({"kind": "callback_request", "text": "x" * 10_001}, "text"),
    ],
)
def test_only_text_and_callback_request_kinds_are_accepted(make_customer, api_as, body, field):
    customer = make_customer()
    api = api_as(customer.user)
    conversation = api.post(ME, {"text": "Hello", "client_id": _cid()}).json()["conversation"]
    for path in (ME, f"{ME}/{conversation}/messages"):
        response = api.post(path, {**body, "client_id": _cid()})
        assert response.status_code == 422, (path, response.content)
        assert response.json()["code"] == "validation_error"
        assert [error["field"] for error in response.json()["errors"]] == [field]
    assert Message.objects.count() == 1


# --- the service ----------------------------------------------------------------------------


def test_service_stores_the_kind_and_tells_the_agents(
    make_customer, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = layer_settings(str(tmp_path / "channels.sqlite3"))
    customer = make_customer()
    staff = Listener(STAFF_GROUP)

    with django_capture_on_commit_callbacks(execute=True):
        message = _callback(customer, " Mornings ")

    assert (message.kind, message.text, message.direction) == (
        "callback_request",
        "Mornings",
        "inbound",
    )
    assert message.channel.kind == "webchat"
    pushed = [data for event, data in staff.drain() if event == "message.created"]
    assert [(d["message"], d["kind"], d["preview"]) for d in pushed] == [
        (message.public_id, "callback_request", "Mornings")
    ]


def test_service_refuses_unknown_kinds_and_reuse_across_kinds(make_customer):
    customer = make_customer()
    with pytest.raises(ValidationFailed) as refused:
        customer_message_post(
            actor=customer.user, conversation=None, text="Hi", client_id=_cid(), kind="sms"
        )
    assert refused.value.extra["errors"][0]["field"] == "kind"
    client_id = _cid()
    customer_message_post(
        actor=customer.user,
        conversation=None,
        text="Hi",
        client_id=client_id,
        kind="callback_request",
    )
    # the same id and text, but a plain message: not the stored request
    with pytest.raises(Conflict):
        customer_message_post(
            actor=customer.user, conversation=None, text="Hi", client_id=client_id, kind="text"
        )
    with pytest.raises(ValidationFailed):
        customer_message_post(actor=customer.user, conversation=None, text=" ", client_id=_cid())
    assert Message.objects.count() == 1


# --- the console and the staff API ----------------------------------------------------------


def test_inbox_row_shows_the_callback_request_and_its_note(make_customer, agent):
    customer = make_customer(name="Noor Haddad")
    conversation = _callback(customer, "After 5pm").conversation
    plain = make_customer(name="Sam Lee")
    hello, _ = customer_message_post(
        actor=plain.user, conversation=None, text="Hello", client_id=_cid()
    )

    page = _client(agent).get("/console/inbox/?view=all")

    body = page.content.decode()
    start = body.index(f'id="row-{conversation.public_id}"')
    row = body[start : body.index("</li>", start)]
    assert re.search(r"📞</span> Callback requested</strong> · After 5pm", row)
    other = body[body.index(f'id="row-{hello.conversation.public_id}"') :]
    assert "Callback requested" not in other[: other.index("</li>")]


def test_inbox_row_of_a_callback_request_without_a_note(make_customer, agent):
    conversation = _callback(make_customer()).conversation
    row = _client(agent).get(f"/console/inbox/rows/{conversation.public_id}/?view=all")
    assert "📞</span> Callback requested</strong></p>" in row.content.decode()


def test_thread_shows_the_callback_request_distinctly(make_customer, agent):
    customer = make_customer()
    first, _ = customer_message_post(
        actor=customer.user, conversation=None, text="Boiler broken", client_id=_cid()
    )
    request = _callback(customer, "After <b>5pm</b>", conversation=first.conversation)

    page = _client(agent).get(f"/console/conversations/{first.conversation.public_id}/")

    body = page.content.decode()
    start = body.index(f'id="message-{request.public_id}"')
    item = body[body.rindex("<li", 0, start) : body.index("</li>", start)]
    assert item.startswith('<li class="msg msg-inbound msg-callback"')
    assert "📞</span> Callback requested" in item
    assert "After &lt;b&gt;5pm&lt;/b&gt;" in item
    assert ">callback_request<" not in item  # not the raw kind
    text_item = body[body.index(f'id="message-{first.public_id}"') :]
    assert "Callback requested" not in text_item[: text_item.index("</li>")]


def test_staff_api_carries_the_kind(make_customer, agent, api_as):
    customer = make_customer()
    request = _callback(customer, "Evenings")
    conversation = request.conversation
    api = api_as(agent)

    messages = api.get(f"/conversations/{conversation.public_id}/messages").json()["results"]
    inbox = api.get("/conversations", {"view": "all"}).json()["results"]

    assert [(m["id"], m["kind"], m["text"]) for m in messages] == [
        (request.public_id, "callback_request", "Evenings")
    ]
    assert (inbox[0]["preview_kind"], inbox[0]["preview"]) == ("callback_request", "Evenings")


# --- the customer's pages -------------------------------------------------------------------


@pytest.mark.parametrize("new", [True, False])
def test_pages_have_a_call_me_back_form(make_customer, new):
    customer = make_customer()
    client = _client(customer.user)
    if new:
        url = "/app/conversations/new/"
    else:
        url = f"/app/conversations/{_callback(customer).conversation.public_id}/"

    body = client.get(url).content.decode()

    start = body.index('<form id="callback"')
    form = body[start : body.index("</form>", start)]
    assert f'method="post" action="{url}"' in form
    assert '<input type="hidden" name="kind" value="callback_request">' in form
    assert re.search(r'name="client_id" value="[0-9a-f-]{36}"', form)
    assert "When suits you? (optional)" in form
    assert re.search(r'<button type="submit"[^>]*>Call me back</button>', form)
    assert 'name="text"' in form
    assert "required" not in form  # the note is optional


def test_call_me_back_without_javascript_posts_once(make_customer):
    # given the new-message page
    customer = make_customer()
    client = _client(customer.user)
    page = client.get("/app/conversations/new/").content.decode()
    form = page[page.index('<form id="callback"') :]
    client_id = re.search(r'name="client_id" value="([^"]+)"', form).group(1)

    # when "Call me back" is tapped twice, without a note
    data = {"kind": "callback_request", "client_id": client_id, "text": ""}
    first = client.post("/app/conversations/new/", data)
    second = client.post("/app/conversations/new/", data)

    # then one request in one thread, and the thread shows it
    conversation = Conversation.objects.get(customer=customer)
    assert first.status_code == second.status_code == 302
    assert (
        first["Location"] == second["Location"] == f"/app/conversations/{conversation.public_id}/"
    )
    assert list(conversation.messages.values_list("kind", "text")) == [("callback_request", "")]
    thread = client.get(first["Location"]).content.decode()
    assert "📞</span> Callback requested" in thread

    # and with a note, into the thread
    noted = client.post(
        first["Location"], {"kind": "callback_request", "client_id": _cid(), "text": "Tue am"}
    )
    assert noted.status_code == 302
    assert conversation.messages.filter(kind="callback_request", text="Tue am").exists()


def test_a_bad_kind_from_the_form_is_shown_on_the_callback_form(make_customer):
    customer = make_customer()
    client = _client(customer.user)
    refused = client.post(
        "/app/conversations/new/", {"kind": "callback_request", "client_id": "bad", "text": "Hi"}
    )
    assert refused.status_code == 422
    body = refused.content.decode()
    form = body[body.index('<form id="callback"') :]
    assert 'id="callback-error"' in form[: form.index("</form>")]
    assert 'value="Hi"' in form[: form.index("</form>")]
    assert 'id="composer-error"' not in body
    bogus = client.post(
        "/app/conversations/new/", {"kind": "fax", "client_id": _cid(), "text": "x"}
    )
    assert bogus.status_code == 422
    assert not Message.objects.exists()
