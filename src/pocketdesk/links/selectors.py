"""Link reads for staff: the list, one link, and its scan statistics (bots left out)."""

from datetime import timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from pocketdesk.accounts.models import STAFF_ROLES, User
from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound
from pocketdesk.links.models import Link, Visit

TOP = 10


def _staff(actor: User | None) -> None:
    if actor is not None and actor.role not in STAFF_ROLES:
        raise NotFound("No such link.")


def link_list(*, actor: User | None, query: str = "") -> QuerySet[Link]:
    _staff(actor)
    links = Link.objects.all()
    if query:
        links = links.filter(code__icontains=query) | links.filter(title__icontains=query)
    return links


def link_get(*, actor: User | None, code: str) -> Link:
    _staff(actor)
    link = Link.objects.prefetch_related("rules").filter(code=code).first()
    if link is None:
        raise NotFound("No such link.")
    return link


def link_stats(*, actor: User | None, link: Link, days: int = 30) -> dict[str, Any]:
    """Human visits per day (every day of the window, zeros included) and the top devices,
    languages and referrers; bots are counted apart."""
    _staff(actor)
    today = clock.now().date()
    since = today - timedelta(days=days - 1)
    visits = Visit.objects.filter(link=link, at__date__gte=since)
    humans = visits.filter(is_bot=False, outcome="redirect")
    per_day = dict(
        humans.annotate(day=TruncDate("at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )

    def top(field: str) -> list[tuple[str, int]]:
        rows = humans.values_list(field).annotate(n=Count("id")).order_by("-n", field)[:TOP]
        return [(value or "—", n) for value, n in rows]

    return {
        "days": [
            (since + timedelta(days=i), per_day.get(since + timedelta(days=i), 0))
            for i in range(days)
        ],
        "total": link.visit_count,
        "devices": top("device"),
        "languages": top("language"),
        "referrers": top("referrer_host"),
        "bots": visits.filter(is_bot=True).count(),
        "refused": visits.exclude(outcome="redirect").count(),
    }


def unknown_code_list(*, actor: User | None, days: int = 30) -> list[tuple[str, int]]:
    """Codes scanned that do not exist (typos, old prints), most scanned first."""
    _staff(actor)
    since = clock.now() - timedelta(days=days)
    rows = (
        Visit.objects.filter(link__isnull=True, at__gte=since, is_bot=False)
        .values_list("code")
        .annotate(n=Count("id"))
        .order_by("-n", "code")[:50]
    )
    return list(rows)
