"""Staff API for links: create, read, change the target or rules, statistics, QR images."""

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status
from ninja.pagination import CursorPagination, paginate

from pocketdesk.accounts.auth import staff_auth
from pocketdesk.links import qr, selectors, services
from pocketdesk.links.models import Link
from pocketdesk.links.schemas import LinkIn, LinkOut, LinkPatch, LinkStatsOut
from pocketdesk.links.views import short_url

router = Router(tags=["links"], auth=staff_auth)


def _out(link: Link) -> Link:
    return Link.objects.prefetch_related("rules").get(pk=link.pk)


@router.get("", response=list[LinkOut])
@paginate(CursorPagination, ordering=("-public_id",))
def link_list(request: HttpRequest, q: str = "") -> object:
    return selectors.link_list(actor=request.auth, query=q).prefetch_related("rules")  # type: ignore[attr-defined]


@router.post("", response={201: LinkOut})
def link_create(request: HttpRequest, payload: LinkIn) -> Status[Link]:
    data = payload.dict()
    link = services.link_create(actor=request.auth, **data)  # type: ignore[attr-defined]
    return Status(201, _out(link))


@router.get("/{code}", response=LinkOut)
def link_get(request: HttpRequest, code: str) -> Link:
    return selectors.link_get(actor=request.auth, code=code)  # type: ignore[attr-defined]


@router.patch("/{code}", response=LinkOut)
def link_update(request: HttpRequest, code: str, payload: LinkPatch) -> Link:
    """Change the target, rules or validity; the printed code keeps working."""
    actor = request.auth  # type: ignore[attr-defined]
    link = selectors.link_get(actor=actor, code=code)
    data = payload.dict(exclude_unset=True)
    services.link_update(actor=actor, link=link, **data, fields_set=frozenset(data))
    return _out(link)


@router.get("/{code}/stats", response=LinkStatsOut)
def link_stats(request: HttpRequest, code: str, days: int = 30) -> dict[str, Any]:
    actor = request.auth  # type: ignore[attr-defined]
    stats = selectors.link_stats(
        actor=actor, link=selectors.link_get(actor=actor, code=code), days=max(1, min(days, 366))
    )

    def pairs(rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
        return [{"value": v, "visits": n} for v, n in rows]

    return {
        **stats,
        "days": [{"day": d, "visits": n} for d, n in stats["days"]],
        "devices": pairs(stats["devices"]),
        "languages": pairs(stats["languages"]),
        "referrers": pairs(stats["referrers"]),
    }


@router.get("/{code}/qr", response={200: None})
def link_qr(
    request: HttpRequest,
    code: str,
    format: Literal["svg", "png"] = "svg",
    ec: str = "M",
    scale: int = 8,
) -> HttpResponse:
    """The printable code for the short URL (SVG or PNG)."""
    link = selectors.link_get(actor=request.auth, code=code)  # type: ignore[attr-defined]
    body = qr.render(short_url(link.code), fmt=format, ec=ec, scale=scale)
    return HttpResponse(body, content_type="image/svg+xml" if format == "svg" else "image/png")
