"""The words of a notification: per event type, channel kind and language, from staff-written
Django templates (most specific first) or the event type's built-in English text.

Every channel gets plain text (no autoescaping: SMS, WhatsApp and push show text as it is; the
email adapter builds the HTML and escapes there). A template sees `payload`, `event_type`,
`digest` (the payloads of the digested events, the first included) and `count`.
"""

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine, TemplateSyntaxError
from django.template import Template as DjangoTemplate
from django.template.defaulttags import DebugNode
from django.template.loader_tags import ExtendsNode, IncludeNode
from django.utils import translation
from django.utils.translation import gettext, ngettext

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.models import PHONE_KINDS
from pocketdesk.customers.models import ChannelKind as ContactKind
from pocketdesk.messaging.segments import sms_segments
from pocketdesk.notifications.event_types import EVENT_TYPES, TEXT_MAX, event_title
from pocketdesk.notifications.models import Template

logger = logging.getLogger(__name__)

TEMPLATE_MAX = 5000
SUBJECT_MAX = 200
# What one message may carry on a channel: Twilio takes 1,600 characters; push banners and
# chat bubbles are cut long before.
BODY_MAX: dict[str, int] = {
    ContactKind.PHONE: 1600,
    ContactKind.WHATSAPP: 4096,
    ContactKind.WEBPUSH: 1000,
    ContactKind.EMAIL: 20_000,
}
BODY_MAX_DEFAULT = 2000
# An SMS longer than this many segments costs as much as several; the preview says so.
SMS_SEGMENTS_WARN = 2
DIGEST_ITEMS_MAX = 20

# Templates are written by staff: only the built-in tags and filters, nothing that reads files
# ({% include %}, {% extends %}) or dumps the process ({% debug %}); {% load %} finds nothing.
_engine = Engine(autoescape=False, libraries={}, loaders=[])
_REFUSED_NODES = ((DebugNode, "debug"), (IncludeNode, "include"), (ExtendsNode, "extends"))


@dataclass(frozen=True)
class RenderedText:
    subject: str
    body: str
    segments: int | None  # SMS segments for phone and WhatsApp, else None


def _compile(source: str, *, field: str) -> DjangoTemplate:
    """The compiled template, or 422 `invalid_template` with the reason."""
    if not isinstance(source, str):
        raise ValidationFailed("A template is text.", field=field, code="invalid_template")
    limit = SUBJECT_MAX if field == "subject" else TEMPLATE_MAX
    if len(source) > limit:
        raise ValidationFailed(
            f"A template is at most {limit} characters.", field=field, code="invalid_template"
        )
    try:
        template = _engine.from_string(source)
    except TemplateSyntaxError as error:
        raise ValidationFailed(
            f"The template does not parse: {error}", field=field, code="invalid_template"
        ) from error
    for node_type, tag in _REFUSED_NODES:
        if template.nodelist.get_nodes_by_type(node_type):
            raise ValidationFailed(
                f"The {{% {tag} %}} tag is not available in notification templates.",
                field=field,
                code="invalid_template",
            )
    return template


def template_check(body: str, *, field: str = "body") -> str:
    """The template text when it parses (422 `invalid_template` with the reason otherwise)."""
    _compile(body, field=field)
    return body


def _tidy(text: str, channel_kind: str) -> str:
    """Plain text as it goes out: email keeps its lines (one blank line at most between
    paragraphs), other channels one line; cut to what the channel carries."""
    if channel_kind == ContactKind.EMAIL:
        lines = [line.rstrip() for line in text.strip().splitlines()]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = " ".join(text.split())
    limit = BODY_MAX.get(channel_kind, BODY_MAX_DEFAULT)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _segments(body: str, channel_kind: str) -> int | None:
    return sms_segments(body).segments if channel_kind in PHONE_KINDS else None


def _render(template: DjangoTemplate, context: Mapping[str, Any]) -> str:
    # A Context autoescapes unless told not to, whatever the engine says.
    return template.render(Context(dict(context), autoescape=False))


def _context(
    event_type: str, payload: Mapping[str, Any], digest: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    items = [dict(item) for item in digest] or [dict(payload)]
    return {
        "payload": dict(payload),
        "event_type": event_type,
        "digest": items,
        "count": len(items),
    }


class TextRenderer:
    """Every stored template, read once; each compiled the first time it is used. Cheap to make
    once per batch; not shared across threads."""

    def __init__(self, rows: Iterable[tuple[int, str, str, str, str, str]]) -> None:
        self._sources: dict[tuple[str, str, str], tuple[int, str, str]] = {
            (event_type, channel, language): (pk, subject, body)
            for pk, event_type, channel, language, subject, body in rows
        }
        self._compiled: dict[tuple[int, str], DjangoTemplate | None] = {}
        self._builtin: dict[str, DjangoTemplate] = {}

    def _template(self, pk: int, part: str, source: str) -> DjangoTemplate | None:
        key = (pk, part)
        if key not in self._compiled:
            try:
                self._compiled[key] = _compile(source, field=part) if source else None
            except ValidationFailed as error:  # stored before a check existed, or edited by hand
                logger.warning(
                    "notifications.template.invalid", extra={"template": pk, "reason": error.detail}
                )
                self._compiled[key] = None
        return self._compiled[key]

    def find(
        self, event_type: str, channel_kind: str, language: str
    ) -> tuple[int, str, str] | None:
        """The most specific stored template: channel and language, channel, language, any."""
        # A regional language ("fr-ca") also takes its base language's templates ("fr").
        languages = dict.fromkeys((language, language.split("-")[0], ""))
        for channel in dict.fromkeys((channel_kind, "")):
            for lang in languages:
                found = self._sources.get((event_type, channel, lang))
                if found is not None:
                    return found
        return None

    def render(
        self,
        *,
        event_type: str,
        payload: Mapping[str, Any],
        channel_kind: str,
        language: str,
        digest: Sequence[Mapping[str, Any]] = (),
    ) -> RenderedText:
        context = _context(event_type, payload, digest)
        found = self.find(event_type, channel_kind, language)
        with translation.override(language or None):
            if found is not None:
                pk, subject_source, body_source = found
                rendered = self._render_stored(pk, subject_source, body_source, context)
                if rendered is not None:
                    subject, body = rendered
                    subject = subject or event_title(event_type, payload)
                    return self._result(subject, body, channel_kind)
            subject = event_title(event_type, payload)
            return self._result(subject, self._builtin_text(context), channel_kind)

    def _render_stored(
        self, pk: int, subject_source: str, body_source: str, context: Mapping[str, Any]
    ) -> tuple[str, str] | None:
        """(subject, body) from a stored template, or None (logged) when it cannot render or
        renders to nothing: the built-in text goes out instead."""
        body_template = self._template(pk, "body", body_source)
        if body_template is None:
            return None
        subject_template = self._template(pk, "subject", subject_source)
        try:
            body = _render(body_template, context)
            subject = _render(subject_template, context) if subject_template else ""
        except Exception as error:  # a filter given what it cannot take: never fail a send
            logger.warning(
                "notifications.template.render_failed",
                extra={"template": pk, "reason": f"{type(error).__name__}: {error}"[:200]},
            )
            return None
        if not body.strip():
            logger.warning("notifications.template.empty", extra={"template": pk})
            return None
        return " ".join(subject.split())[:SUBJECT_MAX], body

    def _builtin_text(self, context: Mapping[str, Any]) -> str:
        event_type = context["event_type"]
        digest = context["digest"]
        texts = [self._builtin_one(event_type, item) for item in digest[:DIGEST_ITEMS_MAX]]
        if len(digest) <= 1:
            return texts[0]
        count = len(digest)
        text = ngettext("%(count)d update: %(texts)s", "%(count)d updates: %(texts)s", count) % {
            "count": count,
            "texts": "; ".join(texts),
        }
        return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"

    def _builtin_one(self, event_type: str, payload: Mapping[str, Any]) -> str:
        known = EVENT_TYPES.get(event_type)
        if known is None:
            return event_type
        template = self._builtin.get(event_type)
        if template is None:
            template = self._builtin[event_type] = _engine.from_string(known.text)
        try:
            text = " ".join(_render(template, {"payload": dict(payload)}).split())
        except Exception:  # built-in texts only read the payload; still never fail a send
            logger.exception("notifications.text.builtin_failed", extra={"type": event_type})
            text = ""
        return text or gettext(known.title)

    @staticmethod
    def _result(subject: str, body: str, channel_kind: str) -> RenderedText:
        body = _tidy(body, channel_kind)
        return RenderedText(subject=subject, body=body, segments=_segments(body, channel_kind))


def text_renderer() -> TextRenderer:
    """A renderer holding every stored template (one query)."""
    rows = Template.objects.values_list(
        "pk", "event_type", "channel_kind", "language", "subject", "body"
    )
    return TextRenderer(rows)


def text_render_body(
    *,
    body: str,
    subject: str = "",
    event_type: str,
    payload: Mapping[str, Any],
    channel_kind: str,
    language: str,
    digest: Sequence[Mapping[str, Any]] = (),
) -> RenderedText:
    """Render a template that is not stored (the preview of an edit): 422 `invalid_template`
    when it does not parse or fails to render, so the author sees why."""
    body_template = _compile(body, field="body")
    subject_template = _compile(subject, field="subject")
    context = _context(event_type, payload, digest)
    with translation.override(language or None):
        try:
            rendered_body = _render(body_template, context)
            rendered_subject = _render(subject_template, context) if subject else ""
        except Exception as error:
            raise ValidationFailed(
                f"The template fails to render: {type(error).__name__}: {error}",
                field="body",
                code="invalid_template",
            ) from error
        title = " ".join(rendered_subject.split())[:SUBJECT_MAX] or event_title(event_type, payload)
    return TextRenderer._result(title, rendered_body, channel_kind)


def sms_warning(rendered: RenderedText) -> str:
    """The preview's advice when an SMS costs more than SMS_SEGMENTS_WARN segments."""
    if rendered.segments is None or rendered.segments <= SMS_SEGMENTS_WARN:
        return ""
    return gettext(
        "This SMS needs %(segments)d segments (each is billed). Keep it short and put a link "
        "to the details instead of the long text."
    ) % {"segments": rendered.segments}
