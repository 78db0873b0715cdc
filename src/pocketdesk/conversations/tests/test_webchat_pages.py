"""The customer's chat pages in the app (/app/conversations/) and the home "Messages" section."""

import re
import uuid

import pytest
from django.test import Client

from pocketdesk.conversations.models import Conversation
from pocketdesk.conversations.services.inbox import note_add
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.conversations.services.webchat import customer_message_post

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _thread(customer, text="My parcel is late") -> Conversation:
    message, _ = customer_message_post(
        actor=customer.user, conversation=None, text=text, client_id=str(uuid.uuid4())
    )
    return message.conversation


def test_list_shows_own_conversations_with_unread_replies(make_customer, agent):
    # given a customer with a thread an agent answered twice, and another customer's thread
    customer, other = make_customer(), make_customer(name="Bob")
    conversation = _thread(customer)
    message_send(actor=agent, conversation=conversation, text="Checking")
    message_send(actor=agent, conversation=conversation, text="Tomorrow!")
    theirs = _thread(other, "Bob's secret")

    page = _client(customer.user).get("/app/conversations/")

    body = page.content.decode()
    assert page.status_code == 200
    assert f'data-conversation-id="{conversation.public_id}"' in body
    assert "Tomorrow!" in body
    assert "2 new replies" in body
    assert theirs.public_id not in body
    assert "Bob&#x27;s secret" not in body
    assert 'href="/app/conversations/new/"' in body


def test_thread_page_shows_messages_but_not_notes_and_loads_the_chat_script(make_customer, agent):
    customer = make_customer()
    conversation = _thread(customer, "Where is it?")
    reply = message_send(actor=agent, conversation=conversation, text="On its way")
    note_add(actor=agent, conversation=conversation, text="internal: VIP")

    page = _client(customer.user).get(f"/app/conversations/{conversation.public_id}/")

    body = page.content.decode()
    assert page.status_code == 200
    ids = re.findall(r'data-message-id="([^"]+)"', body)
    assert ids == [conversation.messages.get(direction="inbound").public_id, reply.public_id]
    assert "internal: VIP" not in body
    assert 'id="thread"' in body
    assert 'name="text"' in body
    assert "/static/conversations/chat.js" in body
    assert "<script>" not in body  # the CSP allows no inline script
    assert f'data-conversation="{conversation.public_id}"' in body
    # fetching the thread delivers the web chat reply
    reply.outbound.refresh_from_db()
    assert reply.outbound.status == "delivered"


def test_without_javascript_the_composer_posts_once(make_customer):
    # given the new-message page (a composer with a server-made client id)
    customer = make_customer()
    client = _client(customer.user)
    page = client.get("/app/conversations/new/").content.decode()
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)

    # when the form is posted twice (a double tap)
    first = client.post("/app/conversations/new/", {"text": "Hello", "client_id": client_id})
    second = client.post("/app/conversations/new/", {"text": "Hello", "client_id": client_id})

    # then one message in one thread, and both land on it
    conversation = Conversation.objects.get(customer=customer)
    assert first.status_code == second.status_code == 302
    assert (
        first["Location"] == second["Location"] == f"/app/conversations/{conversation.public_id}/"
    )
    assert conversation.messages.count() == 1

    # and an empty message is refused on the page
    refused = client.post(first["Location"], {"text": "  ", "client_id": str(uuid.uuid4())})
    assert refused.status_code == 422
    assert "Write a message." in refused.content.decode()
    assert conversation.messages.count() == 1


def test_another_customers_thread_is_not_found(make_customer):
    ada, bob = make_customer(), make_customer(name="Bob")
    conversation = _thread(ada)
    client = _client(bob.user)
    assert client.get(f"/app/conversations/{conversation.public_id}/").status_code == 404
    posted = client.post(
        f"/app/conversations/{conversation.public_id}/",
        {"text": "hi", "client_id": str(uuid.uuid4())},
    )
    assert posted.status_code == 404
    assert conversation.messages.count() == 1


def test_pages_are_for_customers_only(agent):
    assert Client().get("/app/conversations/").status_code == 302
    assert _client(agent).get("/app/conversations/").status_code == 403


def test_home_shows_messages_with_unread_replies(make_customer, agent):
    # given a new customer: the section offers to start a conversation
    customer = make_customer()
    client = _client(customer.user)
    home = client.get("/").content.decode()
    assert 'id="section-messages"' in home
    assert 'href="/app/conversations/new/"' in home

    # when an agent answers their thread
    conversation = _thread(customer, "Is my order shipped?")
    message_send(actor=agent, conversation=conversation, text="Yes, this morning")

    # then the home lists it with its unread reply
    home = client.get("/").content.decode()
    assert "Yes, this morning" in home
    assert "1 new reply" in home
    assert f'href="/app/conversations/{conversation.public_id}/"' in home


def test_service_worker_sends_the_chat_outbox_on_sync(client):
    worker = client.get("/sw.js").content.decode()
    assert 'importScripts("/static/conversations/outbox.js"' in worker
    assert 'addEventListener("sync"' in worker
    assert "/offline/" in worker  # the shell caching stays
    outbox = client.get("/static/conversations/outbox.js")
    assert outbox.status_code == 200
    assert b"pdOutbox" in b"".join(outbox.streaming_content)
