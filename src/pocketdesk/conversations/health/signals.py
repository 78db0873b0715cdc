"""The health signals: each a small pure function from a read transcript to zero or more
reasons. Weights and thresholds come from config.py."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rapidfuzz import fuzz

from pocketdesk.conversations.health import config
from pocketdesk.conversations.health.cues import cues_find, satisfied_says
from pocketdesk.conversations.health.language import (
    content_words,
    language_guess,
    text_normalise,
    words,
)
from pocketdesk.conversations.health.sentiment import sentiment_compound
from pocketdesk.conversations.health.transcript import (
    HealthContext,
    Reason,
    TranscriptMessage,
    channel_normalise,
)
from pocketdesk.messaging.segments import sms_segments


@dataclass(frozen=True, slots=True)
class Transcript:
    """A transcript read once for all signals: messages oldest first, what the customer said
    (their text messages) with the sentiment and cue families of each."""

    messages: tuple[TranscriptMessage, ...]
    context: HealthContext
    channel: str  # where the conversation is now: the customer's latest channel
    language: str | None  # "en", "fr", another code, or None (unknown)
    said: tuple[TranscriptMessage, ...]
    sentiments: tuple[float | None, ...]
    cues: tuple[frozenset[str], ...]

    @property
    def recent(self) -> tuple[TranscriptMessage, ...]:
        return self.messages[-config.RECENT_MESSAGES :]


def transcript_read(messages: Sequence[TranscriptMessage], *, context: HealthContext) -> Transcript:
    ordered = tuple(sorted(messages, key=lambda message: message.at))
    said = tuple(
        message for message in ordered if message.sender == "customer" and _has_words(message)
    )
    language = context.language
    if language is None:
        language = language_guess(message.text for message in said) or language_guess(
            message.text for message in ordered
        )
    last = said[-1] if said else (ordered[-1] if ordered else None)
    cues = tuple(cues_find(message.text, language) for message in said)
    return Transcript(
        messages=ordered,
        context=context,
        channel=channel_normalise(last.channel) if last else "",
        language=language,
        said=said,
        sentiments=tuple(
            sentiment_compound(message.text, language, sarcastic="frustration" in found)
            for message, found in zip(said, cues, strict=True)
        ),
        cues=cues,
    )


Signal = Callable[[Transcript], list[Reason]]


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tier(value: float, tiers: Sequence[tuple[float, int]]) -> int:
    for threshold, weight in tiers:
        if value >= threshold:
            return weight
    return 0


def _duration(minutes: float) -> str:
    if minutes < 90:
        return _("%(n)d min") % {"n": round(minutes)}
    if minutes < 48 * 60:
        return _("%(h)d h %(m)02d") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(d)d days") % {"d": round(minutes / 1440)}


def _expected_minutes(channel: str) -> float:
    return config.EXPECTED_REPLY_MINUTES.get(channel, config.EXPECTED_REPLY_MINUTES_DEFAULT)


def _thanks(message: TranscriptMessage, language: str | None) -> bool:
    """The message thanks or confirms, and says nothing that takes it back."""
    return satisfied_says(message.text) and not (
        cues_find(message.text, language) & config.SATISFIED_BLOCKERS
    )


def _is_acknowledgement(message: TranscriptMessage, language: str | None) -> bool:
    return len(words(message.text)) <= config.ACKNOWLEDGEMENT_MAX_WORDS and _thanks(
        message, language
    )


def _has_words(message: TranscriptMessage) -> bool:
    """A message someone wrote or said (a photo's caption counts; a reconnect does not)."""
    return message.kind not in config.RECONNECT_KINDS and bool(message.text.strip())


def _is_answer(message: TranscriptMessage) -> bool:
    """An agent message the customer could have seen (a failed one answers nothing)."""
    return (
        message.sender == "agent"
        and message.kind not in config.RECONNECT_KINDS
        and (message.status or "") not in config.FAILED_STATUSES
    )


# --- sentiment -------------------------------------------------------------------------------


def sentiment_negative(t: Transcript) -> list[Reason]:
    """The customer's latest messages read clearly negative."""
    recent = [s for s in t.sentiments[-config.SENTIMENT_RECENT :] if s is not None]
    if not recent:
        return []
    latest = recent[-1]
    tail = recent[-2:]
    mean = sum(tail) / len(tail)
    worst = min(latest, mean)
    if worst > config.SENTIMENT_NEGATIVE:
        return []
    weight = (
        config.SENTIMENT_VERY_NEGATIVE_WEIGHT
        if worst <= config.SENTIMENT_VERY_NEGATIVE
        else config.SENTIMENT_NEGATIVE_WEIGHT
    )
    return [
        Reason(
            "sentiment_negative",
            _("customer's tone is negative (%(score).2f)") % {"score": worst},
            weight,
            {"latest": round(latest, 3), "recent_mean": round(mean, 3)},
        )
    ]


def sentiment_falling(t: Transcript) -> list[Reason]:
    """The latest message is much more negative than the customer was earlier."""
    scores = [s for s in t.sentiments if s is not None]
    if len(scores) < 2:
        return []
    latest, best = scores[-1], max(scores[:-1])
    if latest > config.SENTIMENT_DROP_FLOOR or best - latest < config.SENTIMENT_DROP:
        return []
    return [
        Reason(
            "sentiment_falling",
            _("sentiment falling (%(before).2f → %(now).2f)") % {"before": best, "now": latest},
            config.SENTIMENT_FALLING_WEIGHT,
            {"from": round(best, 3), "to": round(latest, 3)},
        )
    ]


_CAPS_WORD = re.compile(r"\b[A-ZÀ-Ý]{4,}\b")
# Capitals that are names, not a raised voice.
_ACRONYMS = frozenset(
    {"HDMI", "WIFI", "HTTP", "HTML", "IBAN", "SWIFT", "SIRET", "COVID", "NASA", "ASAP", "SEPA"}
)
_PUNCTUATION_RUN = re.compile(r"[!?]{3,}")


def shouting(t: Transcript) -> list[Reason]:
    """Capitals or "!!!" in the customer's latest messages (any language)."""
    for message in t.said[-config.SENTIMENT_RECENT :]:
        caps = [w for w in _CAPS_WORD.findall(message.text) if w not in _ACRONYMS]
        if len(caps) >= config.SHOUTING_MIN_CAPS_WORDS or _PUNCTUATION_RUN.search(message.text):
            return [
                Reason(
                    "shouting",
                    _("customer is shouting (“%(quote)s”)") % {"quote": _quote(message.text)},
                    config.SHOUTING_WEIGHT,
                    {"quote": _quote(message.text)},
                )
            ]
    return []


def customer_satisfied(t: Transcript) -> list[Reason]:
    """The customer's latest message thanks or confirms it works: points given back."""
    if not t.said:
        return []
    message, sentiment, cues = t.said[-1], t.sentiments[-1], t.cues[-1]
    if cues & config.SATISFIED_BLOCKERS:
        return []
    thanks = _thanks(message, t.language)
    positive = (
        sentiment is not None
        and sentiment >= config.SATISFIED_SENTIMENT
        and "?" not in message.text
    )
    if not (thanks or positive) or (sentiment is not None and sentiment <= -0.3):
        return []
    return [
        Reason(
            "customer_satisfied",
            _("customer sounds satisfied (“%(quote)s”)") % {"quote": _quote(message.text)},
            config.SATISFIED_WEIGHT,
            {"quote": _quote(message.text)},
        )
    ]


# --- repetition ------------------------------------------------------------------------------


def _similar(a: tuple[str, ...], b: tuple[str, ...], threshold: int) -> bool:
    return fuzz.token_set_ratio(" ".join(a), " ".join(b), score_cutoff=threshold) > 0


def _stems(tokens: tuple[str, ...]) -> tuple[str, ...]:
    # The first letters of a word stand for its family: refund/refunded, rembourse/remboursement.
    return tuple(token[: config.REPEAT_STEM_CHARS] for token in tokens)


def repetition(t: Transcript) -> list[Reason]:
    """The customer asks again what they asked before, same words or reworded."""
    window = []
    for message in t.said[-config.REPEAT_WINDOW :]:
        if _is_acknowledgement(message, t.language):
            continue
        tokens = content_words(message.text)
        # A short question can be a re-ask ("any news on my refund?"); a short statement rarely.
        least = config.REPEAT_MIN_TOKENS - ("?" in message.text)
        if len(tokens) >= least:
            window.append((tokens, _stems(tokens)))
    repeats = sum(
        1
        for index, (tokens, stems) in enumerate(window)
        if any(
            _similar(tokens, earlier, config.REPEAT_SIMILARITY)
            or _similar(stems, earlier_stems, config.REPEAT_SIMILARITY)
            for earlier, earlier_stems in window[:index]
        )
    )
    weight = _tier(repeats, config.REPEAT_WEIGHTS)
    if not weight:
        return []
    return [
        Reason(
            "repetition",
            ngettext(
                "customer repeated the question %(n)d time",
                "customer repeated the question %(n)d times",
                repeats,
            )
            % {"n": repeats},
            weight,
            {"repeats": repeats},
        )
    ]


def agent_repetition(t: Transcript) -> list[Reason]:
    """The agent sent (nearly) the same answer twice: the thread is going round in circles."""
    answers = [
        (message, content_words(message.text))
        for message in t.recent
        if message.sender == "agent" and _has_words(message)
    ]
    for index, (message, tokens) in enumerate(answers):
        if len(tokens) < config.REPEAT_MIN_TOKENS:
            continue
        for earlier, earlier_tokens in answers[:index]:
            if (earlier.status or "") in config.FAILED_STATUSES:
                continue  # resending what did not arrive is right
            if len(earlier_tokens) >= config.REPEAT_MIN_TOKENS and _similar(
                tokens, earlier_tokens, config.AGENT_REPEAT_SIMILARITY
            ):
                return [
                    Reason(
                        "agent_repetition",
                        _("agent sent the same answer again (“%(quote)s”)")
                        % {"quote": _quote(message.text)},
                        config.AGENT_REPEAT_WEIGHT,
                        {"quote": _quote(message.text)},
                    )
                ]
    return []


# --- waiting ---------------------------------------------------------------------------------


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def waiting(t: Transcript) -> list[Reason]:
    """The customer has been waiting, since their first message left unanswered, longer than
    the channel leads them to expect. A thank-you needs no answer and starts no wait."""
    pending: TranscriptMessage | None = None
    for message in t.messages:
        if _is_answer(message):
            pending = None
        elif (
            pending is None
            and message.sender == "customer"
            and _has_words(message)
            and not _is_acknowledgement(message, t.language)
        ):
            pending = message
    if pending is None:
        return []
    minutes = _minutes(t.context.now, pending.at)
    expected = _expected_minutes(pending.channel)
    weight = _tier(minutes / expected, config.WAITING_TIERS)
    if not weight:
        return []
    return [
        Reason(
            "waiting",
            _("customer waiting %(wait)s on %(channel)s (expected within %(expected)s)")
            % {
                "wait": _duration(minutes),
                "channel": pending.channel,
                "expected": _duration(expected),
            },
            weight,
            {"minutes": round(minutes, 1), "expected_minutes": expected},
        )
    ]


def slow_replies(t: Transcript) -> list[Reason]:
    """Earlier answers came late for the channel."""
    pending: TranscriptMessage | None = None
    worst_ratio, worst_minutes, worst_channel = 0.0, 0.0, ""
    for message in t.messages:
        if _is_answer(message):
            if pending is not None:
                minutes = _minutes(message.at, pending.at)
                ratio = minutes / _expected_minutes(pending.channel)
                if ratio > worst_ratio:
                    worst_ratio, worst_minutes, worst_channel = ratio, minutes, pending.channel
            pending = None
        elif (
            pending is None
            and message.sender == "customer"
            and _has_words(message)
            and not _is_acknowledgement(message, t.language)
        ):
            pending = message
    weight = _tier(worst_ratio, config.SLOW_REPLY_TIERS)
    if not weight:
        return []
    return [
        Reason(
            "slow_replies",
            _("an answer took %(wait)s on %(channel)s")
            % {"wait": _duration(worst_minutes), "channel": worst_channel},
            weight,
            {"minutes": round(worst_minutes, 1), "ratio": round(worst_ratio, 2)},
        )
    ]


# --- delivery --------------------------------------------------------------------------------


def delivery_failed(t: Transcript) -> list[Reason]:
    """Messages that never arrived: our answers, or the customer's own photo or text."""
    failed = [message for message in t.recent if (message.status or "") in config.FAILED_STATUSES]
    weight = _tier(len(failed), config.DELIVERY_FAILED_WEIGHTS)
    if not weight:
        return []
    channels = sorted({message.channel for message in failed})
    return [
        Reason(
            "delivery_failed",
            ngettext(
                "%(n)d message not delivered (%(channels)s)",
                "%(n)d messages not delivered (%(channels)s)",
                len(failed),
            )
            % {"n": len(failed), "channels": ", ".join(channels)},
            weight,
            {"count": len(failed), "channels": channels},
        )
    ]


def not_read(t: Transcript) -> list[Reason]:
    """Our messages still only "sent", never delivered or read, long after, and the customer has
    said nothing since: they are not reaching anyone (an e-mail never opened)."""
    last_word = max((m.at for m in t.messages if m.sender == "customer"), default=None)
    stale = [
        message
        for message in t.recent
        if message.sender == "agent"
        and (message.status or "") in config.UNREAD_STATUSES
        and (last_word is None or message.at > last_word)
        and _minutes(t.context.now, message.at) >= config.UNREAD_AFTER_HOURS * 60
    ]
    weight = _tier(len(stale), config.UNREAD_WEIGHTS)
    if not weight:
        return []
    return [
        Reason(
            "not_read",
            ngettext(
                "%(n)d message sent but never delivered or read (%(channel)s)",
                "%(n)d messages sent but never delivered or read (%(channel)s)",
                len(stale),
            )
            % {"n": len(stale), "channel": stale[-1].channel},
            weight,
            {"count": len(stale)},
        )
    ]


def chat_reconnects(t: Transcript) -> list[Reason]:
    """The web chat dropped and reconnected again and again."""
    count = sum(1 for message in t.recent if message.kind in config.RECONNECT_KINDS)
    weight = _tier(count, config.RECONNECT_WEIGHTS)
    if not weight:
        return []
    return [
        Reason(
            "chat_reconnects",
            _("chat reconnected %(n)d times") % {"n": count},
            weight,
            {"count": count},
        )
    ]


# --- modality limits -------------------------------------------------------------------------


def sms_too_long(t: Transcript) -> list[Reason]:
    """An agent answer on SMS that arrives in more segments than a phone shows as one."""
    longest = 0
    for message in t.recent:
        if message.sender == "agent" and message.channel == "sms" and _has_words(message):
            longest = max(longest, sms_segments(message.text).segments)
    if longest <= config.SMS_MAX_SEGMENTS:
        return []
    return [
        Reason(
            "sms_too_long",
            _("an answer went out as %(n)d SMS segments") % {"n": longest},
            config.SMS_TOO_LONG_WEIGHT,
            {"segments": longest, "limit": config.SMS_MAX_SEGMENTS},
        )
    ]


def short_burst(t: Transcript) -> list[Reason]:
    """Many short customer messages in a row, fast: the channel makes them type in pieces."""
    run: list[TranscriptMessage] = []
    longest: list[TranscriptMessage] = []
    for message in t.recent:
        if message.sender == "agent":
            run = []
            continue
        if (
            not _has_words(message)
            or message.kind in config.ATTACHMENT_KINDS
            or _is_acknowledgement(message, t.language)
            or message.channel not in config.BURST_CHANNELS
            or len(message.text.strip()) > config.BURST_MAX_CHARS
        ):
            run = []
            continue
        run.append(message)
        while (run[-1].at - run[0].at).total_seconds() > config.BURST_WITHIN_SECONDS:
            run.pop(0)
        if len(run) > len(longest):
            longest = list(run)
    weight = _tier(len(longest), config.BURST_WEIGHTS)
    if not weight:
        return []
    return [
        Reason(
            "short_burst",
            _("customer sent %(n)d short messages in a row") % {"n": len(longest)},
            weight,
            {"count": len(longest)},
        )
    ]


_LIST_LINE = re.compile(r"^\s*(?:[-*•·▪◦]|\d{1,2}[.)]|[a-z][.)])\s+\S", re.MULTILINE)


def unsupported_content(t: Transcript) -> list[Reason]:
    """Agent content SMS or a phone call cannot carry: a file, a form, a long list."""
    reasons: dict[str, Reason] = {}
    for message in t.recent:
        if message.channel not in config.LIMITED_CHANNELS:
            continue
        has_file = message.attachments or message.kind in config.ATTACHMENT_KINDS
        if message.sender == "customer":
            # The customer's own photo counts only when it did not go through.
            has_file = has_file and (message.status or "") in config.FAILED_STATUSES
            if not has_file:
                continue
        if message.channel == "sms" and has_file and "attachment" not in reasons:
            reasons["attachment"] = Reason(
                "attachment_over_sms",
                _("a file was sent by SMS"),
                config.SMS_ATTACHMENT_WEIGHT,
                {"attachments": max(1, message.attachments)},
            )
        if message.kind in config.FORM_KINDS and "form" not in reasons:
            reasons["form"] = Reason(
                "form_over_text",
                _("a form was sent on %(channel)s") % {"channel": message.channel},
                config.FORM_ON_TEXT_WEIGHT,
                {"channel": message.channel},
            )
        items = len(_LIST_LINE.findall(message.text))
        if items >= config.LONG_LIST_LINES and "list" not in reasons:
            reasons["list"] = Reason(
                "long_list",
                _("a list of %(n)d items was sent on %(channel)s")
                % {"n": items, "channel": message.channel},
                config.LONG_LIST_WEIGHT,
                {"items": items, "channel": message.channel},
            )
    return list(reasons.values())


# A reference read out: letters and digits mixed (QX77A2), spelled one by one ("K, 7, P, 2"),
# spelled with words ("K as in kilo", "P comme Paris"), or a long number (IBAN, card, account).
_DICTATED = re.compile(
    r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9-]{6,}\b"
    r"|(?:\b[A-Za-z0-9]\b[ ,.-]+){4,}"
    r"|\b[A-Z]\b,? (?:as in|for|like|comme) [A-Za-z]+"
    r"|\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,}"
    r"|\d[\d .-]{9,}\d"
)
_LIST_SEPARATORS = re.compile(r"[,;]|\band\b|\bet\b|\bplus\b")


def dictated_on_call(t: Transcript) -> list[Reason]:
    """On a call, the agent reads out a reference, IBAN or code, or a long list: heard once,
    easily misheard, gone when the call ends."""
    for message in t.recent:
        if message.sender != "agent" or message.channel not in config.VOICE_CHANNELS:
            continue
        items = [part for part in _LIST_SEPARATORS.split(message.text) if part.strip()]
        short_items = [part for part in items if len(part.split()) <= 6]
        if _DICTATED.search(message.text) or len(short_items) >= config.VOICE_LIST_ITEMS:
            return [
                Reason(
                    "dictated_on_call",
                    _("a code or a list was read out on the call (“%(quote)s”)")
                    % {"quote": _quote(message.text)},
                    config.DICTATED_ON_CALL_WEIGHT,
                    {"quote": _quote(message.text)},
                )
            ]
    return []


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,}(?: ?[A-Z0-9]{1,4})?\b")
_SENSITIVE_THING = (
    r"(?:card (?:number|details)|credit card|debit card|cvv|cvc|security code|iban|"
    r"bank (?:details|account)|account number|sort code|routing number|passport number|"
    r"(?:photo|picture|copy|scan) of (?:your |my |the )?(?:id|id card|licen[cs]e|passport)|"
    r"date of birth|social security|ssn|password|pin(?: code)?|"
    r"numero de (?:carte|compte|passeport|securite sociale)|carte bancaire|cryptogramme|rib|"
    r"coordonnees bancaires|(?:photo|copie|scan) (?:de|d'une|d'un) (?:votre |ma |la |le )?"
    r"(?:piece d'identite|carte d'identite|passeport|permis)|"
    r"date de naissance|mot de passe|code (?:pin|secret|confidentiel))"
)
_SENSITIVE_ASK = re.compile(
    r"(?<![\w'])(?:send|give|provide|confirm|share|text|reply with|enter|type|upload|"
    r"what(?:'s| is)|envoy\w*|donn\w*|communiqu\w*|confirm\w*|indiqu\w*|transmett\w*|"
    r"saisi\w*|fourni\w*|quel est|voici)(?![\w'])[^.?!]{0,40}?(?<![\w'])"
    + _SENSITIVE_THING
    + r"(?![\w'])"
)


def sensitive_over_text(t: Transcript) -> list[Reason]:
    """Identity or bank details asked for or sent over SMS or a social inbox."""
    for message in t.recent:
        if message.channel not in config.EXPOSED_CHANNELS or not _has_words(message):
            continue
        normalised = text_normalise(message.text)
        cards = [m.group() for m in _CARD.finditer(message.text)]
        sent_number = any(_luhn(re.sub(r"\D", "", card)) for card in cards) or bool(
            _IBAN.search(message.text.upper().replace("-", " ")) and message.sender == "customer"
        )
        if sent_number or _SENSITIVE_ASK.search(normalised):
            return [
                Reason(
                    "sensitive_over_text",
                    _("identity or bank details asked for or sent on %(channel)s")
                    % {"channel": message.channel},
                    config.SENSITIVE_OVER_TEXT_WEIGHT,
                    {"channel": message.channel, "by": message.sender},
                )
            ]
    return []


def long_instructions_on_chat(t: Transcript) -> list[Reason]:
    """Long step-by-step instructions in a chat window, hard to follow and easy to lose."""
    for message in t.recent:
        if message.sender != "agent" or message.channel not in config.CHAT_CHANNELS:
            continue
        steps = len(_LIST_LINE.findall(message.text))
        if steps >= config.CHAT_LONG_STEPS or len(message.text) > config.CHAT_LONG_CHARS:
            return [
                Reason(
                    "long_instructions",
                    _(
                        "long instructions (%(steps)d steps, %(chars)d characters) sent on "
                        "%(channel)s"
                    )
                    % {"steps": steps, "chars": len(message.text), "channel": message.channel},
                    config.CHAT_LONG_WEIGHT,
                    {"steps": steps, "chars": len(message.text), "channel": message.channel},
                )
            ]
    return []


# --- explicit cues ---------------------------------------------------------------------------


def _cue_texts() -> dict[str, str]:
    return {
        "cannot_hear": _("customer cannot hear the call"),
        "bad_connection": _("customer reports a bad connection"),
        "callback_request": _("customer asks to be called"),
        "busy_now": _("customer cannot talk now (driving, at work, later)"),
        "wants_email": _("customer asks for e-mail"),
        "channel_trouble": _("customer cannot read or open what was sent"),
        "frustration": _("customer voices frustration"),
        "repeating": _("customer says they are repeating themselves"),
        "confused": _("customer does not understand"),
        "nudge": _("customer is chasing an answer"),
    }


def explicit_cues(t: Transcript) -> list[Reason]:
    """What the customer says outright in their latest messages, English and French."""
    seen: dict[str, list[str]] = {}
    start = max(0, len(t.said) - config.CUE_RECENT)
    for message, families in zip(t.said[start:], t.cues[start:], strict=True):
        for family in families:
            seen.setdefault(family, []).append(message.text)
    texts = _cue_texts()
    reasons = []
    for family in config.CUE_WEIGHTS:
        quotes = seen.get(family)
        if not quotes:
            continue
        count = min(len(quotes), config.CUE_MAX_MESSAGES)
        weight = config.CUE_WEIGHTS[family] + config.CUE_REPEAT_BONUS * (count - 1)
        quote = _quote(quotes[-1])
        reasons.append(
            Reason(
                f"cue_{family}",
                f"{texts[family]} (“{quote}”)",
                weight,
                {"messages": len(quotes), "quote": quote},
            )
        )
    return reasons


# --- context ---------------------------------------------------------------------------------


def outside_send_window(t: Transcript) -> list[Reason]:
    if t.context.in_send_window is not False:
        return []
    return [
        Reason(
            "outside_send_window",
            _("outside the hours the customer accepts messages"),
            config.OUTSIDE_SEND_WINDOW_WEIGHT,
        )
    ]


def preferred_channel_differs(t: Transcript) -> list[Reason]:
    preferred = t.context.preferred_channel
    if not preferred or not t.channel or channel_normalise(preferred) == t.channel:
        return []
    return [
        Reason(
            "preferred_channel_differs",
            _("customer prefers %(preferred)s, conversation is on %(channel)s")
            % {"preferred": preferred, "channel": t.channel},
            config.PREFERRED_CHANNEL_WEIGHT,
            {"preferred": preferred, "channel": t.channel},
        )
    ]


SIGNALS: tuple[Signal, ...] = (
    sentiment_negative,
    sentiment_falling,
    shouting,
    repetition,
    agent_repetition,
    waiting,
    slow_replies,
    delivery_failed,
    not_read,
    chat_reconnects,
    sms_too_long,
    short_burst,
    unsupported_content,
    dictated_on_call,
    sensitive_over_text,
    long_instructions_on_chat,
    explicit_cues,
    outside_send_window,
    preferred_channel_differs,
    customer_satisfied,
)
