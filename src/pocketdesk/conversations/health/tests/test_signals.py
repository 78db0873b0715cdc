"""Each health signal: when it fires and when it stays quiet, in English and French."""

import pytest

from pocketdesk.conversations.health import config, signals
from pocketdesk.conversations.health.cues import cues_find
from pocketdesk.conversations.health.language import language_guess
from pocketdesk.conversations.health.sentiment import sentiment_compound

from .builders import agent, customer, read


def codes(reasons: list) -> list[str]:
    return [reason.code for reason in reasons]


# --- language and sentiment ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "language"),
    [
        (["Where is my parcel? It was due on Monday"], "en"),
        (["Où est mon colis ? Il devait arriver lundi"], "fr"),
        (["¿Dónde está mi paquete?"], None),
    ],
)
def test_language_guess(texts, language):
    assert language_guess(texts) == language


def test_sentiment_reads_english_with_vader_and_french_with_the_cue_lexicon():
    assert sentiment_compound("This is awful, I'm really angry", "en") < -0.5
    assert sentiment_compound("Thanks so much, that fixed it!", "en") > 0.4
    assert sentiment_compound("C'est inadmissible, j'en ai marre", "fr") < -0.5
    assert sentiment_compound("Merci beaucoup, c'est parfait", "fr") > 0.5
    # "mais" weighs what follows it, like VADER's "but".
    assert sentiment_compound("C'est nul ce temps, mais merci ça marche", "fr") > 0
    # Other languages get no sentiment at all.
    assert sentiment_compound("Esto es horrible", "es") is None


def test_sarcasm_with_a_frustration_cue_reads_negative():
    text = "Great, just great. Another week without my order. Thanks for nothing."
    assert sentiment_compound(text, "en") > 0  # what VADER alone says
    transcript = read(customer(text))
    assert transcript.sentiments[-1] is not None
    assert transcript.sentiments[-1] < -0.4
    french = read(customer("Super. Génial. Encore un retard. Merci pour rien."))
    assert french.sentiments[-1] is not None
    assert french.sentiments[-1] < -0.4


@pytest.mark.parametrize(
    "text",
    [
        "This is awful, you lost my parcel and I am furious",
        "C'est lamentable, vous avez perdu mon colis, je suis furieux",
    ],
)
def test_sentiment_negative_fires_on_a_clearly_negative_latest_message(text):
    reasons = signals.sentiment_negative(read(customer("Hello"), customer(text, 5)))
    assert codes(reasons) == ["sentiment_negative"]
    assert reasons[0].weight >= config.SENTIMENT_NEGATIVE_WEIGHT


@pytest.mark.parametrize(
    "text",
    [
        "this is terrible weather, anyway thanks it works now",
        "C'est nul ce temps, mais merci ça marche maintenant",
    ],
)
def test_sentiment_negative_stays_quiet_when_the_negative_word_is_not_about_us(text):
    assert signals.sentiment_negative(read(customer(text))) == []


def test_sentiment_negative_is_silent_for_other_languages():
    transcript = read(customer("Esto es horrible, estoy furioso"), language="es")
    assert signals.sentiment_negative(transcript) == []


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Hi! Great to hear from you", "This is awful, I am really angry now"),
        ("Bonjour, merci beaucoup", "C'est inadmissible, je suis furieux"),
    ],
)
def test_sentiment_falling(first, last):
    falling = read(customer(first), agent("…", 1), customer(last, 2))
    assert codes(signals.sentiment_falling(falling)) == ["sentiment_falling"]
    rising = read(customer(last), agent("…", 1), customer(first, 2))
    assert signals.sentiment_falling(rising) == []


def test_shouting_fires_on_capitals_and_runs_of_marks_not_on_acronyms():
    assert codes(signals.shouting(read(customer("I GAVE IT YESTERDAY")))) == ["shouting"]
    assert codes(signals.shouting(read(customer("où est mon colis ???")))) == ["shouting"]
    assert (
        signals.shouting(read(customer("Can I pay by SEPA transfer? The HDMI cable is fine"))) == []
    )


@pytest.mark.parametrize(
    "text", ["Found it, thanks!", "ok good, it works now", "Trouvé, merci !", "ça marche, parfait"]
)
def test_customer_satisfied_gives_points_back(text):
    reasons = signals.customer_satisfied(
        read(customer("It broke"), agent("Try this", 1), customer(text, 2))
    )
    assert codes(reasons) == ["customer_satisfied"]
    assert reasons[0].weight < 0


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, but it's been 15 days. When will it arrive?",
        "Thanks for nothing.",
        "still waiting on an answer, thanks",
        "Merci, mais toujours rien reçu",
        "Merci pour rien.",
        "Merci de m'envoyer le contrat.",
        "Thanks in advance for the contract.",
    ],
)
def test_customer_satisfied_ignores_thanks_that_take_it_back(text):
    assert signals.customer_satisfied(read(customer(text))) == []


# --- repetition ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "asks",
    [
        [
            "Hi, when will my refund arrive? Order 4410",
            "Thanks, but it's been 15 days already. When will my refund arrive?",
            "Sorry to ask again, when will my refund actually arrive?",
        ],
        [
            "Bonjour, quand vais-je être remboursé ? Commande 4410",
            "Merci, mais ça fait 15 jours. Quand vais-je être remboursé ?",
            "Désolé d'insister, quand est-ce que je vais être remboursé ?",
        ],
    ],
)
def test_repetition_counts_each_re_ask(asks):
    messages = [customer(text, 20 * index) for index, text in enumerate(asks)]
    reasons = signals.repetition(read(*messages))
    assert codes(reasons) == ["repetition"]
    assert reasons[0].detail["repeats"] == 2


@pytest.mark.parametrize(
    "texts",
    [
        ["1Z999AA10123456784", "1Z999AA10123456784", "thanks", "thanks"],
        ["Do you ship to Norway?", "How much is the blue sofa in three seats?"],
        ["Vous livrez en Norvège ?", "Combien coûte le canapé bleu trois places ?"],
    ],
)
def test_repetition_ignores_short_messages_and_different_questions(texts):
    messages = [customer(text, index) for index, text in enumerate(texts)]
    assert signals.repetition(read(*messages)) == []


def test_agent_repetition_fires_on_the_same_answer_not_on_a_resend_after_failure():
    same = read(
        agent("Refunds usually take 5-10 business days.", 0),
        agent("Refunds usually take 5-10 business days after we receive the item.", 10),
    )
    assert codes(signals.agent_repetition(same)) == ["agent_repetition"]
    resend = read(
        agent("Your booking BK-2291 is confirmed for Friday.", 0, status="undelivered"),
        agent("Your booking BK-2291 is confirmed for Friday.", 10, status="delivered"),
    )
    assert signals.agent_repetition(resend) == []


# --- waiting ---------------------------------------------------------------------------------


def test_waiting_measures_from_the_first_unanswered_message_against_the_channel():
    transcript = read(
        customer("Hi, my order never came", 0, "whatsapp"),
        customer("hello?", 90, "whatsapp"),
        now=185,
    )
    reasons = signals.waiting(transcript)
    assert codes(reasons) == ["waiting"]
    assert reasons[0].detail["minutes"] == 185
    assert reasons[0].weight == config.WAITING_TIERS[0][1]  # 12× the 15 minutes expected


def test_waiting_hours_on_email_is_normal_but_not_on_webchat():
    assert signals.waiting(read(customer("Question about my invoice", 0, "email"), now=120)) == []
    assert codes(
        signals.waiting(read(customer("Question about my invoice", 0, "webchat"), now=20))
    ) == ["waiting"]


def test_waiting_stops_at_an_answer_and_ignores_thanks_and_failed_answers():
    answered = read(customer("Is it in stock?", 0), agent("Yes", 5), now=300)
    assert signals.waiting(answered) == []
    thanked = read(
        customer("Is it in stock?", 0), agent("Yes", 5), customer("great thanks", 6), now=300
    )
    assert signals.waiting(thanked) == []
    merci = read(
        customer("C'est en stock ?", 0), agent("Oui", 5), customer("Parfait, merci", 6), now=300
    )
    assert signals.waiting(merci) == []
    failed = read(customer("Is it in stock?", 0), agent("Yes", 5, status="failed"), now=300)
    assert codes(signals.waiting(failed)) == ["waiting"]


def test_slow_replies_counts_late_answers_in_the_past():
    slow = read(
        customer("My internet is down", 0),
        agent("Have you restarted it?", 240),
        customer("Yes", 245),
    )
    assert codes(signals.slow_replies(slow)) == ["slow_replies"]
    quick = read(
        customer("My internet is down", 0), agent("Have you restarted it?", 4), customer("Yes", 5)
    )
    assert signals.slow_replies(quick) == []


# --- delivery --------------------------------------------------------------------------------


def test_delivery_failed_weighs_more_with_each_failure():
    one = read(customer("Hi", 0), agent("Hello", 1, status="undelivered"))
    two = read(
        customer("Hi", 0),
        agent("Hello", 1, status="undelivered"),
        agent("Hello?", 2, status="failed"),
    )
    assert signals.delivery_failed(one)[0].weight < signals.delivery_failed(two)[0].weight
    assert (
        signals.delivery_failed(read(customer("Hi", 0), agent("Hello", 1, status="delivered")))
        == []
    )


def test_chat_reconnects_fire_from_two_reconnects():
    def chat(count: int):
        events = [customer("", index + 1, "webchat", kind="reconnect") for index in range(count)]
        return read(customer("Hi", 0, "webchat"), *events)

    assert signals.chat_reconnects(chat(1)) == []
    assert codes(signals.chat_reconnects(chat(2))) == ["chat_reconnects"]


# --- modality limits -------------------------------------------------------------------------


def test_sms_too_long_counts_segments_of_agent_answers_on_sms_only():
    long_text = (
        "Connect the grey cable to the yellow port and wait for the light. " * 10
    )  # ~660 chars
    assert codes(signals.sms_too_long(read(agent(long_text)))) == ["sms_too_long"]
    assert signals.sms_too_long(read(agent(long_text, channel="email"))) == []
    assert signals.sms_too_long(read(agent("Short answer."))) == []
    # UCS-2 (an accent outside GSM-7, or an emoji) makes segments shorter: 4 × 67 code units.
    assert codes(signals.sms_too_long(read(agent("Très bien 🙂 " * 25)))) == ["sms_too_long"]


def test_short_burst_needs_many_short_messages_fast():
    burst = read(
        *(
            customer(text, index * 0.2)
            for index, text in enumerate(
                ["hi", "my card", "declined", "at the shop", "money is there", "why"]
            )
        )
    )
    assert codes(signals.short_burst(burst)) == ["short_burst"]
    slow = read(
        *(
            customer(text, index * 10)
            for index, text in enumerate(["hi", "my card", "declined", "at the shop"])
        )
    )
    assert signals.short_burst(slow) == []
    answered = read(
        customer("hi", 0),
        agent("Hello!", 0.1),
        customer("my card", 0.2),
        agent("Yes?", 0.3),
        customer("declined", 0.4),
    )
    assert signals.short_burst(answered) == []
    closing = read(
        *(
            customer(text, index * 0.2)
            for index, text in enumerate(["ok", "merci", "bonne journée", "👍", "thanks"])
        )
    )
    assert signals.short_burst(closing) == []


def test_unsupported_content_flags_files_forms_and_long_lists_on_sms():
    file = read(agent("Here is the return form", attachments=1))
    assert codes(signals.unsupported_content(file)) == ["attachment_over_sms"]
    form = read(agent("Please fill in the form", kind="form"))
    assert codes(signals.unsupported_content(form)) == ["form_over_text"]
    listing = read(
        agent("You need:\n- passport\n- 2 photos\n- bank statements\n- letter\n- booking")
    )
    assert codes(signals.unsupported_content(listing)) == ["long_list"]
    on_whatsapp = read(agent("Here is the return form", channel="whatsapp", attachments=1))
    assert signals.unsupported_content(on_whatsapp) == []


def test_unsupported_content_counts_the_customers_photo_only_when_it_failed():
    failed = read(customer("", kind="attachment", attachments=1, status="failed"))
    assert codes(signals.unsupported_content(failed)) == ["attachment_over_sms"]
    arrived = read(customer("here", kind="attachment", attachments=1, status="delivered"))
    assert signals.unsupported_content(arrived) == []


@pytest.mark.parametrize(
    "text",
    [
        "The IBAN is GB29 NWBK 6016 1331 9268 19.",
        "Your reference is K as in kilo, 7, P, 2, X.",
        "L'IBAN est FR76 3000 6000 0112 3456 7890 189.",
        "Il faut le passeport, deux photos, le justificatif, le formulaire, le timbre, le livret.",
    ],
)
def test_dictated_on_call_fires_for_codes_and_lists_read_out(text):
    assert codes(signals.dictated_on_call(read(agent(text, channel="voice")))) == [
        "dictated_on_call"
    ]
    assert signals.dictated_on_call(read(agent(text, channel="email"))) == []


@pytest.mark.parametrize(
    "text",
    ["Sure, your appointment is on Tuesday at ten.", "Bien sûr, le rendez-vous est mardi à 10h."],
)
def test_dictated_on_call_stays_quiet_for_plain_answers(text):
    assert signals.dictated_on_call(read(agent(text, channel="voice"))) == []


@pytest.mark.parametrize(
    ("message", "fires"),
    [
        (agent("Please reply with your card number and CVV."), True),
        (agent("Merci de nous envoyer une photo de votre pièce d'identité."), True),
        (customer("my card is 4111 1111 1111 1111"), True),  # passes the Luhn check
        (customer("Voici mon IBAN : FR76 3000 6000 0112 3456 7890 189", channel="messenger"), True),
        (agent("Please reply with your card number and CVV.", channel="webchat"), False),
        (agent("49.90 was refunded to your card ending 4471."), False),
        (agent("Bring your old passport and two photos."), False),
        (customer("order 1234 5678 9012 3456"), False),  # not a card number
    ],
)
def test_sensitive_over_text(message, fires):
    assert bool(signals.sensitive_over_text(read(message))) is fires


def test_not_read_flags_messages_only_sent_for_a_day_with_no_answer():
    sent = [agent("The contract is attached.", 0, "email", status="sent")]
    assert codes(signals.not_read(read(*sent, now=25 * 60))) == ["not_read"]
    assert signals.not_read(read(*sent, now=60)) == []
    answered = [*sent, customer("Got it", 30, "email")]
    assert signals.not_read(read(*answered, now=25 * 60)) == []
    opened = [agent("The contract is attached.", 0, "email", status="read")]
    assert signals.not_read(read(*opened, now=25 * 60)) == []


def test_long_instructions_on_chat_not_on_email():
    steps = "Here's how:\n" + "\n".join(f"{n}. Do step {n}." for n in range(1, 11))
    assert codes(signals.long_instructions_on_chat(read(agent(steps, channel="webchat")))) == [
        "long_instructions"
    ]
    assert signals.long_instructions_on_chat(read(agent(steps, channel="email"))) == []
    assert signals.long_instructions_on_chat(read(agent("1. Tap Save.", channel="webchat"))) == []


# --- explicit cues ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("I can't hear you, you're breaking up", "cannot_hear"),
        ("Je vous entends mal, ça grésille", "cannot_hear"),
        ("sorry bad signal here on the train", "bad_connection"),
        ("désolé, pas de réseau ici", "bad_connection"),
        ("Can someone just call me please", "callback_request"),
        ("Rappelez-moi s'il vous plaît", "callback_request"),
        ("I'm driving right now", "busy_now"),
        ("I'm at work, talk later", "busy_now"),
        ("chu au taf, plus tard svp", "busy_now"),
        ("ça capte pu icitte", "bad_connection"),
        ("jvous redis que je veux résilier", "repeating"),
        ("Sorry, it's really loud here", "cannot_hear"),
        ("je conduis, je ne peux pas parler", "busy_now"),
        ("Je suis au travail, plus tard svp", "busy_now"),
        ("Can you just email me?", "wants_email"),
        ("Vous pouvez me l'envoyer par mail ?", "wants_email"),
        ("the link doesn't work, it's cut off", "channel_trouble"),
        ("j'ai reçu 7 messages dans le désordre", "channel_trouble"),
        ("This is ridiculous, I want to speak to a manager", "frustration"),
        ("C'est inadmissible, vous vous moquez de moi", "frustration"),
        ("As I said, it's the third time I ask", "repeating"),
        ("Je vous l'ai déjà envoyé, c'est la troisième fois", "repeating"),
        ("I don't understand what you mean", "confused"),
        ("Je ne comprends pas, c'est quoi ?", "confused"),
        ("hello?? anyone there?", "nudge"),
        ("Il y a quelqu'un ?", "nudge"),
    ],
)
def test_cue_families_fire_in_english_and_french(text, family):
    assert family in cues_find(text, None)
    reasons = signals.explicit_cues(read(customer(text)))
    assert f"cue_{family}" in codes(reasons)


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("No need to call me, text is fine", "callback_request"),
        ("Pas besoin de m'appeler, un SMS suffit", "callback_request"),
        ("I'm not driving today", "busy_now"),
        ("My TV says no signal", "bad_connection"),
        ("Ma télé affiche pas de signal", "bad_connection"),
        ("Can you hear me? Great.", "cannot_hear"),
        ("Vous m'entendez ? Très bien.", "cannot_hear"),
        ("Thanks again!", "repeating"),
        ("Je voulais répéter la commande de la semaine dernière", "repeating"),
        ("I'll check later and start the return", "busy_now"),
        ("je regarderai ça plus tard", "busy_now"),
        ("Allo! Je voudrais savoir si vous livrez à Laval", "nudge"),
    ],
)
def test_cues_do_not_fire_when_negated_or_out_of_context(text, family):
    assert family not in cues_find(text, None)


def test_cues_weigh_more_when_repeated_and_only_recent_messages_count():
    once = signals.explicit_cues(read(customer("call me please")))
    twice = signals.explicit_cues(
        read(customer("call me please"), customer("please call me back", 1))
    )
    assert twice[0].weight == once[0].weight + config.CUE_REPEAT_BONUS
    old = [customer("call me please", 0)] + [
        customer(f"question {n} about the invoice", n + 1) for n in range(config.CUE_RECENT)
    ]
    assert signals.explicit_cues(read(*old)) == []


def test_other_languages_get_only_language_independent_cues():
    transcript = read(customer("llámame por favor 😡"), language="es")
    assert codes(signals.explicit_cues(transcript)) == ["cue_frustration"]


# --- context ---------------------------------------------------------------------------------


def test_outside_send_window_only_when_the_caller_says_so():
    messages = [customer("Hi", 0)]
    assert codes(signals.outside_send_window(read(*messages, in_send_window=False))) == [
        "outside_send_window"
    ]
    assert signals.outside_send_window(read(*messages, in_send_window=True)) == []
    assert signals.outside_send_window(read(*messages)) == []


def test_preferred_channel_differs_from_the_customers_latest_channel():
    on_sms = read(customer("Hi", 0, "sms"), preferred_channel="email")
    assert codes(signals.preferred_channel_differs(on_sms)) == ["preferred_channel_differs"]
    alias = read(customer("Hi", 0, "twilio_sms"), preferred_channel="sms")
    assert signals.preferred_channel_differs(alias) == []
    assert signals.preferred_channel_differs(read(customer("Hi"))) == []
