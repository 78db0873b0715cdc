"""Social mentions through X's Account Activity webhook (CRC, x-twitter-webhooks-signature), into
the customer's thread, and public replies to the fake X API as answers to the mention's tweet."""

import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from pocketdesk.conversations.models import Conversation, Message
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import ContactPoint
from pocketdesk.messaging.adapters.social import social_private_invite_text, tweet_length
from pocketdesk.messaging.fake_providers.social import (
    FakeX,
    crc_response_token,
    mention_webhook_post,
    webhook_body,
    webhook_signature,
)
from pocketdesk.messaging.models import Channel, InboundEvent, Outbound
from pocketdesk.messaging.services import channel_create

SECRET = "x-consumer-secret-for-tests"
BEARER = "x-user-access-token-for-tests"
OUR_ID = "1500000000000000001"
ALICE_ID = "2244994945"
PATH = "/webhooks/social"


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


@pytest.fixture
def fake():
    with FakeX(bearer_token=BEARER, user_id=OUR_ID, screen_name="Acme") as running:
        yield running


@pytest.fixture
def channel(db, fake):
    return channel_create(
        actor=None,
        kind="social",
        name="Acme on X",
        address="@Acme",
        credentials={"consumer_secret": SECRET, "bearer_token": BEARER},
        api_base=fake.base_url,
    )


def _post(channel, body: bytes, *, secret: str | None = SECRET, channel_id: str | None = None):
    headers = {}
    if secret is not None:
        headers["HTTP_X_TWITTER_WEBHOOKS_SIGNATURE"] = webhook_signature(secret, body)
    return Client().post(
        f"{PATH}?channel={channel_id or channel.public_id}",
        body,
        content_type="application/json",
        **headers,
    )


def _mention(fake, text="@Acme my parcel never arrived", **kwargs):
    kwargs.setdefault("screen_name", "Alice_W")
    kwargs.setdefault("user_id", ALICE_ID)
    kwargs.setdefault("name", "Alice Walker")
    return fake.mention(text=text, **kwargs)


def _deliver(channel, *tweets, **kwargs) -> None:
    body = webhook_body(for_user_id=OUR_ID, tweets=tweets, user_has_blocked=False, **kwargs)
    assert _post(channel, body).status_code == 200


def test_crc_answers_with_the_hmac_of_the_token(channel):
    response = Client().get(PATH, {"channel": channel.public_id, "crc_token": "challenge-123"})
    assert response.status_code == 200
    assert response.json() == {"response_token": crc_response_token(SECRET, "challenge-123")}


def test_crc_needs_a_known_channel_with_a_secret_and_a_token(channel):
    assert Client().get(PATH, {"crc_token": "t"}).status_code == 403
    assert Client().get(PATH, {"channel": "chn_nope", "crc_token": "t"}).status_code == 403
    missing = Client().get(PATH, {"channel": channel.public_id})
    assert missing.status_code == 400
    assert missing.json()["code"] == "crc_token_required"
    # A channel whose secret was removed (an old row): it can answer nothing.
    Channel.objects.filter(pk=channel.pk).update(credentials={"bearer_token": BEARER})
    assert Client().get(PATH, {"channel": channel.public_id, "crc_token": "t"}).status_code == 403


def test_a_channel_needs_the_secret_that_verifies_its_webhooks(db):
    with pytest.raises(ValidationFailed) as refused:
        channel_create(
            actor=None,
            kind="social",
            name="X",
            address="@acme",
            credentials={"bearer_token": BEARER},
        )
    assert refused.value.extra["errors"][0]["field"] == "consumer_secret"
    with pytest.raises(ValidationFailed):
        channel_create(
            actor=None,
            kind="social",
            name="X",
            address="not a handle!",
            credentials={"consumer_secret": SECRET, "bearer_token": BEARER},
        )


@pytest.mark.parametrize("forgery", ["unsigned", "wrong_secret", "tampered", "no_channel"])
def test_forged_or_unsigned_webhooks_store_nothing(channel, fake, forgery):
    body = webhook_body(for_user_id=OUR_ID, tweets=[_mention(fake)])
    if forgery == "unsigned":
        response = _post(channel, body, secret=None)
    elif forgery == "wrong_secret":
        response = _post(channel, body, secret="another-apps-secret")
    elif forgery == "tampered":
        signature = webhook_signature(SECRET, body)
        response = Client().post(
            f"{PATH}?channel={channel.public_id}",
            body.replace(b"parcel", b"wallet"),
            content_type="application/json",
            HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=signature,
        )
    else:
        response = Client().post(
            PATH,
            body,
            content_type="application/json",
            HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=webhook_signature(SECRET, body),
        )
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_channel_without_a_secret_refuses_even_a_signed_webhook(channel, fake):
    Channel.objects.filter(pk=channel.pk).update(credentials={"bearer_token": BEARER})
    body = webhook_body(for_user_id=OUR_ID, tweets=[_mention(fake)])
    assert _post(channel, body, secret="").status_code == 403
    assert _post(channel, body).status_code == 403
    assert not InboundEvent.objects.exists()


def test_signed_garbage_is_a_400_not_a_500(channel):
    response = _post(channel, b"{not json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_mention_by_an_unknown_user_becomes_a_lead_and_a_thread(channel, fake):
    mention = _mention(fake, text="@Acme my parcel & my refund never arrived")
    assert "&amp;" in mention["text"]  # X escapes &, < and >
    _deliver(channel, mention)
    event = InboundEvent.objects.get()
    assert (event.kind, event.provider_event_id, event.state) == (
        "mention",
        mention["id_str"],
        "pending",
    )
    _work()
    point = ContactPoint.objects.get(kind="social")
    assert point.value == "@alice_w"
    assert point.customer.is_lead
    assert point.customer.name == "Alice Walker"
    message = Message.objects.get()
    assert message.kind == "mention"
    assert message.text == "my parcel & my refund never arrived"
    assert message.provider_id == mention["id_str"]
    assert message.data == {
        "public": True,
        "tweet_id": mention["id_str"],
        "in_reply_to_status_id": None,
    }
    assert message.conversation.customer_id == point.customer_id
    assert InboundEvent.objects.get().state == "processed"


@pytest.mark.django_db(transaction=True)
def test_a_replayed_webhook_is_stored_and_threaded_once(channel, fake):
    body = webhook_body(for_user_id=OUR_ID, tweets=[_mention(fake)])
    assert _post(channel, body).status_code == 200
    assert _post(channel, body).status_code == 200
    _work()
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_our_own_tweets_and_retweets_are_not_stored(channel, fake):
    own = fake.mention(text="We are back online", screen_name="Acme", user_id=OUR_ID)
    retweet = {**_mention(fake, text="RT @Acme: We are back online"), "retweeted_status": own}
    _deliver(channel, own, retweet)
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_several_mentions_in_one_webhook_are_one_event_each(channel, fake):
    first = _mention(fake, text="@Acme hello")
    second = _mention(fake, text="@acme also this", screen_name="bob", user_id="77", name="Bob")
    _deliver(channel, first, second)
    assert InboundEvent.objects.count() == 2
    _work()
    assert set(Message.objects.values_list("text", flat=True)) == {"hello", "also this"}
    assert Conversation.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_mention_from_a_user_we_blocked_reaches_no_one(channel, fake):
    body = webhook_body(for_user_id=OUR_ID, tweets=[_mention(fake)], user_has_blocked=True)
    assert _post(channel, body).status_code == 200
    _work()
    assert InboundEvent.objects.get().state == "processed"
    assert not Message.objects.exists()


def _thread(channel, fake) -> tuple[Conversation, dict]:
    mention = _mention(fake)
    _deliver(channel, mention)
    _work()
    return Conversation.objects.get(), mention


@pytest.mark.django_db(transaction=True)
def test_an_agent_reply_is_a_public_answer_to_the_mention(channel, fake, agent):
    conversation, mention = _thread(channel, fake)
    message = message_send(
        actor=agent, conversation=conversation, text="Sorry to hear that, we are on it."
    )
    _work()
    assert fake.tweets == [
        {
            "id": fake.tweets[0]["id"],
            "text": "@alice_w Sorry to hear that, we are on it.",
            "in_reply_to_tweet_id": mention["id_str"],
        }
    ]
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.provider_id) == ("sent", fake.tweets[0]["id"])


@pytest.mark.django_db(transaction=True)
def test_the_reply_answers_the_latest_mention(channel, fake, agent):
    conversation, _first = _thread(channel, fake)
    later = _mention(fake, text="@Acme hello?? anyone")
    _deliver(channel, later)
    _work()
    message_send(actor=agent, conversation=conversation, text="Here now!")
    _work()
    assert fake.tweets[0]["in_reply_to_tweet_id"] == later["id_str"]


@pytest.mark.django_db(transaction=True)
def test_a_reply_to_our_answer_joins_the_same_thread(channel, fake, agent):
    conversation, _mention_tweet = _thread(channel, fake)
    message_send(actor=agent, conversation=conversation, text="Could you tell us more?")
    _work()
    ours = fake.tweets[0]["id"]
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    answer = _mention(fake, text="@Acme it was order 1234", reply_to=ours)
    _deliver(channel, answer)
    _work()
    reply = Message.objects.get(provider_id=answer["id_str"])
    assert reply.conversation_id == conversation.pk
    assert reply.text == "it was order 1234"
    assert reply.data["in_reply_to_status_id"] == ours
    assert Conversation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_reply_too_long_for_a_tweet_fails_and_nothing_is_posted(channel, fake, agent):
    conversation, _mention_tweet = _thread(channel, fake)
    message = message_send(actor=agent, conversation=conversation, text="word " * 60)
    _work()
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.error_code) == ("failed", "too_long")
    assert "private channel" in outbound.error_detail
    assert fake.tweets == []


@pytest.mark.django_db(transaction=True)
def test_the_private_invite_is_a_short_public_reply_with_the_link(channel, fake, agent):
    conversation, mention = _thread(channel, fake)
    link = "https://desk.example.com/c/" + "x" * 80  # a link counts 23, whatever its length
    text = social_private_invite_text(conversation.customer, link)
    assert link in text
    message_send(actor=agent, conversation=conversation, text=text)
    _work()
    assert fake.tweets[0]["text"] == f"@alice_w {text}"
    assert fake.tweets[0]["in_reply_to_tweet_id"] == mention["id_str"]
    assert Conversation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_x_trouble_is_retried_later(channel, fake, agent):
    conversation, _mention_tweet = _thread(channel, fake)
    fake.fail_next(503)
    before = clock.now()
    message = message_send(actor=agent, conversation=conversation, text="Looking into it")
    _work()
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.error_code, outbound.attempts) == ("queued", "x_503", 1)
    assert outbound.next_attempt_at > before + timedelta(seconds=20)
    assert fake.tweets == []


@pytest.mark.django_db(transaction=True)
def test_a_rejected_token_fails_the_reply_at_once(channel, fake, agent):
    conversation, _mention_tweet = _thread(channel, fake)
    credentials = {**channel.credentials, "bearer_token": "expired"}
    Channel.objects.filter(pk=channel.pk).update(credentials=credentials)
    message = message_send(actor=agent, conversation=conversation, text="Hi")
    _work()
    outbound = Outbound.objects.get(pk=message.outbound_id)
    assert (outbound.status, outbound.error_code) == ("failed", "x_unauthorized")


def test_tweet_length_counts_links_and_wide_characters_as_x_does():
    assert tweet_length("hello") == 5
    assert tweet_length("see https://example.com/" + "a" * 200) == 4 + 23
    assert tweet_length("日本") == 4


@pytest.mark.django_db(transaction=True)
def test_end_to_end_over_http_and_our_echoed_tweet_is_ignored(live_server, fake, agent):
    channel = channel_create(
        actor=None,
        kind="social",
        name="Acme on X",
        address="@acme",
        credentials={"consumer_secret": SECRET, "bearer_token": BEARER},
        api_base=fake.base_url,
    )
    hook = f"{live_server.url}{PATH}?channel={channel.public_id}"
    fake.webhook_url, fake.consumer_secret = hook, SECRET
    mention = _mention(fake)
    status = mention_webhook_post(
        hook, consumer_secret=SECRET, for_user_id=OUR_ID, tweets=[mention]
    )
    assert status == 200
    _work()
    conversation = Conversation.objects.get()
    message_send(actor=agent, conversation=conversation, text="We are on it")
    _work()
    deadline = time.monotonic() + 5
    while not fake.webhook_statuses and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.webhook_statuses == [200]  # X's echo of our own reply: accepted, not stored
    assert list(InboundEvent.objects.values_list("provider_event_id", flat=True)) == [
        mention["id_str"]
    ]
    assert json.loads(
        Client().get(PATH, {"channel": channel.public_id, "crc_token": "z"}).content
    ) == {"response_token": crc_response_token(SECRET, "z")}


def test_cli_adds_social_and_lists_it_without_secrets(db, capsys):
    call_command(
        "channels",
        "add",
        "social",
        "--name",
        "Acme on X",
        "--handle",
        "@Acme",
        "--consumer-secret",
        "cs-s3cret",
        "--bearer-token",
        "bt-s3cret",
        "--api-base",
        "http://127.0.0.1:9",
    )
    added = json.loads(capsys.readouterr().out)
    assert added["address"] == "@acme"
    call_command("channels", "list")
    listed = capsys.readouterr().out
    assert "s3cret" not in listed
    assert Channel.objects.get().credentials == {
        "consumer_secret": "cs-s3cret",
        "bearer_token": "bt-s3cret",
    }


def test_crc_never_signs_a_body_for_an_attacker(channel):
    # The CRC answer is the HMAC that signs POSTs: a JSON "token" must not get one.
    body = '{"for_user_id":"1","tweet_create_events":[]}'
    response = Client().get(PATH, {"channel": channel.public_id, "crc_token": body})
    assert response.status_code == 400
    assert response.json()["code"] == "crc_token_invalid"
