"""health_score: the score, the verdict, the reasons and the suggestion an agent sees."""

import os
import random
import subprocess
import sys
import textwrap

import pytest
from vaderSentiment import vaderSentiment

from pocketdesk.conversations.health import HealthContext, config, health_score

from .builders import T0, agent, context, customer


def score(*messages, now=None, **extra):
    return health_score(list(messages), context=context(list(messages), now, **extra))


def test_a_smooth_conversation_scores_high_with_no_suggestion():
    result = score(
        customer("Hi, my parcel says delivered but it's not at my door", 0),
        agent("Sorry! Could you check with reception?", 3, status="delivered"),
        customer("Found it at reception, thanks!", 10),
    )
    assert result.score == 100
    assert not result.going_badly
    assert result.suggestion.kind == "none"
    assert result.suggestion.channel is None


def test_a_long_frustrated_sms_scores_low_with_reasons_and_a_callback():
    # given: the customer has asked twice and now writes a long angry SMS
    result = score(
        customer("Where is my refund for order 4410?", 0),
        agent("Refunds take 5-10 business days.", 30, status="delivered"),
        customer(
            "This is ridiculous. It's been three weeks, I've asked twice already, nobody "
            "answers properly and I'm fed up. Where is my refund for order 4410? I want "
            "to speak to a manager today, this is unacceptable.",
            600,
        ),
    )
    # then
    assert result.going_badly
    assert result.score <= config.GOING_BADLY_AT_OR_BELOW
    found = {reason.code for reason in result.reasons}
    assert {"cue_frustration", "sentiment_negative", "repetition"} <= found
    assert all(reason.text for reason in result.reasons)
    assert result.suggestion.kind == "schedule_callback"


def test_score_is_100_minus_the_weights_clamped_and_reasons_come_largest_first():
    result = score(
        customer("I can't hear you, you're breaking up", 0, "voice"),
        customer("bad signal here, can you call me back later?", 0.5, "voice"),
        customer("This is ridiculous", 1, "voice"),
    )
    assert result.score == max(0, 100 - sum(reason.weight for reason in result.reasons))
    weights = [abs(reason.weight) for reason in result.reasons]
    assert weights == sorted(weights, reverse=True)
    assert 0 <= result.score <= 100


def test_the_result_does_not_depend_on_the_order_messages_are_given_in():
    messages = [
        customer("Hi, when will my refund arrive? Order 4410", 0),
        agent("Refunds usually take 5-10 business days.", 10, status="delivered"),
        customer("It's been 15 days already. When will my refund arrive?", 30),
        agent("Refunds usually take 5-10 business days.", 45, status="undelivered"),
        customer("Sorry to ask again, when will my refund actually arrive?", 60),
    ]
    shuffled = messages[:]
    random.Random(4).shuffle(shuffled)
    ctx = context(messages)
    assert health_score(shuffled, context=ctx) == health_score(messages, context=ctx)


def test_an_empty_transcript_is_healthy():
    result = health_score([], context=HealthContext(now=T0))
    assert (result.score, result.going_badly, result.reasons) == (100, False, [])


# --- suggestions, one rule at a time ---------------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        [customer("I'm driving, can you call me back later?", 0, "voice")],
        [customer("Je conduis, rappelez-moi plus tard", 0, "voice")],
        [
            agent("What was the date of the incident?", 0),
            customer("I'm at work, can't do this now", 1),
            agent("And the damage?", 2),
            customer("Later please, I said I'm at work", 3),
        ],
    ],
)
def test_asking_for_a_call_or_being_busy_suggests_a_callback(messages):
    result = score(*messages)
    assert result.going_badly
    assert (result.suggestion.kind, result.suggestion.channel) == ("schedule_callback", None)


def test_outside_the_send_window_suggests_a_callback():
    result = score(
        agent("Quick survey, reply 1-5", 0),
        customer("It's 11pm, stop texting me", 5),
        in_send_window=False,
    )
    assert result.going_badly
    assert result.suggestion.kind == "schedule_callback"


@pytest.mark.parametrize(
    "lines",
    [
        ["I can't hear you, you're breaking up", "Barely. Bad signal here."],
        ["Je vous entends mal, ça coupe", "Pas vraiment, pas de réseau ici"],
    ],
)
def test_a_voice_line_that_does_not_work_suggests_an_sms_summary(lines):
    messages = [customer(text, index * 0.5, "voice") for index, text in enumerate(lines)]
    result = score(*messages)
    assert result.going_badly
    assert (result.suggestion.kind, result.suggestion.channel) == ("switch_modality", "sms")


def test_a_long_sms_answer_the_customer_cannot_follow_suggests_web_chat():
    result = score(
        customer("How do I set up the router?", 0),
        agent("First connect the grey cable to the yellow WAN port and wait. " * 9, 3),
        customer("that came in 6 pieces out of order, I can't follow it", 8),
    )
    assert result.going_badly
    assert (result.suggestion.kind, result.suggestion.channel) == ("switch_modality", "webchat")


def test_long_instructions_in_a_chat_suggest_email():
    steps = "Here's how:\n" + "\n".join(f"{n}. Do step {n} carefully." for n in range(1, 13))
    result = score(
        customer("How do I move my data to the new phone?", 0, "webchat"),
        agent(steps, 2, "webchat"),
        customer("that's a lot, can you send it by email?", 4, "webchat"),
    )
    assert result.going_badly
    assert (result.suggestion.kind, result.suggestion.channel) == ("switch_modality", "email")


@pytest.mark.parametrize(
    ("preferred", "target"), [(None, "sms"), ("sms", "sms"), ("email", "email")]
)
def test_undelivered_whatsapp_switches_to_preferred_or_fallback(preferred, target):
    result = score(
        customer("Is my prescription ready?", 0, "whatsapp"),
        agent("Yes, ready at Elm St.", 4, "whatsapp", status="failed"),
        agent("Your prescription is ready.", 10, "whatsapp", status="failed"),
        customer("Anyone there?", 60, "whatsapp"),
        now=62,
        preferred_channel=preferred,
    )
    assert result.going_badly
    assert (result.suggestion.kind, result.suggestion.channel) == ("switch_modality", target)
    assert config.DELIVERY_FALLBACK["whatsapp"] == "sms"


def test_a_customer_stuck_repeating_politely_gets_a_callback():
    result = score(
        customer("Which charger do I need for the model T8 scooter?", 0),
        agent("Our chargers are listed on the accessories page.", 20),
        customer("Which charger fits the T8 scooter model?", 40),
        agent("You can find all chargers on the accessories page.", 60),
        customer("I need to know which charger works with my T8 scooter", 80),
    )
    assert result.going_badly
    assert result.suggestion.kind == "schedule_callback"


def test_a_customer_only_waiting_needs_an_answer_not_a_new_channel():
    result = score(
        customer("Hi, I was charged but the order didn't go through", 0, "webchat"),
        customer("still there?", 6, "webchat"),
        customer("hello??", 14, "webchat"),
        now=16,
    )
    assert result.going_badly
    assert result.suggestion.kind == "none"
    assert result.suggestion.why


def test_another_language_is_scored_on_language_independent_signals_only():
    spanish = [
        customer("Esto es horrible, llámame ahora", 0, "whatsapp"),
        agent("¿Me da su número de pedido?", 1, "whatsapp", status="failed"),
        agent("¿Su número de pedido?", 2, "whatsapp", status="failed"),
    ]
    result = score(*spanish, language="es")
    found = {reason.code for reason in result.reasons}
    assert found == {"delivery_failed"}


# --- cost and isolation ----------------------------------------------------------------------


def test_vader_is_built_once_per_process_not_per_call(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("SentimentIntensityAnalyzer built during a call")

    monkeypatch.setattr(vaderSentiment.SentimentIntensityAnalyzer, "__init__", refuse)
    result = score(customer("A brand new sentence nobody has scored before, awful", 0))
    assert result.score <= 100


def test_scoring_opens_no_network_connection():
    # A fresh interpreter that refuses every socket: importing vaderSentiment (its lexicon) and
    # scoring English and French must not try the network.
    script = textwrap.dedent(
        """
        import sys

        def refuse(event, args):
            if event.startswith("socket.") or event == "urllib.Request":
                raise RuntimeError(f"network access: {event} {args!r}")

        sys.addaudithook(refuse)
        import django
        django.setup()
        from datetime import UTC, datetime
        from pocketdesk.conversations.health import HealthContext, TranscriptMessage, health_score
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for text in ("This is awful, call me", "C'est nul, rappelez-moi"):
            message = TranscriptMessage("customer", "sms", text, now)
            print(health_score([message], context=HealthContext(now=now)).score)
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "pocketdesk.settings", "PD_MODE": "test"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 2
