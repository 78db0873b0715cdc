"""The customer's conversations API (/api/v1/me/conversations) and the web chat channel:
scoped to the customer, idempotent by client_id, never showing internal notes, receipts from
the app moving the replies' outbox rows to delivered and read."""

import uuid

import pytest
from django.core.management import call_command
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.inbox import agent_profile_set, note_add
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.conversations.services.webchat import customer_message_post
from pocketdesk.core.errors import NotFound
from pocketdesk.messaging.adapters.webchat import channel_webchat
from pocketdesk.messaging.models import Channel, Outbound
from pocketdesk.messaging.services import channel_create, outbound_attempt

pytestmark = pytest.mark.django_db

API = "/me/conversations"


def _cid() -> str:
    return str(uuid.uuid4())


def _start(api, text="My parcel is late", client_id=None):
    response = api.post(API, {"text": text, "client_id": client_id or _cid()})
    assert response.status_code == 201, response.content
    return response.json()


def test_customer_starts_a_conversation_on_the_web_chat_channel(make_customer, api_as):
    # given a signed-in customer
    customer = make_customer()
    api = api_as(customer.user)

    # when they write their first message from the app
    message = _start(api, "  My parcel is late  ")

    # then a new open thread holds it, unread for the agents, replies going to web chat
    conversation = Conversation.objects.get(public_id=message["conversation"])
    assert message["text"] == "My parcel is late"
    assert message["sender"] == "customer"
    assert (conversation.customer_id, conversation.status, conversation.unread_count) == (
        customer.pk,
        "open",
        1,
    )
    assert conversation.last_channel == channel_webchat()
    assert conversation.last_channel.kind == "webchat"
    assert customer.timeline.filter(kind="message.received").count() == 1


def test_a_resent_client_id_returns_the_stored_message_once(make_customer, api_as):
    # given a message the app sent, whose answer it never saw (the connection dropped)
    customer = make_customer()
    api = api_as(customer.user)
    client_id = _cid()
    first = _start(api, "Hello", client_id=client_id)

    # when the offline queue sends it again, as a new thread and into the thread
    again = api.post(API, {"text": "Hello", "client_id": client_id})
    into = api.post(
        f"{API}/{first['conversation']}/messages", {"text": "Hello", "client_id": client_id}
    )

    # then both answer 200 with the stored message, and nothing was added
    assert (again.status_code, into.status_code) == (200, 200)
    assert again.json()["id"] == into.json()["id"] == first["id"]
    assert Message.objects.filter(client_id=client_id).count() == 1
    assert Conversation.objects.filter(customer=customer).count() == 1
    assert Conversation.objects.get().unread_count == 1
    assert customer.timeline.filter(kind="message.received").count() == 1


def test_a_client_id_reused_for_other_text_is_a_conflict(make_customer, api_as):
    customer = make_customer()
    api = api_as(customer.user)
    first = _start(api, "Hello", client_id="same-id-123")
    response = api.post(
        f"{API}/{first['conversation']}/messages", {"text": "Bye", "client_id": "same-id-123"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "client_id_reused"
    assert Message.objects.count() == 1


def test_messages_go_into_the_thread_and_reopen_it(make_customer, api_as):
    customer = make_customer()
    api = api_as(customer.user)
    first = _start(api)
    Conversation.objects.filter(public_id=first["conversation"]).update(
        status="resolved", unread_count=0
    )

    response = api.post(
        f"{API}/{first['conversation']}/messages", {"text": "Still late", "client_id": _cid()}
    )

    assert response.status_code == 201
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.unread_count) == ("open", 1)
    assert list(conversation.messages.order_by("created_at").values_list("text", flat=True)) == [
        "My parcel is late",
        "Still late",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "   ", "client_id": "a1b2c3d4-e5f6"}, "text"),
        ({"text": "x" * 10_001, "client_id": "a1b2c3d4-e5f6"}, "text"),
        ({"text": "Hi"}, "client_id"),
        ({"text": "Hi", "client_id": "short"}, "client_id"),
        ({"text": "Hi", "client_id": "<script>alert(1)</script>"}, "client_id"),
        ({"text": "Hi", "client_id": "x" * 65}, "client_id"),
        ({"client_id": "a1b2c3d4-e5f6"}, "text"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(make_customer, api_as, body, field):
    customer = make_customer()
    api = api_as(customer.user)
    conversation = _start(api)["conversation"]
    for path in (API, f"{API}/{conversation}/messages"):
        response = api.post(path, body)
        assert response.status_code == 422, response.content
        assert response.json()["code"] == "validation_error"
        assert [error["field"] for error in response.json()["errors"]] == [field]
    assert Message.objects.count() == 1


def test_another_customers_conversation_is_not_found(make_customer, api_as):
    # given two customers, one with a thread
    ada, bob = make_customer(), make_customer(name="Bob")
    theirs = _start(api_as(ada.user))["conversation"]
    bob_api = api_as(bob.user)

    # then the other cannot list, read, write or mark it read
    assert bob_api.get(API).json()["results"] == []
    assert bob_api.get(f"{API}/{theirs}").status_code == 404
    write = bob_api.post(f"{API}/{theirs}/messages", {"text": "hi", "client_id": _cid()})
    assert write.status_code == 404
    assert write.json()["code"] == "not_found"
    assert bob_api.post(f"{API}/{theirs}/read").status_code == 404
    assert Message.objects.count() == 1
    assert Conversation.objects.get().customer_read_at is None
    # and the service refuses too, whoever calls it
    with pytest.raises(NotFound):
        customer_message_post(
            actor=bob.user,
            conversation=Conversation.objects.get(),
            text="hi",
            client_id=_cid(),
        )


def test_staff_and_anonymous_cannot_use_the_customer_api(agent, api_as):
    assert api_as(agent).get(API).status_code == 403
    assert Client().get("/api/v1" + API).status_code == 401


def test_internal_notes_are_never_shown_to_the_customer(make_customer, api_as, agent):
    # given a thread with the customer's message, an agent's reply and an internal note
    customer = make_customer()
    api = api_as(customer.user)
    conversation = Conversation.objects.get(public_id=_start(api, "Where is it?")["conversation"])
    message_send(actor=agent, conversation=conversation, text="On its way!")
    note = note_add(actor=agent, conversation=conversation, text="VIP, refund if late again")

    # when the customer fetches the thread, all of it and what came after their message
    detail = api.get(f"{API}/{conversation.public_id}").json()
    first = detail["messages"][0]["id"]
    after = api.get(f"{API}/{conversation.public_id}", {"after": first}).json()
    listed = api.get(API).json()["results"][0]

    # then they see their message and the reply, never the note
    assert [(m["sender"], m["text"]) for m in detail["messages"]] == [
        ("customer", "Where is it?"),
        ("support", "On its way!"),
    ]
    assert [m["text"] for m in after["messages"]] == ["On its way!"]
    assert note.public_id not in str(detail) + str(after)
    assert listed["preview"] == "On its way!"
    assert api.get(f"{API}/{conversation.public_id}", {"after": note.public_id}).status_code == 404


def test_unread_replies_count_until_the_customer_reads(make_customer, api_as, agent):
    # given two agent replies to the customer's thread
    customer = make_customer()
    api = api_as(customer.user)
    conversation = Conversation.objects.get(public_id=_start(api)["conversation"])
    message_send(actor=agent, conversation=conversation, text="Looking into it")
    message_send(actor=agent, conversation=conversation, text="Found it")
    assert api.get(API).json()["results"][0]["unread_replies"] == 2

    # when the customer reads the thread
    assert api.post(f"{API}/{conversation.public_id}/read").status_code == 204

    # then nothing is unread until the next reply
    assert api.get(API).json()["results"][0]["unread_replies"] == 0
    message_send(actor=agent, conversation=conversation, text="Delivered tomorrow")
    assert api.get(API).json()["results"][0]["unread_replies"] == 1


@pytest.mark.django_db(transaction=True)
def test_fetching_marks_replies_delivered_and_reading_marks_them_read(make_customer, api_as, agent):
    # given an agent's reply on web chat, sent by the outbox worker
    customer = make_customer()
    api = api_as(customer.user)
    conversation = Conversation.objects.get(public_id=_start(api)["conversation"])
    reply = message_send(actor=agent, conversation=conversation, text="On its way")
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    outbound = Outbound.objects.get(pk=reply.outbound_id)
    assert outbound.status == "sent"
    assert outbound.provider_id == outbound.public_id  # the adapter calls nothing external

    # when the customer's app fetches the thread
    api.get(f"{API}/{conversation.public_id}")
    # then the reply is delivered
    outbound.refresh_from_db()
    assert outbound.status == "delivered"

    # when the customer reads it
    api.post(f"{API}/{conversation.public_id}/read")
    # then it is read, and the thread's read time is set
    outbound.refresh_from_db()
    assert outbound.status == "read"
    conversation.refresh_from_db()
    assert conversation.customer_read_at is not None

    # and a later fetch does not move it back
    api.get(f"{API}/{conversation.public_id}")
    outbound.refresh_from_db()
    assert outbound.status == "read"


def test_web_chat_channel_is_one_row_without_secrets(admin_user):
    channel = channel_webchat()
    assert channel_webchat() == channel
    assert (channel.kind, channel.address, channel.credentials) == ("webchat", "web", {})
    assert Channel.objects.filter(kind="webchat").count() == 1


def test_web_chat_adapter_sends_nothing_external_and_is_idempotent(make_customer, api_as, agent):
    # given a queued web chat reply
    customer = make_customer()
    conversation = Conversation.objects.get(public_id=_start(api_as(customer.user))["conversation"])
    reply = message_send(actor=agent, conversation=conversation, text="Hi")

    # when the outbox tries it twice
    outbound, _ = outbound_attempt(outbound_id=reply.outbound_id)
    again, _ = outbound_attempt(outbound_id=reply.outbound_id)

    # then it is sent once, with its own public id as the provider id
    assert (outbound.status, outbound.provider_id, outbound.attempts) == (
        "sent",
        outbound.public_id,
        1,
    )
    assert again.attempts == 1
    assert outbound.recipient == customer.public_id


def test_admins_can_configure_the_web_chat_channel_without_secrets(admin_user):
    channel = channel_create(
        actor=admin_user, kind="webchat", name="Chat", address="", credentials={}
    )
    assert (channel.address, channel.credentials) == ("web", {})
    assert channel_webchat() == channel


def test_a_new_web_chat_conversation_joins_the_round_robin(
    make_customer, api_as, agent, admin_user, settings
):
    # given automatic assignment and one available agent
    settings.PD_AUTO_ASSIGN = True
    agent_profile_set(actor=admin_user, agent=agent, available=True)

    # when a customer starts a conversation in the app
    started = _start(api_as(make_customer().user))

    # then the agent has it
    assert Conversation.objects.get(public_id=started["conversation"]).assignee == agent
