"""GS1 Digital Link resolution: read a product, lot or unit code, find the item, and the registry
of link types (gs1:pip, gs1:instructions, gs1:registerProduct, …) that apps fill as they arrive.

An app registers a link type once (in its AppConfig.ready()) with two callables: `links` lists
what it offers for an item (for the linkset), `respond` answers a visitor who asked for it
(None when it has nothing for this item, and the default link type answers instead). This
app's own, gs1:pip (the default) and gs1:instructions, are registered by `views_public`.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.functional import Promise

from pocketdesk.catalog.models import Lot, Product, ProductUnit, UnitRegistration
from pocketdesk.core.errors import NotFound, ValidationFailed

GS1_VOCABULARY = "https://gs1.org/voc/"
LINKSET_MEDIA_TYPE = "application/linkset+json"
LINKSET_LINK_TYPES = frozenset({"linkset", "all"})
_GTIN = re.compile(r"\d{8}|\d{12,14}")
_LINK_TYPE = re.compile(r"gs1:[A-Za-z][A-Za-z0-9]*")
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def public_url() -> str:
    return str(getattr(settings, "PD_PUBLIC_URL", DEFAULT_PUBLIC_URL)).rstrip("/")


def digital_link_uri(
    *, gtin: str, lot: str | None = None, serial: str | None = None, base: str | None = None
) -> str:
    """`{base}/01/{GTIN-14}[/10/{lot}][/21/{serial}]`, values percent-encoded as GS1 asks."""
    uri = f"{public_url() if base is None else base.rstrip('/')}/01/{gtin}"
    if lot is not None:
        uri += f"/10/{quote(lot, safe='')}"
    if serial is not None:
        uri += f"/21/{quote(serial, safe='')}"
    return uri


def element_check(ai: str, value: str, *, field: str) -> str:
    """`value` as a GS1 AI (10) lot or (21) serial: 1 to 20 of GS1's 82 characters."""
    try:
        GS1ElementString.parse(f"{ai}{value}")
    except ParseError as exc:
        raise ValidationFailed(
            f"A {field} is 1 to 20 letters, digits or GS1 punctuation, not {value!r}.",
            field=field,
            code=f"invalid_{field}",
        ) from exc
    return value


@dataclass(frozen=True)
class DigitalLinkKey:
    """What a code names: a GTIN-14, and maybe a lot and a serial number."""

    gtin: str
    lot: str | None = None
    serial: str | None = None

    def uri(self, base: str | None = None) -> str:
        return digital_link_uri(gtin=self.gtin, lot=self.lot, serial=self.serial, base=base)


def key_parse(*, gtin: str, lot: str | None = None, serial: str | None = None) -> DigitalLinkKey:
    """Validate a code's parts with biip; 422 naming the part that is wrong."""
    if not _GTIN.fullmatch(gtin):
        raise ValidationFailed(
            "A GTIN has 8, 12, 13 or 14 digits.", field="gtin", code="invalid_gtin"
        )
    if lot is not None:
        element_check("10", lot, field="lot")
    if serial is not None:
        element_check("21", serial, field="serial")
    try:
        parsed = GS1DigitalLinkURI.parse(digital_link_uri(gtin=gtin, lot=lot, serial=serial))
    except ParseError as exc:
        raise ValidationFailed(str(exc), code="invalid_digital_link") from exc
    element = parsed.element_strings.get(ai="01")
    if element is None or element.gtin is None:
        gtin_14 = gtin.zfill(14)
        expected = gs1_standard_check_digit(gtin_14[:-1])
        raise ValidationFailed(
            f"The check digit of GTIN {gtin} is wrong: it should be {expected}.",
            field="gtin",
            code="gtin_check_digit",
        )
    return DigitalLinkKey(gtin=element.gtin.as_gtin_14(), lot=lot, serial=serial)


@dataclass(frozen=True)
class DigitalLinkItem:
    """The product, lot or unit a code names. `registered` is only known for a unit."""

    key: DigitalLinkKey
    product: Product
    lot: Lot | None = None
    unit: ProductUnit | None = None
    registered: bool | None = None

    @property
    def level(self) -> str:
        return "unit" if self.unit else "lot" if self.lot else "product"

    @property
    def uri(self) -> str:
        return self.key.uri()


def item_get(key: DigitalLinkKey) -> DigitalLinkItem:
    """The item a code names; 404 when the product, lot or unit is unknown or they disagree."""
    if key.serial is not None:
        unit = (
            ProductUnit.objects.select_related("product", "lot")
            .filter(product__gtin=key.gtin, serial=key.serial)
            .first()
        )
        # A lot in the code must be the unit's lot: another one means a copied or forged code.
        if unit is None or (key.lot is not None and (unit.lot is None or unit.lot.code != key.lot)):
            raise NotFound("No unit with this GTIN and serial number.")
        registered = UnitRegistration.objects.filter(unit=unit, ended_at__isnull=True).exists()
        return DigitalLinkItem(
            key=key, product=unit.product, lot=unit.lot, unit=unit, registered=registered
        )
    if key.lot is not None:
        lot = Lot.objects.select_related("product").filter(product__gtin=key.gtin, code=key.lot)
        found = lot.first()
        if found is None:
            raise NotFound("No lot with this GTIN and lot number.")
        return DigitalLinkItem(key=key, product=found.product, lot=found)
    product = Product.objects.filter(gtin=key.gtin).first()
    if product is None:
        raise NotFound("No product with this GTIN.")
    return DigitalLinkItem(key=key, product=product)


@dataclass(frozen=True)
class LinkTarget:
    """One link of a linkset entry (RFC 9264 target attributes)."""

    href: str
    title: str
    type: str = "text/html"
    hreflang: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"href": self.href, "title": self.title, "type": self.type}
        if self.hreflang:
            data["hreflang"] = list(self.hreflang)
        return data


LinksFor = Callable[[HttpRequest, DigitalLinkItem], Sequence[LinkTarget]]
RespondTo = Callable[[HttpRequest, DigitalLinkItem], HttpResponse | None]


@dataclass(frozen=True)
class LinkType:
    name: str  # a GS1 CURIE, e.g. "gs1:pip"
    title: str | Promise
    links: LinksFor
    respond: RespondTo
    default: bool = False

    @property
    def relation(self) -> str:
        """The link relation type as a URI, as linksets write it."""
        return GS1_VOCABULARY + self.name.removeprefix("gs1:")


@dataclass
class LinkTypeRegistry:
    types: dict[str, LinkType] = field(default_factory=dict)

    def register(
        self,
        name: str,
        *,
        title: str | Promise,
        links: LinksFor,
        respond: RespondTo,
        default: bool = False,
    ) -> LinkType:
        """Add or replace the handler of link type `name`; one link type is the default."""
        if not _LINK_TYPE.fullmatch(name):
            raise ImproperlyConfigured(f"A link type is a GS1 CURIE such as gs1:pip, not {name!r}")
        current = self.default()
        if default and current is not None and current.name != name:
            raise ImproperlyConfigured(
                f"{current.name} is already the default link type; {name} cannot be too"
            )
        link_type = LinkType(name=name, title=title, links=links, respond=respond, default=default)
        self.types[name] = link_type
        return link_type

    def default(self) -> LinkType | None:
        return next((t for t in self.types.values() if t.default), None)

    def choose(self, requested: str | None) -> LinkType:
        """The link type asked for, else the default (as GS1 resolvers do for one they lack)."""
        chosen = self.types.get(requested or "") or self.default()
        if chosen is None:
            raise ImproperlyConfigured("No default GS1 link type is registered")
        return chosen

    def linkset(self, request: HttpRequest, item: DigitalLinkItem) -> dict[str, object]:
        """The item's links as an RFC 9264 JSON linkset, relation types as GS1 vocabulary URIs."""
        entry: dict[str, object] = {"anchor": item.uri}
        default = self.default()
        for link_type in self.types.values():
            targets = list(link_type.links(request, item))
            if not targets:
                continue
            entry[link_type.relation] = [target.as_json() for target in targets]
            if link_type is default:
                entry[GS1_VOCABULARY + "defaultLink"] = [targets[0].as_json()]
        return {"linkset": [entry]}


link_types = LinkTypeRegistry()
link_type_register = link_types.register
