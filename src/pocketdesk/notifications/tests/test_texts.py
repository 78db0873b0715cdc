"""Notification texts: the most specific template wins, plain text on every channel, SMS
segments, digests, broken templates refused at save and never failing a send."""

import logging

import pytest
from django.utils import translation

from pocketdesk.core.errors import ValidationFailed
from pocketdesk.notifications.event_types import event_text, event_title
from pocketdesk.notifications.models import Template
from pocketdesk.notifications.services.configuration import template_upsert
from pocketdesk.notifications.texts import (
    SMS_SEGMENTS_WARN,
    sms_warning,
    template_check,
    text_render_body,
    text_renderer,
)

pytestmark = pytest.mark.django_db

DELAY = {"flight": "AC123", "new_time": "18:40"}


def _save(actor, body, *, channel="", language="", subject="", type_="flight.delayed"):
    template, _ = template_upsert(
        actor=actor,
        event_type=type_,
        channel_kind=channel,
        language=language,
        subject=subject,
        body=body,
    )
    return template


def _render(channel="phone", language="fr", payload=DELAY, digest=(), type_="flight.delayed"):
    return text_renderer().render(
        event_type=type_,
        payload=payload,
        channel_kind=channel,
        language=language,
        digest=digest,
    )


def test_the_most_specific_template_wins(admin_user):
    _save(admin_user, "any {{ payload.flight }}")
    assert _render().body == "any AC123"
    _save(admin_user, "fr {{ payload.flight }}", language="fr")
    assert _render().body == "fr AC123"
    assert _render(language="en").body == "any AC123"
    _save(admin_user, "sms {{ payload.flight }}", channel="phone")
    assert _render().body == "sms AC123"
    assert _render(channel="email").body == "fr AC123"
    _save(admin_user, "sms fr {{ payload.flight }}", channel="phone", language="fr")
    assert _render().body == "sms fr AC123"
    assert _render(language="en").body == "sms AC123"
    # A regional language takes its base language's template.
    assert _render(language="fr-ca").body == "sms fr AC123"
    # Another type: the built-in English text.
    assert _render(type_="account.low_balance", payload={"balance": "4 EUR"}).body == (
        "Your balance is low: 4 EUR."
    )


def test_without_templates_the_built_in_text_goes_out_with_a_translated_title():
    rendered = _render(channel="email", language="fr")

    assert rendered.body == "Your flight AC123 is delayed to 18:40."
    assert rendered.body == event_text("flight.delayed", DELAY)
    assert rendered.subject == "Vol retardé"
    assert _render(channel="email", language="en").subject == "Flight delayed"
    assert rendered.segments is None
    assert _render(channel="phone").segments == 1


def test_texts_are_plain_on_every_channel(admin_user):
    payload = {"flight": '<b>AC1</b> & "co"', "new_time": "18:40"}
    _save(admin_user, "{{ payload.flight }} at {{ payload.new_time }}")

    for channel in ("phone", "whatsapp", "webpush", "email", "in_app"):
        assert _render(channel=channel, payload=payload).body == '<b>AC1</b> & "co" at 18:40'


def test_email_keeps_its_lines_and_other_channels_get_one(admin_user):
    _save(admin_user, "Hello,\n\n\n\nflight {{ payload.flight }}   \nis late.\n")

    assert _render(channel="email").body == "Hello,\n\nflight AC123\nis late."
    assert _render(channel="phone").body == "Hello, flight AC123 is late."


def test_sms_and_whatsapp_say_their_segments_and_long_ones_warn(admin_user):
    _save(admin_user, "{{ payload.text }}", channel="phone", type_="broadcast")
    short = _render(type_="broadcast", payload={"text": "Hi"})
    long = _render(type_="broadcast", payload={"text": "x" * 400})
    whatsapp = _render(type_="broadcast", payload={"text": "Grüße 👋"}, channel="whatsapp")

    assert (short.segments, long.segments, whatsapp.segments) == (1, 3, 1)
    assert long.segments > SMS_SEGMENTS_WARN
    with translation.override("en"):
        assert "link" in sms_warning(long)
    with translation.override("fr"):
        assert "lien" in sms_warning(long)
    assert sms_warning(short) == ""
    assert _render(type_="broadcast", payload={"text": "x" * 400}, channel="email").segments is None


def test_a_digest_without_template_joins_the_built_in_texts():
    digest = [
        {"flight": "AC1", "new_time": "18:40"},
        {"flight": "AC1", "new_time": "19:10"},
        {"flight": "AC1", "new_time": "19:55"},
    ]
    rendered = _render(payload=digest[0], digest=digest, language="en")

    assert rendered.body.startswith("3 updates: Your flight AC1 is delayed to 18:40.; ")
    assert rendered.body.endswith("delayed to 19:55.")
    many = _render(payload=digest[0], digest=digest * 10, language="en")
    assert len(many.body) <= 320
    assert many.body.endswith("…")
    single = _render(payload=digest[0], digest=digest[:1], language="en")
    assert single.body == "Your flight AC1 is delayed to 18:40."


def test_a_digest_template_sees_the_digest_and_the_count(admin_user):
    _save(
        admin_user,
        "{% if count > 1 %}{{ count }} changes:{% for d in digest %} {{ d.new_time }}"
        "{% endfor %}{% else %}Now {{ payload.new_time }}{% endif %}",
    )
    digest = [{"new_time": "18:40"}, {"new_time": "19:10"}]

    assert _render(payload=digest[0], digest=digest).body == "2 changes: 18:40 19:10"
    assert _render(payload=digest[0]).body == "Now 18:40"


def test_a_template_subject_is_rendered_and_broadcasts_take_their_own_title(admin_user):
    _save(
        admin_user, "{{ payload.flight }}", subject="Flight {{ payload.flight }} {{ event_type }}"
    )
    assert _render(channel="email").subject == "Flight AC123 flight.delayed"

    broadcast = {"title": "Holiday hours", "text": "Closed on Monday."}
    rendered = _render(type_="broadcast", payload=broadcast, channel="email")
    assert (rendered.subject, rendered.body) == ("Holiday hours", "Closed on Monday.")
    untitled = _render(type_="broadcast", payload={"text": "Hi"}, channel="email", language="en")
    assert untitled.subject == "Announcement"
    assert event_title("broadcast", broadcast) == "Holiday hours"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{% if payload.x %}open", "does not parse"),
        ("{{ payload.x|nosuchfilter }}", "does not parse"),
        ("{% load i18n %}{% translate 'x' %}", "does not parse"),
        ("{% include 'web/base.html' %}", "include"),
        ("{% extends 'web/base.html' %}", "extends"),
        ("{% if 1 %}{% debug %}{% endif %}", "debug"),
        ("x" * 5001, "at most"),
    ],
)
def test_templates_that_do_not_parse_or_reach_outside_are_refused(admin_user, body, reason):
    with pytest.raises(ValidationFailed) as failure:
        template_check(body)
    assert failure.value.code == "invalid_template"
    assert reason in failure.value.detail
    with pytest.raises(ValidationFailed):
        _save(admin_user, body)
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{% for a, b in payload.pairs %}{{ a }}{% endfor %}",  # ValueError: cannot unpack
        "{% url 'nowhere' %} {{ payload.flight }}",  # NoReverseMatch
    ],
)
def test_a_template_that_fails_at_render_time_falls_back_to_the_built_in_text(
    admin_user, caplog, body
):
    _save(admin_user, body)
    caplog.set_level(logging.WARNING, logger="pocketdesk.notifications.texts")

    rendered = _render(payload={**DELAY, "pairs": [[1, 2, 3]]}, language="en")

    assert rendered.body == "Your flight AC123 is delayed to 18:40."
    assert [r.getMessage() for r in caplog.records] == ["notifications.template.render_failed"]


def test_a_stored_template_that_no_longer_parses_falls_back_and_is_logged(admin_user, caplog):
    template = _save(admin_user, "{{ payload.flight }}")
    Template.objects.filter(pk=template.pk).update(body="{% if payload.flight %}")  # by hand
    caplog.set_level(logging.WARNING, logger="pocketdesk.notifications.texts")

    rendered = _render(language="en")

    assert rendered.body == "Your flight AC123 is delayed to 18:40."
    assert [r.getMessage() for r in caplog.records] == ["notifications.template.invalid"]


def test_a_template_that_renders_to_nothing_falls_back(admin_user):
    _save(admin_user, "{{ payload.nothing }}")
    assert _render(language="en").body == "Your flight AC123 is delayed to 18:40."


def test_an_unsaved_template_is_previewed_and_a_render_error_is_said():
    rendered = text_render_body(
        body="{{ payload.flight }} → {{ payload.new_time }}",
        subject="{{ payload.flight }}",
        event_type="flight.delayed",
        payload=DELAY,
        channel_kind="phone",
        language="en",
    )
    assert (rendered.subject, rendered.body, rendered.segments) == ("AC123", "AC123 → 18:40", 1)
    with pytest.raises(ValidationFailed) as failure:
        text_render_body(
            body="{% if %}",
            event_type="flight.delayed",
            payload=DELAY,
            channel_kind="phone",
            language="en",
        )
    assert failure.value.code == "invalid_template"


def test_the_renderer_reads_the_templates_once(admin_user, django_assert_num_queries):
    _save(admin_user, "a {{ payload.flight }}", channel="phone")
    _save(admin_user, "b {{ payload.flight }}", language="fr")
    with django_assert_num_queries(1):
        renderer = text_renderer()
        for n in range(500):
            renderer.render(
                event_type="flight.delayed",
                payload={"flight": f"AC{n}"},
                channel_kind="phone" if n % 2 else "email",
                language="fr",
            )
