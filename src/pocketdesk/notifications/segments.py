"""Saved audiences: the filters a segment may use, checked when it is saved, and the one query
that finds its customers (never merged ones).

Filters (every one given must match; an empty set is every customer):
- `language`: ["en", "fr"] — the customer's language is one of them
- `time_zone`: ["Europe/Paris"] — IANA names
- `country`: ["GB", "FR"] — ISO 3166 alpha-2; a phone or WhatsApp number (E.164) of the customer
  starts with the country's calling code, narrowed by phonenumbers' leading digits where a code
  is shared and phonenumbers has them (Puerto Rico +1 787/939, Kazakhstan +7 7, Isle of Man).
  Where phonenumbers tells countries of one code apart only by whole-number patterns, the
  prefix rule cannot: "US" and "CA" both match every other +1 number, "GB", "JE" and "GG" every
  other +44 number.
- `topic`: "flight:AC123:2026-11-23" — subscribed to it
- `consent`: ["marketing"] — every purpose listed is granted
- `created_after`: "2026-01-31" (or an ISO date-time) — created at or after it (a date is
  midnight UTC)
- `customers`: ["cus_…"] — these customers (a merged one counts as the one it went into)
"""

import logging
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import phonenumbers
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from pocketdesk.core.errors import NotFound, ValidationFailed
from pocketdesk.customers.models import PHONE_KINDS, Consent, ContactPoint, Customer, Purpose
from pocketdesk.notifications.models import Segment, Subscription
from pocketdesk.notifications.services.subscriptions import topic_check

logger = logging.getLogger(__name__)

LIST_MAX = 50
CUSTOMERS_MAX = 10_000
_REGION_RE = re.compile(r"[A-Z]{2}")


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="filters", code="invalid_segment")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _strings(name: str, value: Any, *, limit: int = LIST_MAX) -> list[str]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= limit
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise _invalid(f"{name} is a list of 1 to {limit} texts.")
    return list(dict.fromkeys(value))


def _languages(value: Any) -> list[str]:
    codes = _strings("language", value)
    offered = {code for code, _ in settings.LANGUAGES}
    for code in codes:
        if code not in offered:
            raise _invalid(f"language: {code!r} is not offered ({', '.join(sorted(offered))}).")
    return codes


def _zones(value: Any) -> list[str]:
    names = _strings("time_zone", value)
    for name in names:
        if name not in _time_zones():
            raise _invalid(f"time_zone: {name!r} is not an IANA time zone.")
    return names


def _countries(value: Any) -> list[str]:
    regions = [code.upper() for code in _strings("country", value)]
    for region in regions:
        if not _REGION_RE.fullmatch(region) or region not in phonenumbers.SUPPORTED_REGIONS:
            raise _invalid(f"country: {region!r} is not an ISO 3166 alpha-2 code with phones.")
    return list(dict.fromkeys(regions))


def _topic(value: Any) -> str:
    try:
        return topic_check(value)
    except ValidationFailed as error:
        raise _invalid(f"topic: {error.detail}") from error


def _purposes(value: Any) -> list[str]:
    purposes = _strings("consent", value)
    for purpose in purposes:
        if purpose not in Purpose.values:
            raise _invalid(f"consent: {purpose!r} is not one of {', '.join(Purpose.values)}.")
    return purposes


def _moment(value: Any) -> datetime:
    """created_after as an aware date-time: a date is midnight UTC, a naive time is UTC."""
    if isinstance(value, str):
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                return datetime(day.year, day.month, day.day, tzinfo=UTC)
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise _invalid("created_after is an ISO date such as 2026-01-31 (or an ISO date-time).")


def _created_after(value: Any) -> str:
    _moment(value)
    return str(value)


def _customer_ids(value: Any) -> list[str]:
    return _strings("customers", value, limit=CUSTOMERS_MAX)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "language": _languages,
    "time_zone": _zones,
    "country": _countries,
    "topic": _topic,
    "consent": _purposes,
    "created_after": _created_after,
    "customers": _customer_ids,
}


def _normalize(filters: Any) -> dict[str, Any]:
    """The filters with their values checked (no database reads)."""
    if not isinstance(filters, Mapping):
        raise _invalid(f"Filters are an object with some of: {', '.join(_CHECKS)}.")
    unknown = sorted(str(key) for key in filters if key not in _CHECKS)
    if unknown:
        raise _invalid(f"Unknown filter {unknown[0]!r}; filters are {', '.join(_CHECKS)}.")
    return {key: _CHECKS[key](filters[key]) for key in _CHECKS if key in filters}


def segment_filters_check(filters: Any) -> dict[str, Any]:
    """The filters, normalised, or 422 `invalid_segment` saying what is wrong (including
    customer ids that name nobody)."""
    checked = _normalize(filters)
    ids = checked.get("customers")
    if ids:
        known = set(Customer.objects.filter(public_id__in=ids).values_list("public_id", flat=True))
        missing = [public_id for public_id in ids if public_id not in known]
        if missing:
            raise _invalid(f"customers: no customer {missing[0]!r}.")
    return checked


def _calling_code_q(region: str) -> Q:
    """Contact values (E.164) that the prefix rule in the module docstring puts in `region`."""
    code = phonenumbers.country_code_for_region(region)
    metadata = PhoneMetadata.metadata_for_region(region)
    leading = metadata.leading_digits if metadata is not None else None
    if leading:
        return Q(value__regex=rf"^\+{code}(?:{leading})")
    others = [
        other.leading_digits
        for name in COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        if name != region
        and (other := PhoneMetadata.metadata_for_region(name)) is not None
        and other.leading_digits
    ]
    matched = Q(value__startswith=f"+{code}")
    if others:
        matched &= ~Q(value__regex=rf"^\+{code}(?:{'|'.join(others)})")
    return matched


def segment_filters_customers(filters: Mapping[str, Any]) -> QuerySet[Customer]:
    """Customers matching every filter, as one query; checked filters only (ValidationFailed
    otherwise)."""
    checked = _normalize(filters)
    customers = Customer.objects.filter(merged_into__isnull=True)
    if "language" in checked:
        customers = customers.filter(language__in=checked["language"])
    if "time_zone" in checked:
        customers = customers.filter(time_zone__in=checked["time_zone"])
    if "country" in checked:
        prefixes = Q()
        for region in checked["country"]:
            prefixes |= _calling_code_q(region)
        phones = ContactPoint.objects.filter(customer=OuterRef("pk"), kind__in=PHONE_KINDS)
        customers = customers.filter(Exists(phones.filter(prefixes)))
    if "topic" in checked:
        customers = customers.filter(
            Exists(Subscription.objects.filter(customer=OuterRef("pk"), topic=checked["topic"]))
        )
    for purpose in checked.get("consent", ()):
        granted = Consent.objects.filter(customer=OuterRef("pk"), purpose=purpose, granted=True)
        customers = customers.filter(Exists(granted))
    if "created_after" in checked:
        customers = customers.filter(created_at__gte=_moment(checked["created_after"]))
    if "customers" in checked:
        ids = checked["customers"]
        merged_into = Customer.objects.filter(public_id__in=ids, merged_into__isnull=False).values(
            "merged_into"
        )
        customers = customers.filter(Q(public_id__in=ids) | Q(pk__in=merged_into))
    return customers


def segment_customers(segment: Segment) -> QuerySet[Customer]:
    """The segment's customers, as one query. Stored filters that no longer pass the check
    (edited outside the services) match nobody, and say so in the log."""
    try:
        return segment_filters_customers(segment.filters)
    except ValidationFailed as error:
        logger.warning(
            "notifications.segment.invalid", extra={"segment": segment.key, "reason": error.detail}
        )
        return Customer.objects.none()


def segment_get(key_or_public_id: str) -> Segment:
    """A segment by its key or public id (NotFound otherwise)."""
    if not isinstance(key_or_public_id, str) or not key_or_public_id:
        raise NotFound("No such segment.")
    segment = Segment.objects.filter(
        Q(key=key_or_public_id) | Q(public_id=key_or_public_id)
    ).first()
    if segment is None:
        raise NotFound("No such segment.")
    return segment
