"""The public scan path: redirect, rules, validity, unknown codes, and the visits it records."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.test import Client

from pocketdesk.core import clock
from pocketdesk.links import cache
from pocketdesk.links.models import Link, Visit
from pocketdesk.links.services import link_create, link_retarget, link_update
from pocketdesk.links.visits import ip_truncate, visit_recorder

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
)
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def scan(code: str, ua: str = DESKTOP, **extra):
    return Client().get(f"/q/{code}", HTTP_USER_AGENT=ua, **extra)


def test_printed_code_follows_its_retargeted_destination(agent):
    # given a code printed once, pointing at the setup guide
    link = link_create(actor=agent, target_url="https://example.com/setup", code="box-r3")
    assert scan("box-r3")["Location"] == "https://example.com/setup"
    # when staff re-point it
    link_retarget(actor=agent, link=link, target_url="https://example.com/setup-v2")
    # then the next scan goes to the new target
    response = scan("box-r3")
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/setup-v2"
    assert response["Cache-Control"] == "private, no-store"


def test_rules_pick_the_target_by_device_language_and_query(agent):
    link_create(
        actor=agent,
        target_url="https://example.com/web",
        code="app",
        rules=[
            {
                "target_url": "https://apps.apple.com/app/1",
                "conditions": [{"type": "device", "value": "ios"}],
            },
            {
                "target_url": "https://example.com/fr/android",
                "conditions": [
                    {"type": "device", "value": "android"},
                    {"type": "language", "value": "fr"},
                ],
            },
            {
                "target_url": "https://example.com/promo",
                "conditions": [{"type": "query", "name": "src", "value": "box"}],
            },
        ],
    )
    assert scan("app", IPHONE)["Location"] == "https://apps.apple.com/app/1"
    assert (
        scan("app", ANDROID, HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")["Location"]
        == "https://example.com/fr/android"
    )
    # all conditions must match: an English Android falls through to the fallback
    assert (
        scan("app", ANDROID, HTTP_ACCEPT_LANGUAGE="en-US")["Location"] == "https://example.com/web"
    )
    assert (
        Client().get("/q/app?src=box", HTTP_USER_AGENT=DESKTOP)["Location"]
        == "https://example.com/promo"
    )


def test_time_and_date_rules_follow_the_clock(agent):
    link_create(
        actor=agent,
        target_url="https://example.com/closed",
        code="hours",
        rules=[
            {
                "target_url": "https://example.com/xmas",
                "conditions": [{"type": "date", "from": "2026-12-20", "until": "2026-12-26"}],
            },
            {
                "target_url": "https://example.com/open",
                "conditions": [
                    {"type": "time", "start": "09:00", "end": "18:00", "tz": "Europe/Paris"}
                ],
            },
        ],
    )
    with clock.frozen_at(datetime(2026, 11, 24, 9, 30, tzinfo=UTC)):  # 10:30 in Paris
        assert scan("hours")["Location"] == "https://example.com/open"
    with clock.frozen_at(datetime(2026, 11, 24, 17, 30, tzinfo=UTC)):  # 18:30 in Paris
        assert scan("hours")["Location"] == "https://example.com/closed"
    with clock.frozen_at(datetime(2026, 12, 24, 12, 0, tzinfo=UTC)):
        assert scan("hours")["Location"] == "https://example.com/xmas"


def test_expired_inactive_and_exhausted_links_show_the_expired_page(agent, monkeypatch):
    past = clock.now() - timedelta(days=1)
    link_create(
        actor=agent,
        target_url="https://example.com/a",
        code="old",
        valid_from=past - timedelta(days=5),
        valid_until=past,
        expired_message="The autumn offer ended on the 23rd.",
    )
    response = scan("old", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 410
    assert "The autumn offer ended on the 23rd." in response.content.decode()
    assert "Location" not in response

    future = link_create(
        actor=agent,
        target_url="https://example.com/b",
        code="soon",
        valid_from=clock.now() + timedelta(days=1),
    )
    assert scan("soon").status_code == 410
    link_update(
        actor=agent,
        link=future,
        is_active=False,
        valid_from=None,
        fields_set=frozenset({"valid_from"}),
    )
    assert scan("soon").status_code == 410

    limited = link_create(
        actor=agent, target_url="https://example.com/c", code="twice", max_visits=2
    )
    assert scan("twice").status_code == 302
    assert scan("twice").status_code == 302
    visit_recorder.flush()
    # no edit: the recorded visits alone close it, once the cached count is re-read
    monkeypatch.setattr(cache, "COUNT_REFRESH_SECONDS", 0.0)
    assert scan("twice").status_code == 410
    assert Link.objects.get(pk=limited.pk).visit_count == 2


def test_expired_page_is_localized(agent):
    link_create(
        actor=agent,
        target_url="https://example.com/a",
        code="fini",
        valid_until=clock.now() - timedelta(minutes=1),
        valid_from=clock.now() - timedelta(days=1),
    )
    body = scan("fini", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    assert "Ce lien a expiré" in body


@pytest.mark.django_db
def test_unknown_code_is_a_localized_404_and_is_recorded():
    response = scan("nope42", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 404
    assert "Ce code ne mène nulle part" in response.content.decode()
    visit_recorder.flush()
    visit = Visit.objects.get()
    assert (visit.code, visit.link_id, visit.outcome) == ("nope42", None, "unknown")


def test_visits_are_recorded_in_batches_without_personal_data(agent):
    link = link_create(actor=agent, target_url="https://example.com/a", code="stats")
    scan(
        "stats",
        IPHONE,
        HTTP_ACCEPT_LANGUAGE="fr-FR",
        HTTP_REFERER="https://news.example.org/a?b=c",
        REMOTE_ADDR="203.0.113.77",
    )
    scan("stats", BOT, REMOTE_ADDR="2001:db8:85a3:8d3:1319:8a2e:370:7348")
    # nothing is written on the request path
    assert Visit.objects.count() == 0
    assert visit_recorder.waiting() == 2
    assert visit_recorder.flush() == 2
    human, bot = Visit.objects.order_by("id")
    assert (human.device, human.language, human.referrer_host, human.ip_prefix, human.is_bot) == (
        "ios",
        "fr",
        "news.example.org",
        "203.0.113.0",
        False,
    )
    assert (bot.is_bot, bot.ip_prefix) == (True, "2001:db8:85a3::")
    link.refresh_from_db()
    assert link.visit_count == 1  # bots are not counted


def test_visits_keep_the_moment_of_the_scan(agent):
    # written with raw SQL, not the ORM: the timestamp must still round-trip as UTC
    link_create(actor=agent, target_url="https://example.com/a", code="when")
    with clock.frozen_at(
        datetime(2026, 11, 24, 23, 30, 15, 250000, tzinfo=timezone(-timedelta(hours=5)))
    ):
        scan("when")
    visit_recorder.flush()
    visit = Visit.objects.get(code="when")
    assert visit.at == datetime(2026, 11, 25, 4, 30, 15, 250000, tzinfo=UTC)
    assert Visit.objects.filter(code="when", at__date=date(2026, 11, 25)).count() == 1


def test_ip_truncation():
    assert ip_truncate("198.51.100.200") == "198.51.100.0"
    assert ip_truncate("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert ip_truncate("not-an-ip") == ""


def test_cache_serves_without_queries_until_an_edit(agent, django_assert_num_queries):
    link = link_create(actor=agent, target_url="https://example.com/a", code="hot")
    scan("hot")  # warms this process's cache
    with django_assert_num_queries(0):
        assert scan("hot")["Location"] == "https://example.com/a"
    link_retarget(actor=agent, link=link, target_url="https://example.com/b")
    with django_assert_num_queries(2):  # the link and its rules, once
        assert scan("hot")["Location"] == "https://example.com/b"
    assert Link.objects.get(code="hot").target_url == "https://example.com/b"


def test_live_codes_take_the_fast_path_with_the_security_headers(agent):
    link_create(actor=agent, target_url="https://example.com/a", code="fast")
    response = scan("fast")
    assert response.status_code == 302
    assert response["Referrer-Policy"] == "same-origin"  # the target never sees the short link
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response  # only pages need the session/CSP stack
    assert not response.cookies
    # the host is still checked
    assert Client().get("/q/fast", HTTP_HOST="evil.example").status_code == 400
    # refused codes take the full stack: their page is localized and carries a CSP
    link_create(actor=agent, target_url="https://example.com/b", code="off", max_visits=1)
    link_update(actor=agent, link=Link.objects.get(code="off"), is_active=False)
    refused = scan("off", HTTP_ACCEPT_LANGUAGE="fr")
    assert refused.status_code == 410
    assert "Content-Security-Policy" in refused
