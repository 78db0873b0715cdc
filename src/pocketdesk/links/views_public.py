"""Public GS1 Digital Link pages: `/01/{GTIN}[/10/{lot}][/21/{serial}]` answered by link type,
and this app's own link types: gs1:pip (the item page, the default) and gs1:instructions."""

import json
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from pocketdesk.catalog.models import ProductDocument
from pocketdesk.core.errors import DomainError, NotFound
from pocketdesk.links import digital_link
from pocketdesk.links.digital_link import (
    LINKSET_LINK_TYPES,
    LINKSET_MEDIA_TYPE,
    DigitalLinkItem,
    LinkTarget,
)


class TemporaryRedirect(HttpResponseRedirect):
    # 307, as GS1 resolvers answer: the target may change, the code never does.
    status_code = 307


def _wants_linkset(request: HttpRequest) -> bool:
    return request.GET.get("linkType") in LINKSET_LINK_TYPES or (
        LINKSET_MEDIA_TYPE in request.headers.get("Accept", "")
    )


def _problem(request: HttpRequest, error: DomainError, *, as_json: bool) -> HttpResponse:
    status = 404 if isinstance(error, NotFound) else 400
    if as_json:
        return HttpResponse(
            json.dumps(error.body()), status=status, content_type="application/json"
        )
    return render(request, "links/digital_link_problem.html", {"code": error.code}, status=status)


@require_safe
def item_resolve(
    request: HttpRequest, gtin: str, lot: str | None = None, serial: str | None = None
) -> HttpResponse:
    as_linkset = _wants_linkset(request)
    try:
        item = digital_link.item_get(digital_link.key_parse(gtin=gtin, lot=lot, serial=serial))
    except DomainError as error:
        response = _problem(request, error, as_json=as_linkset)
    else:
        if as_linkset:
            response = HttpResponse(
                json.dumps(digital_link.link_types.linkset(request, item)),
                content_type=LINKSET_MEDIA_TYPE,
            )
        else:
            chosen = digital_link.link_types.choose(request.GET.get("linkType"))
            answer = chosen.respond(request, item)
            if answer is None:
                answer = digital_link.link_types.choose(None).respond(request, item)
            if answer is None:  # the default link type always answers; this is a defect
                raise RuntimeError(f"The default link type gave no answer for {item.uri}")
            response = answer
        response["Link"] = (
            f'<{item.uri}?linkType=linkset>; rel="linkset"; type="{LINKSET_MEDIA_TYPE}"'
        )
    patch_vary_headers(response, ["Accept"])
    response["Cache-Control"] = "private, no-cache"
    return response


# --- the visitor's languages ----------------------------------------------------------------


def visitor_languages(request: HttpRequest) -> list[str]:
    """Language tags the visitor reads, most wanted first: the page's language (chosen by the
    customer, a cookie or Accept-Language) unless it is only the fallback, then every other
    Accept-Language tag by weight."""
    accepted: list[tuple[float, int, str]] = []
    for index, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        tag = tag.strip().lower()
        if tag and tag != "*" and weight > 0:
            accepted.append((-weight, index, tag))
    tags = [tag for _weight, _index, tag in sorted(accepted)]
    page = getattr(request, "LANGUAGE_CODE", "") or ""
    fallback_only = (
        page == settings.LANGUAGE_CODE
        and tags
        and (_primary(page) not in {_primary(tag) for tag in tags})
    )
    chosen = [page.lower()] if page and not fallback_only else []
    ordered: list[str] = []
    for tag in [*chosen, *tags]:
        if tag not in ordered:
            ordered.append(tag)
    return ordered


def _primary(tag: str) -> str:
    return tag.lower().split("-", 1)[0]


def document_for(
    documents: Sequence[ProductDocument], languages: Sequence[str]
) -> ProductDocument | None:
    """The first document in the most wanted language: exact tag first, then primary subtag."""
    for language in languages:
        for document in documents:
            if document.language.lower() == language:
                return document
        for document in documents:
            if _primary(document.language) == _primary(language):
                return document
    return None


# --- gs1:pip: the product, lot or unit page --------------------------------------------------


def _documents(item: DigitalLinkItem) -> list[ProductDocument]:
    return list(item.product.documents.all())


def _page_links(request: HttpRequest, item: DigitalLinkItem) -> list[LinkTarget]:
    return [
        LinkTarget(
            href=f"{item.uri}?linkType=gs1:pip",
            title=item.product.name,
            hreflang=tuple(code for code, _name in settings.LANGUAGES),
        )
    ]


def item_page(request: HttpRequest, item: DigitalLinkItem) -> HttpResponse:
    languages = visitor_languages(request)
    documents = _documents(item)
    wanted = {_primary(language) for language in languages}
    # Documents in the visitor's languages first; the rest keep their order (kind, language).
    documents.sort(key=lambda document: _primary(document.language) not in wanted)
    manufactured_on = (item.unit.manufactured_on if item.unit else None) or (
        item.lot.manufactured_on if item.lot else None
    )
    others = [
        link_type
        for link_type in digital_link.link_types.types.values()
        if link_type.name not in {PAGE, INSTRUCTIONS} and link_type.links(request, item)
    ]
    context = {
        "item": item,
        "documents": documents,
        "manufactured_on": manufactured_on,
        "other_link_types": others,
        "linkset_url": f"{item.uri}?linkType=linkset",
    }
    return render(request, "links/digital_link_item.html", context)


# --- gs1:instructions: the setup guide in the visitor's language ------------------------------


def _setup_guides(item: DigitalLinkItem) -> list[ProductDocument]:
    return list(item.product.documents.filter(kind=ProductDocument.Kind.SETUP_GUIDE))


def _instruction_links(request: HttpRequest, item: DigitalLinkItem) -> list[LinkTarget]:
    return [
        LinkTarget(href=guide.url, title=guide.title, hreflang=(guide.language,))
        for guide in _setup_guides(item)
    ]


def instructions_redirect(request: HttpRequest, item: DigitalLinkItem) -> HttpResponse | None:
    guide = document_for(_setup_guides(item), visitor_languages(request))
    return None if guide is None else TemporaryRedirect(guide.url)


PAGE = "gs1:pip"
INSTRUCTIONS = "gs1:instructions"


def register_link_types() -> None:
    """The link types this app answers itself (called from LinksConfig.ready)."""
    digital_link.link_type_register(
        PAGE,
        title=_("Product information"),
        links=_page_links,
        respond=item_page,
        default=True,
    )
    digital_link.link_type_register(
        INSTRUCTIONS,
        title=_("Setup guide"),
        links=_instruction_links,
        respond=instructions_redirect,
    )
