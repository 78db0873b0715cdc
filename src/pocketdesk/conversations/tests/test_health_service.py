"""Interaction health of stored conversations: messages and receipts mark a thread stale, the
sweep scores it with its reasons, the API answers with the suggestion and the endpoint that
carries it out, the inbox sorts worst first, and the automated agent offers a callback itself
when nobody has the thread."""

from datetime import timedelta
from html import escape
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pocketdesk.conversations.models import CallbackOffer, Conversation
from pocketdesk.conversations.services.health import conversations_health_sweep
from pocketdesk.conversations.services.inbox import conversation_assign
from pocketdesk.conversations.services.messages import message_send
from pocketdesk.conversations.tests.callback_factories import MONDAY_8AM, london_team
from pocketdesk.conversations.tests.factories import customer_says, sms_channel
from pocketdesk.core import clock

pytestmark = pytest.mark.django_db

FRUSTRATED = (
    "This is the third time I am asking!! My router still does not work, your instructions "
    "are useless and nobody answers. I am really fed up with this, it is ridiculous."
)
FINE = "Hi, could you tell me when my parcel will arrive? Thanks"


@pytest.fixture
def channel() -> Any:
    return sms_channel()


@pytest.fixture
def settings_no_auto(settings: Any) -> Any:
    settings.PD_AUTO_OFFER = False
    return settings


def _thread(make_customer: Any, channel: Any, texts: list[str], phone: str) -> Conversation:
    person = make_customer(phone=phone)
    message = None
    for n, text in enumerate(texts):
        message = customer_says(
            person, text, channel=channel, at=MONDAY_8AM + timedelta(minutes=2 * n)
        )
    assert message is not None
    return message.conversation


def test_the_sweep_scores_changed_threads_and_a_new_message_makes_them_stale_again(
    make_customer, channel, settings_no_auto
):
    bad = _thread(
        make_customer,
        channel,
        ["My router does not work", "My router still does not work??", FRUSTRATED],
        "+44 7911 100001",
    )
    good = _thread(make_customer, channel, [FINE], "+44 7911 100002")
    assert Conversation.objects.filter(health_stale=True).count() == 2

    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=6)):
        assert conversations_health_sweep() == 2
        assert conversations_health_sweep() == 0  # nothing changed since
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.health_score is not None
    assert good.health_score is not None
    assert bad.health_score < good.health_score
    assert bad.health["going_badly"] is True
    assert good.health["going_badly"] is False
    codes = {reason["code"] for reason in bad.health["reasons"]}
    assert codes & {"repetition", "sentiment_negative", "sentiment"}, codes
    assert not bad.health_stale

    customer_says(bad.customer, "hello?", channel=channel, at=MONDAY_8AM + timedelta(minutes=7))
    bad.refresh_from_db()
    assert bad.health_stale


def test_the_api_gives_reasons_and_the_endpoint_of_the_suggestion(
    make_customer, channel, api_as, agent, settings_no_auto
):
    conversation = _thread(
        make_customer,
        channel,
        ["Can you call me? I'm driving and can't text", FRUSTRATED],
        "+44 7911 100003",
    )
    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=5)):
        response = api_as(agent).get(f"/conversations/{conversation.public_id}/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["going_badly"] is True
    assert 0 <= body["score"] < 60
    assert body["reasons"]
    assert all(r["text"] for r in body["reasons"])
    (suggestion,) = body["suggestions"]
    assert suggestion["kind"] == "schedule_callback"
    assert suggestion["action"] == (
        f"/api/v1/conversations/{conversation.public_id}/callbacks/proposals"
    )
    conversation.refresh_from_db()
    assert conversation.health_score == body["score"]
    assert api_as(agent).get("/conversations/cnv_nope/health").status_code == 404
    customer_api = api_as(conversation.customer.user)
    assert customer_api.get(f"/conversations/{conversation.public_id}/health").status_code in {
        401,
        403,
    }


def test_the_inbox_sorts_the_worst_health_first_a_page_at_a_time(
    make_customer, channel, api_as, agent, settings_no_auto
):
    for n in range(3):
        _thread(make_customer, channel, [FINE], f"+44 7911 1001{n:02d}")
    worst = _thread(
        make_customer, channel, ["Still broken", "still broken!!", FRUSTRATED], "+44 7911 100200"
    )
    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=6)):
        conversations_health_sweep()
    api = api_as(agent)
    with CaptureQueriesContext(connection) as queries:
        first = api.get("/conversations?sort=health&page_size=2").json()
    second = api.get(first["next"].split("/api/v1")[-1]).json()
    ids = [c["id"] for c in first["results"] + second["results"]]
    scores = [c["health_score"] for c in first["results"] + second["results"]]
    assert ids[0] == worst.public_id
    assert scores == sorted(scores)
    assert len(set(ids)) == 4
    assert len(queries) <= 6
    assert api.get("/conversations?sort=mood").status_code == 422


def test_the_automated_agent_offers_a_callback_once_when_nobody_has_the_thread(
    make_customer, channel, agent
):
    london_team()
    unassigned = _thread(
        make_customer,
        channel,
        ["Please call me back, I can't hear anything on this line", FRUSTRATED],
        "+44 7911 100301",
    )
    taken = _thread(
        make_customer,
        channel,
        ["Please call me back, I can't hear anything on this line", FRUSTRATED],
        "+44 7911 100302",
    )
    conversation_assign(actor=agent, conversation=taken, assignee=agent)
    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=5)):
        conversations_health_sweep()
        customer_says(unassigned.customer, FRUSTRATED, channel=channel)
        conversations_health_sweep()
    offers = CallbackOffer.objects.all()
    assert [offer.conversation_id for offer in offers] == [unassigned.pk]
    offer_message = unassigned.messages.filter(direction="outbound").get()
    assert "/app/callback/" in offer_message.outbound.text

    # an agent's answer is part of the conversation the detector reads
    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=9)):
        message_send(actor=agent, conversation=taken, text="I am calling you in 2 minutes, sorry.")
        conversations_health_sweep()
    taken.refresh_from_db()
    assert taken.health_at == MONDAY_8AM + timedelta(minutes=9)


def test_the_console_shows_health_in_the_inbox_and_the_thread(
    make_customer, channel, agent, settings_no_auto
):
    conversation = _thread(
        make_customer,
        channel,
        ["My router does not work", "My router still does not work??", FRUSTRATED],
        "+44 7911 100401",
    )
    staff = Client()
    staff.force_login(agent)
    with clock.frozen_at(MONDAY_8AM + timedelta(minutes=6)):
        thread = staff.get(f"/console/conversations/{conversation.public_id}/").content.decode()
        inbox = staff.get("/console/inbox/?view=all&sort=health").content.decode()
    conversation.refresh_from_db()
    assert 'id="health"' in thread
    assert "data-going-badly" in thread
    assert escape(conversation.health["reasons"][0]["text"]) in thread
    assert f'data-health="{conversation.health_score}"' in inbox
    assert '<option value="health" selected>' in inbox
