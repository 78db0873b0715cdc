"""Customer reads, each scoped by the acting user: staff see all, a customer only themself."""

import phonenumbers
from django.conf import settings
from django.db.models import Prefetch, QuerySet

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core.errors import NotFound
from pocketdesk.customers.models import (
    PHONE_KINDS,
    ChannelKind,
    ContactPoint,
    Customer,
    CustomerHabits,
    TimelineEntry,
)

TIMELINE_ON_360 = 50
# Timeline sources that are not "context" (what is going on in the customer's life with the
# business: orders, shipments, bookings, registered products): messages, notifications and the
# profile's own bookkeeping (contact points, consent, preferences), shown elsewhere on the page.
CONTEXT_EXCLUDED_SOURCES = ("conversations", "notifications", "customers")


def _visible(actor: User) -> QuerySet[Customer]:
    if actor.role in STAFF_ROLES:
        return Customer.objects.all()
    if actor.role == Role.CUSTOMER:
        return Customer.objects.filter(user=actor)
    return Customer.objects.none()


def customer_get(*, actor: User, public_id: str) -> Customer:
    customer = _visible(actor).filter(public_id=public_id).first()
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def customer_of_user(*, actor: User) -> Customer:
    """The customer record behind a customer login."""
    customer = Customer.objects.filter(user=actor).first() if actor.role == Role.CUSTOMER else None
    if customer is None:
        raise NotFound("This login has no customer profile.")
    return customer


def _as_phone(query: str) -> str | None:
    digits = sum(ch.isdigit() for ch in query)
    if digits < 6 or any(ch.isalpha() for ch in query):
        return None
    try:
        number = phonenumbers.parse(query, settings.PD_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def customer_search(*, actor: User, query: str) -> QuerySet[Customer]:
    """Staff search by phone (any format), email, public id or name; newest first."""
    if actor.role not in STAFF_ROLES:
        return Customer.objects.none()
    query = query.strip()
    customers = Customer.objects.filter(merged_into__isnull=True)
    if not query:
        return customers.order_by("-public_id")
    if query.lower().startswith("cus_"):  # ids are read aloud and retyped in any case
        return customers.filter(public_id=query.lower())
    if "@" in query:
        email = query.lower()
        return customers.filter(
            pk__in=ContactPoint.objects.filter(kind=ChannelKind.EMAIL, value=email).values(
                "customer_id"
            )
        ).order_by("-public_id")
    phone = _as_phone(query)
    if phone is not None:
        return customers.filter(
            pk__in=ContactPoint.objects.filter(kind__in=PHONE_KINDS, value=phone).values(
                "customer_id"
            )
        ).order_by("-public_id")
    return customers.filter(name__icontains=query).order_by("-public_id")


def contact_point_get(*, actor: User, public_id: str) -> ContactPoint:
    point = (
        ContactPoint.objects.select_related("customer")
        .filter(public_id=public_id, customer__in=_visible(actor))
        .first()
    )
    if point is None:
        raise NotFound("No such contact point.")
    return point


def timeline_list(*, actor: User, customer: Customer) -> QuerySet[TimelineEntry]:
    if not _visible(actor).filter(pk=customer.pk).exists():
        raise NotFound("No such customer.")
    return TimelineEntry.objects.filter(customer=customer).select_related("actor")


def customer_360(*, actor: User, public_id: str) -> Customer:
    """One customer with everything the 360 page shows, in a fixed number of queries."""
    if actor.role not in STAFF_ROLES:
        raise NotFound("No such customer.")
    customer = (
        Customer.objects.select_related("user", "merged_into")
        .prefetch_related(
            "contact_points",
            "consents",
            "send_windows",
            Prefetch(
                "timeline",
                queryset=TimelineEntry.objects.select_related("actor").order_by("-at", "-id")[
                    :TIMELINE_ON_360
                ],
                to_attr="recent_timeline",
            ),
        )
        .filter(public_id=public_id)
        .first()
    )
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def customer_habits_get(*, actor: User, customer: Customer) -> CustomerHabits | None:
    """The customer's learned habits (one query); None when not learned yet or not visible."""
    return CustomerHabits.objects.filter(customer=customer, customer__in=_visible(actor)).first()


def timeline_recent_context(
    *, actor: User, customer: Customer, limit: int = 5
) -> list[TimelineEntry]:
    """The latest timeline entries other apps wrote (orders, shipments, bookings, registered
    products), newest first, in one query."""
    return list(
        TimelineEntry.objects.filter(customer=customer, customer__in=_visible(actor))
        .exclude(source__in=CONTEXT_EXCLUDED_SOURCES)
        .order_by("-at", "-id")[:limit]
    )
