"""The public scan path `/q/<code>` (the hottest path in the product) and the staff pages."""

import json
import time
from collections.abc import Iterator, Mapping

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from pocketdesk.accounts.models import STAFF_ROLES
from pocketdesk.core import clock
from pocketdesk.core.errors import DomainError, NotFound
from pocketdesk.links import qr, selectors, services
from pocketdesk.links.cache import CompiledLink, link_cache
from pocketdesk.links.forms import LinkForm
from pocketdesk.links.rules import Facts, device_of, language_of, target_for
from pocketdesk.links.visits import PendingVisit, visit_recorder
from pocketdesk.web.views import require_role


def refused(link: CompiledLink, now_ts: float) -> bool:
    if not link.is_active:
        return True
    if link.valid_from is not None and now_ts < link.valid_from.timestamp():
        return True
    if link.valid_until is not None and now_ts >= link.valid_until.timestamp():
        return True
    return link.max_visits is not None and link.visit_count >= link.max_visits


class _QueryOnDemand(Mapping[str, str]):
    """request.GET, parsed only when a rule asks about the query string (most links have no
    query rule; parsing it anyway cost a few µs on every scan)."""

    __slots__ = ("_request",)

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    def __getitem__(self, name: str) -> str:
        return self._request.GET[name]

    def __contains__(self, name: object) -> bool:
        return name in self._request.GET

    def __iter__(self) -> Iterator[str]:
        return iter(self._request.GET)

    def __len__(self) -> int:
        return len(self._request.GET)


@require_GET
def scan(request: HttpRequest, code: str) -> HttpResponse:
    link = link_cache.get(code)
    now = clock.now()
    meta = request.META
    user_agent = meta.get("HTTP_USER_AGENT", "")
    facts = Facts(
        device=device_of(user_agent),
        language=language_of(meta.get("HTTP_ACCEPT_LANGUAGE", "")),
        query=_QueryOnDemand(request),
        now=now,
    )
    if link is None:
        outcome, response = "unknown", render(request, "links/unknown.html", status=404)
    elif refused(link, time.time()):
        outcome = "expired"
        response = render(
            request, "links/expired.html", {"message": link.expired_message}, status=410
        )
    else:
        outcome = "redirect"
        response = HttpResponseRedirect(target_for(link.rules, link.target_url, facts))
    response["Cache-Control"] = "private, no-store"
    visit_recorder.record(
        PendingVisit(
            link_id=link.id if link else None,
            code=code,
            at=now,
            device=facts.device,
            language=facts.language,
            referrer=meta.get("HTTP_REFERER", ""),
            ip=meta.get("REMOTE_ADDR", ""),
            user_agent=user_agent,
            outcome=outcome,
        )
    )
    return response


# --- staff console -------------------------------------------------------------------------


def short_url(code: str) -> str:
    return f"{settings.PD_PUBLIC_URL}/q/{code}"


@login_required
@require_http_methods(["GET", "POST"])
def console_links(request: HttpRequest) -> HttpResponse:
    actor = require_role(request, STAFF_ROLES)
    form = LinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link = services.link_create(
                actor=actor,
                target_url=data["target_url"],
                code=data["code"] or None,
                title=data["title"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                max_visits=data["max_visits"],
                expired_message=data["expired_message"],
                rules=data["rules"],
            )
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            return redirect("links:console-link", code=link.code)
    query = request.GET.get("q", "")
    links = list(selectors.link_list(actor=actor, query=query).order_by("-created_at")[:100])
    context = {
        "form": form,
        "links": links,
        "query": query,
        "unknown": selectors.unknown_code_list(actor=actor),
    }
    return render(request, "links/console_list.html", context, status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def console_link(request: HttpRequest, code: str) -> HttpResponse:
    actor = require_role(request, STAFF_ROLES)
    try:
        link = selectors.link_get(actor=actor, code=code)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    rules = [{"target_url": r.target_url, "conditions": r.conditions} for r in link.rules.all()]
    initial = {
        "target_url": link.target_url,
        "code": link.code,
        "title": link.title,
        "valid_from": link.valid_from,
        "valid_until": link.valid_until,
        "max_visits": link.max_visits,
        "expired_message": link.expired_message,
        "rules": json.dumps(rules, indent=2, ensure_ascii=False),
    }
    form = LinkForm(request.POST or None, initial=initial)
    form.fields["code"].disabled = True  # printed: never changes
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.link_update(
                actor=actor,
                link=link,
                target_url=data["target_url"],
                title=data["title"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                max_visits=data["max_visits"],
                expired_message=data["expired_message"],
                rules=data["rules"],
                fields_set=frozenset({"valid_from", "valid_until", "max_visits"}),
            )
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            return redirect("links:console-link", code=link.code)
    stats = selectors.link_stats(actor=actor, link=link)
    peak = max((n for _, n in stats["days"]), default=0) or 1
    context = {
        "link": link,
        "form": form,
        "stats": stats,
        "bars": [
            {
                "day": day,
                "n": n,
                "x": 10 * i,
                "y": 100 - round(100 * n / peak),
                "h": round(100 * n / peak),
            }
            for i, (day, n) in enumerate(stats["days"])
        ],
        "short_url": short_url(link.code),
    }
    return render(request, "links/console_link.html", context, status=422 if form.errors else 200)


@login_required
@require_GET
def console_link_qr(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    actor = require_role(request, STAFF_ROLES)
    try:
        link = selectors.link_get(actor=actor, code=code)
        body = qr.render(
            short_url(link.code),
            fmt=fmt,
            ec=request.GET.get("ec", "M"),
            scale=int(request.GET.get("scale", "8"))
            if request.GET.get("scale", "8").isdigit()
            else 0,
        )
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    except DomainError as error:
        return HttpResponse(error.detail, status=error.status, content_type="text/plain")
    content_type = "image/svg+xml" if fmt == "svg" else "image/png"
    response = HttpResponse(body, content_type=content_type)
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{link.code}.{fmt}"'
    return response
