"""Customer API: self-service under /me, staff search and profiles under /customers."""

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import CursorPagination, paginate

from pocketdesk.accounts.auth import any_user_auth, customer_auth, staff_auth
from pocketdesk.core.errors import NotFound
from pocketdesk.customers import selectors, services
from pocketdesk.customers.models import Consent, ContactPoint, Customer
from pocketdesk.customers.schemas import (
    ConsentIn,
    ConsentOut,
    ContactPointIn,
    ContactPointOut,
    CustomerCreateIn,
    CustomerDetailOut,
    CustomerOut,
    MergeIn,
    PreferencesIn,
    PushKeyOut,
    PushSubscriptionIn,
    PushSubscriptionRemoveIn,
    TimelineEntryOut,
    VerifyIn,
)
from pocketdesk.customers.services import Window

me_router = Router(tags=["me"], auth=customer_auth)
router = Router(tags=["customers"], auth=staff_auth)


def _me(request: HttpRequest) -> Customer:
    return selectors.customer_of_user(actor=request.auth)  # type: ignore[attr-defined]


def _detail(customer: Customer) -> Customer:
    return Customer.objects.prefetch_related("contact_points", "consents", "send_windows").get(
        pk=customer.pk
    )


@me_router.get("", response=CustomerDetailOut, summary="My profile and preferences")
def me_get(request: HttpRequest) -> Customer:
    return _detail(_me(request))


@me_router.patch("/preferences", response=CustomerDetailOut)
def me_preferences_update(request: HttpRequest, payload: PreferencesIn) -> Customer:
    windows = (
        [Window(w.weekday, w.starts_at, w.ends_at) for w in payload.send_windows]
        if payload.send_windows is not None
        else None
    )
    customer = services.preferences_update(
        actor=request.auth,  # type: ignore[attr-defined]
        customer=_me(request),
        language=payload.language,
        time_zone=payload.time_zone,
        channel_ranking=payload.channel_ranking,
        send_windows=windows,
    )
    return _detail(customer)


@me_router.get("/consents", response=list[ConsentOut])
def me_consents(request: HttpRequest) -> list[Consent]:
    return list(_me(request).consents.all())


@me_router.put("/consents", response=ConsentOut)
def me_consent_set(request: HttpRequest, payload: ConsentIn) -> Consent:
    return services.consent_set(
        actor=request.auth,  # type: ignore[attr-defined]
        customer=_me(request),
        purpose=payload.purpose,
        granted=payload.granted,
        source="api",
    )


@me_router.get("/contact-points", response=list[ContactPointOut])
def me_contact_points(request: HttpRequest) -> list[ContactPoint]:
    return list(_me(request).contact_points.order_by("created_at"))


@me_router.post("/contact-points", response={201: ContactPointOut})
def me_contact_point_add(request: HttpRequest, payload: ContactPointIn) -> Status[ContactPoint]:
    point = services.contact_point_add(
        actor=request.auth,  # type: ignore[attr-defined]
        customer=_me(request),
        kind=payload.kind,
        value=payload.value,
    )
    return Status(201, point)


@me_router.delete("/contact-points/{point_id}", response={204: None})
def me_contact_point_remove(request: HttpRequest, point_id: str) -> Status[None]:
    point = selectors.contact_point_get(actor=request.auth, public_id=point_id)  # type: ignore[attr-defined]
    services.contact_point_remove(actor=request.auth, point=point)  # type: ignore[attr-defined]
    return Status(204, None)


@me_router.post("/contact-points/{point_id}/verification", response={202: None})
def me_contact_point_verification_start(request: HttpRequest, point_id: str) -> Status[None]:
    """Send a one-time code to the contact point."""
    point = selectors.contact_point_get(actor=request.auth, public_id=point_id)  # type: ignore[attr-defined]
    services.contact_point_verification_start(actor=request.auth, point=point)  # type: ignore[attr-defined]
    return Status(202, None)


@me_router.post("/contact-points/{point_id}/verify", response=ContactPointOut)
def me_contact_point_verify(request: HttpRequest, point_id: str, payload: VerifyIn) -> ContactPoint:
    point = selectors.contact_point_get(actor=request.auth, public_id=point_id)  # type: ignore[attr-defined]
    return services.contact_point_verify(actor=request.auth, point=point, code=payload.code)  # type: ignore[attr-defined]


@me_router.get("/push-subscriptions/key", response=PushKeyOut)
def me_push_key(request: HttpRequest) -> dict[str, str]:
    """The server's VAPID public key; 404 `push_unavailable` when web push is not set up."""
    if not settings.PD_VAPID_PUBLIC_KEY:
        raise NotFound("Notifications are not set up on this server.", code="push_unavailable")
    return {"public_key": settings.PD_VAPID_PUBLIC_KEY}


@me_router.post("/push-subscriptions", response={201: ContactPointOut})
def me_push_subscription_add(
    request: HttpRequest, payload: PushSubscriptionIn
) -> Status[ContactPoint]:
    """Turn on notifications for this browser: the body is `PushSubscription.toJSON()`."""
    if not settings.PD_VAPID_PUBLIC_KEY:
        raise NotFound("Notifications are not set up on this server.", code="push_unavailable")
    point = services.push_subscription_add(
        actor=request.auth,  # type: ignore[attr-defined]
        customer=_me(request),
        endpoint=payload.endpoint,
        p256dh=payload.keys.p256dh,
        auth=payload.keys.auth,
        user_agent=request.headers.get("User-Agent", ""),
    )
    return Status(201, point)


@me_router.delete("/push-subscriptions", response={204: None})
def me_push_subscription_remove(
    request: HttpRequest, payload: PushSubscriptionRemoveIn
) -> Status[None]:
    """Turn off notifications for the browser holding `endpoint`."""
    services.push_subscription_remove(
        actor=request.auth,  # type: ignore[attr-defined]
        customer=_me(request),
        endpoint=payload.endpoint,
    )
    return Status(204, None)


@router.get("", response=list[CustomerOut], summary="Search customers")
@paginate(CursorPagination, ordering=("-public_id",))
def customer_search(request: HttpRequest, q: str = "") -> object:
    """By phone in any format, email, public id (`cus_…`) or part of the name."""
    return selectors.customer_search(actor=request.auth, query=q)  # type: ignore[attr-defined]


@router.post("", response={201: CustomerDetailOut})
def customer_create(request: HttpRequest, payload: CustomerCreateIn) -> Status[Customer]:
    customer = services.customer_create(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, _detail(customer))


@router.get("/{customer_id}", response=CustomerDetailOut, auth=any_user_auth)
def customer_get(request: HttpRequest, customer_id: str) -> Customer:
    """Staff read anyone; a customer reads only themself (anyone else is a 404, like a typo)."""
    return _detail(selectors.customer_get(actor=request.auth, public_id=customer_id))  # type: ignore[attr-defined]


@router.get("/{customer_id}/timeline", response=list[TimelineEntryOut])
@paginate(CursorPagination, ordering=("-at", "-public_id"))
def customer_timeline(request: HttpRequest, customer_id: str) -> object:
    """Newest first by when it happened (apps may record events after the fact)."""
    customer = selectors.customer_get(actor=request.auth, public_id=customer_id)  # type: ignore[attr-defined]
    return selectors.timeline_list(actor=request.auth, customer=customer)  # type: ignore[attr-defined]


@router.post("/{customer_id}/merge", response=CustomerDetailOut)
def customer_merge(request: HttpRequest, customer_id: str, payload: MergeIn) -> Customer:
    """Fold another customer (`source`) into this one. Idempotent; audited."""
    actor = request.auth  # type: ignore[attr-defined]
    target = selectors.customer_get(actor=actor, public_id=customer_id)
    source = selectors.customer_get(actor=actor, public_id=payload.source)
    return _detail(services.customer_merge(actor=actor, source=source, target=target))
