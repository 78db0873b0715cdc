"""The health score of a conversation and the suggestion an agent should see.

``health_score`` is pure and fast (no database, no network): the conversation model calls it on
every message and delivery event.

Which suggestion, first rule that applies (only when the conversation is going badly):

0. WhatsApp messages fail outside its 24-hour window (``in_send_window`` false) →
   **switch_modality: sms**: free text cannot go out there until the customer writes again.
1. The customer asks for a call, or cannot talk now (driving, at work, "later"), or we are
   outside the hours they accept messages → **schedule_callback** at a time that suits them.
2. A voice call the customer cannot hear, a noisy line where they keep asking again, or a code
   or list read out → **switch_modality: sms** (a written summary).
3. Identity or bank details on SMS or a social inbox, or SMS that cannot carry the content (an
   answer over the segment limit, a file, a form, a long list, a link they cannot open, a burst
   of short messages) → **switch_modality: webchat** (the secure one-time link that opens the
   same thread in web chat).
4. The customer asks for e-mail, or long instructions were sent in a chat → **switch_modality:
   email**, which keeps them.
5. Messages not delivered or never read, or a web chat that keeps reconnecting →
   **switch_modality** to the customer's preferred channel when known and different, else
   config.DELIVERY_FALLBACK.
6. The customer prefers another channel than this one → **switch_modality** to it.
7. The customer is stuck or upset (repetition, negative tone, frustration, confusion, slow
   answers) → **schedule_callback**: a person on the phone at a set time untangles it.
8. Otherwise (they are only waiting) → **none**: the fix is to answer.
"""

from collections.abc import Sequence

from django.utils.translation import gettext as _

from pocketdesk.conversations.health import config
from pocketdesk.conversations.health.signals import SIGNALS, Transcript, transcript_read
from pocketdesk.conversations.health.transcript import (
    HealthContext,
    HealthResult,
    Reason,
    Suggestion,
    TranscriptMessage,
    channel_normalise,
)

_CALLBACK_NOW = frozenset({"cue_callback_request", "cue_busy_now", "outside_send_window"})
_VOICE_TROUBLE = frozenset(
    {"cue_cannot_hear", "cue_bad_connection", "repetition", "dictated_on_call"}
)
_SMS_LIMITS = frozenset(
    {
        "sms_too_long",
        "attachment_over_sms",
        "form_over_text",
        "long_list",
        "short_burst",
        "cue_channel_trouble",
    }
)
_NOT_REACHING = frozenset({"delivery_failed", "chat_reconnects", "not_read"})
_STUCK_OR_UPSET = frozenset(
    {
        "repetition",
        "agent_repetition",
        "sentiment_negative",
        "sentiment_falling",
        "shouting",
        "cue_frustration",
        "cue_repeating",
        "cue_confused",
        "slow_replies",
        "cue_bad_connection",
        "cue_cannot_hear",
    }
)


def suggestion_choose(t: Transcript, reasons: Sequence[Reason], *, going_badly: bool) -> Suggestion:
    """The suggestion for a scored transcript, by the rules in this module's docstring."""
    if not going_badly:
        return Suggestion("none", None, _("the conversation is going well"))
    codes = {reason.code for reason in reasons if reason.weight > 0}
    channel = t.channel
    preferred = channel_normalise(t.context.preferred_channel) or None
    if channel == "whatsapp" and "delivery_failed" in codes and t.context.in_send_window is False:
        # WhatsApp's 24-hour window has closed: free text fails until the customer writes again.
        return Suggestion(
            "switch_modality",
            "sms",
            _("WhatsApp's 24-hour window is closed; continue by SMS"),
        )
    if codes & _CALLBACK_NOW:
        return Suggestion(
            "schedule_callback", None, _("the customer cannot continue here now; call them back")
        )
    if channel == "voice" and codes & _VOICE_TROUBLE:
        return Suggestion(
            "switch_modality",
            config.VOICE_TROUBLE_TARGET,
            _("the call is not getting through; send a written summary"),
        )
    if "sensitive_over_text" in codes and channel in config.EXPOSED_CHANNELS:
        return Suggestion(
            "switch_modality",
            config.SMS_RICH_TARGET,
            _("identity or bank details belong in the secure web chat, not on %(channel)s")
            % {"channel": channel},
        )
    if channel == "sms" and codes & _SMS_LIMITS:
        return Suggestion(
            "switch_modality",
            config.SMS_RICH_TARGET,
            _("SMS cannot carry this; send a secure link to continue in web chat"),
        )
    if "cue_wants_email" in codes or (
        channel in config.CHAT_CHANNELS and "long_instructions" in codes
    ):
        return Suggestion(
            "switch_modality",
            config.CHAT_LONG_TARGET,
            _("long instructions are easier to keep and follow by e-mail"),
        )
    if codes & _NOT_REACHING:
        target = (
            preferred
            if preferred and preferred != channel
            else config.DELIVERY_FALLBACK.get(channel, "sms")
        )
        return Suggestion(
            "switch_modality",
            target,
            _("messages are not reaching the customer on %(channel)s") % {"channel": channel},
        )
    if "preferred_channel_differs" in codes and preferred:
        return Suggestion(
            "switch_modality",
            preferred,
            _("the customer prefers %(channel)s") % {"channel": preferred},
        )
    if codes & _STUCK_OR_UPSET:
        return Suggestion(
            "schedule_callback",
            None,
            _("the customer is stuck or upset; a call at a set time will untangle it"),
        )
    return Suggestion("none", None, _("answer the customer"))


def health_score(messages: Sequence[TranscriptMessage], *, context: HealthContext) -> HealthResult:
    """Score a conversation 0–100 (higher is healthier) with its reasons and a suggestion."""
    transcript = transcript_read(messages, context=context)
    reasons = [reason for signal in SIGNALS for reason in signal(transcript)]
    # Largest effect first: the first reasons are the ones the agent should read.
    reasons.sort(key=lambda reason: -abs(reason.weight))
    score = max(0, min(100, 100 - sum(reason.weight for reason in reasons)))
    going_badly = score <= config.GOING_BADLY_AT_OR_BELOW
    return HealthResult(
        score=score,
        going_badly=going_badly,
        reasons=reasons,
        suggestion=suggestion_choose(transcript, reasons, going_badly=going_badly),
    )
