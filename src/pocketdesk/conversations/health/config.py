"""Every threshold and weight of the interaction-health detector, in one place, with the reason
for each value.

How the score works: each signal returns reasons carrying a *weight* in points. The score is
``100 - sum(weights)`` clamped to 0–100 (a negative weight, e.g. a customer who says it works
now, gives points back). The conversation is *going badly* when the score is at or below
``GOING_BADLY_AT_OR_BELOW``. Weights were set by hand on the dev set
(``dataset/dev.jsonl``) and are meant to be read as "how many of these would make me worry":
one strong sign is enough on its own — 40 points: the signs the design names (clearly negative
sentiment, questions repeated twice, failed deliveries, a long answer squeezed into SMS, "I
can't hear you"), a customer asking for a call in writing, content the channel cannot carry;
a weak sign (one failed delivery, one rephrased question, "I'm at work") needs company.
"""

from types import MappingProxyType

# --- the verdict -----------------------------------------------------------------------------

# 100 − 40 points of trouble. Forty is the weight of one strong sign, or of two medium ones
# (repetition + negative sentiment), which is where a human reviewer of the dev set starts
# saying "an agent should step in".
GOING_BADLY_AT_OR_BELOW = 60

# --- channels --------------------------------------------------------------------------------

# Names callers may use for a channel, mapped to the names the detector reasons about.
CHANNEL_ALIASES = MappingProxyType(
    {
        "twilio_sms": "sms",
        "mms": "sms",
        "text": "sms",
        "web": "webchat",
        "chat": "webchat",
        "web_chat": "webchat",
        "phone": "voice",
        "call": "voice",
        "mail": "email",
        "e-mail": "email",
        "wa": "whatsapp",
        "facebook": "messenger",
        "fb": "messenger",
        "ig": "instagram",
    }
)

# Channels where the customer types short messages in a thread that stays open.
CHAT_CHANNELS = frozenset({"webchat", "whatsapp", "messenger", "instagram", "social"})

# How soon (minutes) the channel leads a customer to expect an answer. Live channels (a caller on
# hold, a web chat window open on the screen) are about one to two minutes; messaging apps and
# SMS feel conversational, a quarter of an hour is already long; public social inboxes and
# Instagram are slower by habit; e-mail is a business-day medium (8 h).
EXPECTED_REPLY_MINUTES = MappingProxyType(
    {
        "voice": 1.0,
        "webchat": 2.0,
        "sms": 15.0,
        "whatsapp": 15.0,
        "messenger": 30.0,
        "instagram": 60.0,
        "social": 60.0,
        "email": 480.0,
    }
)
# A channel we do not know: treat it like SMS.
EXPECTED_REPLY_MINUTES_DEFAULT = 15.0

# --- waiting ---------------------------------------------------------------------------------

# (ratio of the wait to the channel's expectation, weight), highest ratio first. Just over the
# expectation is a mild sign; three times it is what customers complain about; eight times it
# (two hours on SMS, 16 minutes in a web chat) is on its own a conversation going badly.
WAITING_TIERS = ((8.0, 40), (3.0, 25), (1.0, 10))
# The same for answers that came, but late, earlier in the thread: it hurt, but it is over, so
# it counts for less and only from twice the expectation.
SLOW_REPLY_TIERS = ((8.0, 20), (2.0, 10))

# --- repetition ------------------------------------------------------------------------------

# Only messages with at least this many content words (stop words dropped) are compared: "ok",
# "thanks" and a tracking number sent twice because the agent asked are not re-asks.
REPEAT_MIN_TOKENS = 3
# How many of the customer's most recent messages are compared with each other.
REPEAT_WINDOW = 6
# rapidfuzz token_set_ratio (0–100) over content words at or above which two customer messages
# ask the same thing. 60 catches rephrasings that keep the key nouns ("when will my refund
# arrive" / "when will my refund actually arrive") while two different questions in the same
# thread stay below it on the dev set.
REPEAT_SIMILARITY = 60
# Words are also compared by their first letters, so that a reworded question with the same
# word families still matches (refund/refunded, rembourse/remboursement).
REPEAT_STEM_CHARS = 5
# Weight by number of re-asks: once can be a misunderstanding, twice is a customer stuck.
REPEAT_WEIGHTS = ((3, 50), (2, 40), (1, 25))
# The agent sending (nearly) the same answer twice is the other half of being stuck.
AGENT_REPEAT_SIMILARITY = 80
AGENT_REPEAT_WEIGHT = 20

# --- sentiment -------------------------------------------------------------------------------

# Compound score in [-1, 1] (VADER for English, the French cue lexicon for French). VADER's own
# authors call ≤ -0.05 negative; we look for clearly negative text, so the bar is lower.
SENTIMENT_NEGATIVE = -0.4
SENTIMENT_VERY_NEGATIVE = -0.7
SENTIMENT_NEGATIVE_WEIGHT = 30
SENTIMENT_VERY_NEGATIVE_WEIGHT = 40
# How many of the customer's latest messages the sentiment looks at.
SENTIMENT_RECENT = 3
# Trend: the latest message is at least this much below the best earlier one, and negative.
SENTIMENT_DROP = 0.6
SENTIMENT_DROP_FLOOR = -0.2
SENTIMENT_FALLING_WEIGHT = 10
# Shouting: words in capitals (3+ letters) or runs of "!!!" / "???". Language-independent.
SHOUTING_MIN_CAPS_WORDS = 1
SHOUTING_WEIGHT = 10

# The French lexicon's sum of cue valences s is squashed like VADER's: s / sqrt(s² + alpha).
FRENCH_ALPHA = 15.0

# --- the customer is satisfied ---------------------------------------------------------------

# The customer's latest message thanks, confirms it works, or is clearly positive: gives points
# back. Large enough to outweigh one medium sign (the terrible weather, a single undelivered SMS
# that was then resent), not two strong ones.
SATISFIED_WEIGHT = -30
SATISFIED_SENTIMENT = 0.5
# Cue families that take a thank-you back ("still waiting on an answer, thanks", "thanks for
# nothing", "thanks, but I can't open it"): with one of these the message is no sign of
# satisfaction, and does not count as an acknowledgement that needs no answer.
SATISFIED_BLOCKERS = frozenset(
    {
        "frustration",
        "repeating",
        "nudge",
        "confused",
        "channel_trouble",
        "cannot_hear",
        "callback_request",
    }
)

# --- delivery --------------------------------------------------------------------------------

FAILED_STATUSES = frozenset({"failed", "undelivered", "bounced", "rejected"})
# One failed message is often retried fine; two mean the customer probably got nothing, which
# the design names as a sign on its own.
DELIVERY_FAILED_WEIGHTS = ((2, 40), (1, 20))
# Web chat reconnects: one is a tunnel, two is a bad connection.
RECONNECT_KINDS = frozenset({"reconnect", "reconnected", "disconnect"})
RECONNECT_WEIGHTS = ((3, 35), (2, 25))

# --- modality limits -------------------------------------------------------------------------

# An agent answer on SMS longer than this many segments: two segments (306 GSM-7 or 134 UCS-2
# characters) is about one phone screen, and Twilio's own guidance is to keep messages under
# 320 characters; longer ones arrive in parts on some phones, sometimes out of order, and cost
# a segment each. The design names "a long answer squeezed into SMS" as a sign on its own.
SMS_MAX_SEGMENTS = 2
SMS_TOO_LONG_WEIGHT = 40
# A burst: customer messages in a row, each this short, within this many seconds. Four is
# already typing in pieces; six in two minutes is a customer fighting the keyboard while
# something urgent happens (at a till, at a gate), which on its own needs a better channel.
BURST_MAX_CHARS = 30
BURST_WITHIN_SECONDS = 120
BURST_CHANNELS = frozenset({"sms", "whatsapp", "messenger", "instagram"})
BURST_WEIGHTS = ((6, 40), (4, 20))
# Content SMS and voice cannot carry (the issue names each: an attachment over SMS, a form, a
# long list): each is a sign on its own, the customer cannot use what they were sent.
SMS_ATTACHMENT_WEIGHT = 40
FORM_ON_TEXT_WEIGHT = 40
# A list of at least this many lines (bullets or numbers) read on SMS or over the phone.
LONG_LIST_LINES = 5
LONG_LIST_WEIGHT = 40
LIMITED_CHANNELS = frozenset({"sms", "voice"})
FORM_KINDS = frozenset({"form", "template_form", "interactive_form"})
# Message kinds that are a file (its count may also be given in ``attachments``).
ATTACHMENT_KINDS = frozenset({"attachment", "file", "image", "document", "media"})
# Long instructions in a chat window: hard to follow on a phone and gone when the chat closes.
# Eight steps or 700 characters is about two phone screens.
CHAT_LONG_STEPS = 8
CHAT_LONG_CHARS = 700
CHAT_LONG_WEIGHT = 40
# Said over the phone: a code, reference, IBAN or card number (letters and digits spelled out
# one by one are misheard), or a list of this many items or more.
VOICE_CHANNELS = frozenset({"voice"})
VOICE_LIST_ITEMS = 5
DICTATED_ON_CALL_WEIGHT = 40
# Identity or bank details asked for or sent on channels that are not private enough for them
# (SMS, social inboxes): the secure web chat link is the place for them.
EXPOSED_CHANNELS = frozenset({"sms", "messenger", "instagram", "social"})
SENSITIVE_OVER_TEXT_WEIGHT = 40
# Agent messages still only "sent" (never delivered or read) this many hours later, with no
# word from the customer since: they are not reaching anyone.
UNREAD_STATUSES = frozenset({"sent"})
UNREAD_AFTER_HOURS = 24.0
UNREAD_WEIGHTS = ((2, 40), (1, 25))

# --- explicit cues in the customer's words ---------------------------------------------------

# Weight of each cue family (the phrases live in cues.py). A family counts once, plus
# CUE_REPEAT_BONUS for each further customer message that shows it, up to CUE_MAX_MESSAGES.
CUE_WEIGHTS = MappingProxyType(
    {
        "cannot_hear": 40,  # the call itself does not work
        "bad_connection": 20,  # signal or network trouble: often passes
        "callback_request": 40,  # asking, in writing, to be called: this channel has failed
        "busy_now": 20,  # driving, at work, in a meeting, "later"
        "wants_email": 30,  # asks to move to e-mail; alone it may just be a copy they want
        "channel_trouble": 25,  # cannot open the link, message cut, jumbled
        "frustration": 25,  # ridiculous, unacceptable, thanks for nothing, a manager
        "repeating": 15,  # "again", "as I said", "still nothing"
        "confused": 20,  # "I don't understand"
        "nudge": 10,  # "hello?", "anyone there?"
    }
)
CUE_REPEAT_BONUS = 10
CUE_MAX_MESSAGES = 3
# Cues are looked for in the customer's latest messages only: what they said twenty messages
# ago has been dealt with.
CUE_RECENT = 5
# Words just before a cue that cancel it ("no need to call me", "pas besoin de m'appeler").
CUE_NEGATION_WINDOW_CHARS = 24

# --- context ---------------------------------------------------------------------------------

OUTSIDE_SEND_WINDOW_WEIGHT = 20
PREFERRED_CHANNEL_WEIGHT = 10

# --- suggestions -----------------------------------------------------------------------------

# Where to go when the current channel does not deliver and the customer's preferred channel is
# unknown (or is the current one): the nearest channel that works on a weaker connection or
# reaches the customer another way.
DELIVERY_FALLBACK = MappingProxyType(
    {
        "sms": "email",
        "whatsapp": "sms",
        "messenger": "email",
        "instagram": "email",
        "social": "email",
        "webchat": "sms",
        "email": "sms",
        "voice": "sms",
    }
)
# SMS that cannot carry the content: the secure link that opens the same thread in web chat.
SMS_RICH_TARGET = "webchat"
# Long instructions in a chat: e-mail keeps them.
CHAT_LONG_TARGET = "email"
# A voice line that does not work: a written summary by SMS.
VOICE_TROUBLE_TARGET = "sms"

# --- recency ---------------------------------------------------------------------------------

# Delivery and modality signals look at this many latest messages: a failure or a long SMS
# twenty messages ago has been lived through already.
RECENT_MESSAGES = 12
# An acknowledgement ("thanks!", "ok great") does not start a wait: it needs no answer. Only
# short ones, so a thank-you followed by a new question still counts.
ACKNOWLEDGEMENT_MAX_WORDS = 10
