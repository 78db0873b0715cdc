"""Customer writes: profiles, contact points and their verification, preferences, consent,
the timeline (`timeline_record`, the one door every app uses) and merging."""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Exists, OuterRef, Q

from pocketdesk.accounts.models import Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.customers.models import (
    PHONE_KINDS,
    ChannelKind,
    Consent,
    ContactPoint,
    Customer,
    CustomerHabits,
    Purpose,
    SendWindow,
    TimelineEntry,
    VerificationCode,
)

CODE_TTL = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_RESEND_AFTER = timedelta(seconds=30)
CODES_PER_HOUR = 5


# --- checks ----------------------------------------------------------------------------


def phone_normalize(raw: str, *, region: str | None = None, field: str = "phone") -> str:
    """E.164 form of a phone number typed in any common format; 422 when it is not one.

    `field` names the input in the error, so a client can point at the right box.
    """
    try:
        number = phonenumbers.parse(raw, region or settings.PD_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(f"{raw!r} is not a phone number.", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(f"{raw!r} is not a valid phone number.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_normalize(raw: str, *, field: str = "email") -> str:
    value = raw.strip()
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise ValidationFailed(f"{raw!r} is not an email address.", field=field) from exc
    return value.lower()


def contact_value_normalize(kind: str, raw: str) -> str:
    """The stored form of a contact point value; errors name the `value` input."""
    if kind not in ChannelKind.values:
        raise ValidationFailed(f"Unknown contact point kind {kind!r}.", field="kind")
    if kind in PHONE_KINDS:
        return phone_normalize(raw, field="value")
    if kind == ChannelKind.EMAIL:
        return email_normalize(raw, field="value")
    value = raw.strip()
    if kind == ChannelKind.SOCIAL:
        value = value.lower()  # handles (@name) ignore case
    if kind == ChannelKind.WEBPUSH and not value.startswith("https://"):
        raise ValidationFailed("A push subscription endpoint is an https URL.", field="value")
    if not value or len(value) > 500:
        raise ValidationFailed("A contact value is 1 to 500 characters.", field="value")
    return value


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_check(name: str) -> str:
    if name not in _time_zones():
        raise ValidationFailed(f"{name!r} is not an IANA time zone.", field="time_zone")
    return name


def language_check(code: str) -> str:
    if code not in {lang for lang, _ in settings.LANGUAGES}:
        raise ValidationFailed(f"Language {code!r} is not offered.", field="language")
    return code


@dataclass(frozen=True)
class Window:
    weekday: int
    starts_at: time
    ends_at: time


def send_windows_check(windows: Sequence[Window]) -> list[Window]:
    seen: set[int] = set()
    for window in windows:
        if not 0 <= window.weekday <= 6:
            raise ValidationFailed("weekday is 0 (Monday) to 6 (Sunday).", field="send_windows")
        if window.weekday in seen:
            raise ValidationFailed("One send window per weekday.", field="send_windows")
        if window.ends_at <= window.starts_at:
            raise ValidationFailed("A send window must end after it starts.", field="send_windows")
        seen.add(window.weekday)
    return sorted(windows, key=lambda w: w.weekday)


def channel_ranking_check(ranking: Sequence[str]) -> list[str]:
    unknown = [kind for kind in ranking if kind not in ChannelKind.values]
    if unknown:
        raise ValidationFailed(
            f"Unknown channel kinds: {', '.join(unknown)}.", field="channel_ranking"
        )
    if len(set(ranking)) != len(ranking):
        raise ValidationFailed("A channel appears twice in the ranking.", field="channel_ranking")
    return list(ranking)


# --- timeline ----------------------------------------------------------------------------


def timeline_record(
    *,
    customer: Customer,
    kind: str,
    summary: str,
    source: str,
    data: Mapping[str, Any] | None = None,
    actor: User | None = None,
    at: datetime | None = None,
) -> TimelineEntry:
    """Append one entry to a customer's timeline. Every app writes history through here."""
    return TimelineEntry.objects.create(
        customer=customer,
        kind=kind,
        summary=summary[:300],
        source=source,
        data=dict(data or {}),
        actor=actor if actor is not None and actor.pk else None,
        at=at or clock.now(),
    )


@dataclass(frozen=True)
class TimelineItem:
    customer_id: int
    kind: str
    summary: str
    source: str
    at: datetime
    data: Mapping[str, Any] | None = None


def timeline_record_many(items: Sequence[TimelineItem]) -> None:
    """Append many entries in one INSERT (batch paths: inbound message bursts)."""
    TimelineEntry.objects.bulk_create(
        [
            TimelineEntry(
                customer_id=item.customer_id,
                kind=item.kind,
                summary=item.summary[:300],
                source=item.source,
                data=dict(item.data or {}),
                at=item.at,
            )
            for item in items
        ]
    )


# --- customers -----------------------------------------------------------------------------


def customer_create(
    *,
    actor: User | None,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    language: str = "en",
    time_zone: str = "UTC",
    user: User | None = None,
    is_lead: bool = False,
) -> Customer:
    language_check(language)
    time_zone_check(time_zone)
    points = []
    if email:
        points.append((ChannelKind.EMAIL, email_normalize(email)))
    if phone:
        points.append((ChannelKind.PHONE, phone_normalize(phone)))
    now = clock.now()
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                name=name.strip()[:200],
                language=language,
                time_zone=time_zone,
                user=user,
                is_lead=is_lead,
                created_at=now,
                updated_at=now,
            )
            for kind, value in points:
                ContactPoint.objects.create(
                    customer=customer, kind=kind, value=value, created_at=now
                )
            timeline_record(
                customer=customer,
                kind="customer.created",
                summary="Customer created" + (" (lead)" if is_lead else ""),
                source="customers",
                actor=actor,
            )
    except IntegrityError as exc:
        raise Conflict(
            "A contact point given is already used by another customer.", code="contact_point_taken"
        ) from exc
    return customer


# --- contact points --------------------------------------------------------------------------


def contact_point_add(
    *,
    actor: User | None,
    customer: Customer,
    kind: str,
    value: str,
    data: Mapping[str, Any] | None = None,
    verified: bool = False,
) -> ContactPoint:
    normalised = contact_value_normalize(kind, value)
    now = clock.now()
    existing = ContactPoint.objects.filter(kind=kind, value=normalised).first()
    if existing is not None:
        if existing.customer_id == customer.pk:
            return existing
        raise Conflict(
            "This contact point is already used by another customer.", code="contact_point_taken"
        )
    try:
        with transaction.atomic():
            point = ContactPoint.objects.create(
                customer=customer,
                kind=kind,
                value=normalised,
                data=dict(data or {}),
                verified_at=now if verified else None,
                created_at=now,
            )
            timeline_record(
                customer=customer,
                kind="contact_point.added",
                summary=f"Added {point.get_kind_display()} {normalised}",
                source="customers",
                actor=actor,
                data={"contact_point": point.public_id, "kind": kind},
            )
    except IntegrityError as exc:  # lost a race with another insert of the same value
        raise Conflict(
            "This contact point is already used by another customer.", code="contact_point_taken"
        ) from exc
    return point


def contact_point_remove(*, actor: User | None, point: ContactPoint) -> None:
    with transaction.atomic():
        timeline_record(
            customer=point.customer,
            kind="contact_point.removed",
            summary=f"Removed {point.get_kind_display()} {point.value}",
            source="customers",
            actor=actor,
            data={"contact_point": point.public_id, "kind": point.kind},
        )
        point.delete()


# --- web push subscriptions ------------------------------------------------------------------

# A customer's browsers and phones. Past this the oldest makes room: a device that went away
# without unsubscribing says so only when a push to it comes back 404/410.
PUSH_SUBSCRIPTIONS_MAX = 10
# Plain http only to this machine, where tests and the demo run a fake push service.
_PUSH_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_PUSH_REMOVED = {
    "unsubscribed": "Notifications turned off on a device",
    "gone": "A device's notifications ended (its push service no longer knows it)",
    "moved": "A device's notifications moved to another login",
    "replaced": "The oldest device's notifications made room for a new one",
}


def _private_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith((".localhost", ".internal", ".local"))
    return not address.is_global


def push_endpoint_check(raw: str) -> str:
    value = raw.strip()
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # an unclosed [IPv6] bracket, a port out of range
        parts, host, port_ok = urlsplit(""), "", False
    # The worker POSTs to this URL: no plain http but loopback (tests and the demo's fake push
    # service), and no private or link-local addresses in production (server-side forgery).
    local = host in _PUSH_LOOPBACK_HOSTS or _private_host(host)
    relaxed = settings.PD_MODE in {"demo", "test"}
    secure = (parts.scheme == "https" and (relaxed or not local)) or (
        parts.scheme == "http" and relaxed and host in _PUSH_LOOPBACK_HOSTS
    )
    if not (secure and host and port_ok) or parts.username or parts.fragment or len(value) > 500:
        raise ValidationFailed(
            "A push endpoint is an https URL of at most 500 characters.",
            field="endpoint",
            code="push_endpoint_invalid",
        )
    return value


def _b64url(value: str) -> bytes | None:
    text = value.strip().rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _b64url_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def push_keys_check(p256dh: str, auth: str) -> dict[str, str]:
    """The subscription's keys, unpadded base64url: the browser's P-256 public key (65 bytes,
    a point on the curve) and its 16-byte auth secret."""
    point = _b64url(p256dh)
    try:
        if point is None or len(point) != 65:
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValidationFailed(
            "keys.p256dh must be the browser's P-256 public key (65 bytes, base64url).",
            field="keys.p256dh",
            code="push_key_invalid",
        ) from None
    secret = _b64url(auth)
    if secret is None or len(secret) != 16:
        raise ValidationFailed(
            "keys.auth must be the browser's 16-byte auth secret (base64url).",
            field="keys.auth",
            code="push_key_invalid",
        )
    return {"p256dh": _b64url_text(point), "auth": _b64url_text(secret)}


def _push_subscription_delete(point: ContactPoint, *, actor: User | None, reason: str) -> None:
    # The endpoint is a bearer URL: the timeline names the contact point, never the URL.
    timeline_record(
        customer=point.customer,
        kind="push_subscription.removed",
        summary=_PUSH_REMOVED[reason],
        source="customers",
        actor=actor,
        data={"contact_point": point.public_id, "reason": reason},
    )
    point.delete()


def push_subscription_add(
    *,
    actor: User | None,
    customer: Customer,
    endpoint: str,
    p256dh: str,
    auth: str,
    user_agent: str = "",
) -> ContactPoint:
    """Keep a browser's push subscription as a web push contact point (value: the endpoint).

    Idempotent: the same endpoint again refreshes its keys. An endpoint another customer holds
    moves here, since only the browser that made it knows it: a shared device's notifications
    follow whoever signed in last."""
    endpoint = push_endpoint_check(endpoint)
    data = {**push_keys_check(p256dh, auth), "user_agent": user_agent.strip()[:300]}
    now = clock.now()
    with transaction.atomic():
        point = (
            ContactPoint.objects.select_for_update()
            .select_related("customer")
            .filter(kind=ChannelKind.WEBPUSH, value=endpoint)
            .first()
        )
        if point is not None and point.customer_id == customer.pk:
            if point.data != data:
                point.data = data
                point.save(update_fields=["data"])
            return point
        if point is not None:
            _push_subscription_delete(point, actor=actor, reason="moved")
        crowd = ContactPoint.objects.select_for_update().filter(
            customer=customer, kind=ChannelKind.WEBPUSH
        )
        for old in crowd.order_by("-created_at", "-pk")[PUSH_SUBSCRIPTIONS_MAX - 1 :]:
            _push_subscription_delete(old, actor=actor, reason="replaced")
        try:
            with transaction.atomic():
                point = ContactPoint.objects.create(
                    customer=customer,
                    kind=ChannelKind.WEBPUSH,
                    value=endpoint,
                    data=data,
                    verified_at=now,  # the customer's own browser made it, in their session
                    created_at=now,
                )
        except IntegrityError as exc:  # the same browser posted twice at once
            raise Conflict(
                "This subscription is being saved already; try again.", code="push_busy"
            ) from exc
        timeline_record(
            customer=customer,
            kind="push_subscription.added",
            summary="Notifications turned on for a device",
            source="customers",
            actor=actor,
            data={"contact_point": point.public_id, "user_agent": data["user_agent"]},
        )
    return point


def push_subscription_remove(
    *, actor: User | None, customer: Customer, endpoint: str, reason: str = "unsubscribed"
) -> None:
    """Forget one of the customer's push subscriptions: turned off in the browser
    ("unsubscribed") or refused by the push service ("gone")."""
    if reason not in _PUSH_REMOVED:
        raise ValueError(f"unknown reason {reason!r}")
    with transaction.atomic():
        point = (
            ContactPoint.objects.select_for_update()
            .select_related("customer")
            .filter(customer=customer, kind=ChannelKind.WEBPUSH, value=endpoint.strip())
            .first()
        )
        if point is None:
            raise NotFound("No such push subscription.", code="push_subscription_not_found")
        _push_subscription_delete(point, actor=actor, reason=reason)


CodeSender = Callable[[ContactPoint, str], None]


def _send_code_by_email(point: ContactPoint, code: str) -> None:
    send_mail(
        subject=f"{settings.PD_SITE_NAME} verification code: {code}",
        message=f"Your verification code is {code}. It expires in 10 minutes.",
        from_email=None,
        recipient_list=[point.value],
    )


# Channel apps register how they deliver a code for their kinds (e.g. messaging for SMS).
verification_senders: dict[str, CodeSender] = {ChannelKind.EMAIL: _send_code_by_email}


def _code_hash(point: ContactPoint, code: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{point.pk}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def contact_point_verification_start(
    *, actor: User | None, point: ContactPoint
) -> VerificationCode:
    """Send a six-digit code to the contact point (after commit)."""
    sender = verification_senders.get(point.kind)
    if sender is None:
        raise ValidationFailed(
            f"No channel can deliver a code to a {point.get_kind_display()} contact point yet.",
            code="verification_unavailable",
        )
    if point.verified:
        raise Conflict("This contact point is already verified.", code="already_verified")
    now = clock.now()
    with transaction.atomic():
        ContactPoint.objects.select_for_update().filter(pk=point.pk).first()
        recent = VerificationCode.objects.filter(
            contact_point=point, created_at__gt=now - timedelta(hours=1)
        ).order_by("-created_at")
        last = recent.first()
        if last is not None and now - last.created_at < CODE_RESEND_AFTER:
            raise RateLimited("A code was just sent; wait 30 seconds before asking again.")
        if recent.count() >= CODES_PER_HOUR:
            raise RateLimited("Too many codes asked for this hour; try again later.")
        code = f"{secrets.randbelow(1_000_000):06d}"
        VerificationCode.objects.filter(contact_point=point, consumed_at__isnull=True).update(
            consumed_at=now
        )
        verification = VerificationCode.objects.create(
            contact_point=point,
            code_hash=_code_hash(point, code),
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        transaction.on_commit(lambda: sender(point, code))
    return verification


def contact_point_verify(*, actor: User | None, point: ContactPoint, code: str) -> ContactPoint:
    now = clock.now()
    with transaction.atomic():
        verification = (
            VerificationCode.objects.select_for_update()
            .filter(contact_point=point, consumed_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        if verification is None or verification.attempts >= CODE_MAX_ATTEMPTS:
            raise ValidationFailed(
                "No valid code is pending; ask for a new one.", field="code", code="code_expired"
            )
        if not hmac.compare_digest(verification.code_hash, _code_hash(point, code.strip())):
            VerificationCode.objects.filter(pk=verification.pk).update(
                attempts=models.F("attempts") + 1
            )
            wrong = True  # raised after commit: the attempt counter must survive the error
        else:
            wrong = False
            verification.consumed_at = now
            verification.save(update_fields=["consumed_at"])
            point.verified_at = now
            point.save(update_fields=["verified_at"])
            timeline_record(
                customer=point.customer,
                kind="contact_point.verified",
                summary=f"Verified {point.get_kind_display()} {point.value}",
                source="customers",
                actor=actor,
                data={"contact_point": point.public_id},
            )
    if wrong:
        raise ValidationFailed("That code is not right.", field="code", code="code_wrong")
    return point


# --- preferences and consent ---------------------------------------------------------------


def preferences_update(
    *,
    actor: User | None,
    customer: Customer,
    language: str | None = None,
    time_zone: str | None = None,
    channel_ranking: Sequence[str] | None = None,
    send_windows: Sequence[Window] | None = None,
) -> Customer:
    """Change any subset of the preferences; each change lands on the timeline."""
    changes: dict[str, Any] = {}
    if language is not None and language != customer.language:
        changes["language"] = language_check(language)
    if time_zone is not None and time_zone != customer.time_zone:
        changes["time_zone"] = time_zone_check(time_zone)
    if channel_ranking is not None:
        ranking = channel_ranking_check(channel_ranking)
        if ranking != customer.channel_ranking:
            changes["channel_ranking"] = ranking
    windows = send_windows_check(send_windows) if send_windows is not None else None
    with transaction.atomic():
        for field, value in changes.items():
            setattr(customer, field, value)
        if windows is not None and _windows_of(customer) != [
            (w.weekday, w.starts_at, w.ends_at) for w in windows
        ]:
            SendWindow.objects.filter(customer=customer).delete()
            SendWindow.objects.bulk_create(
                SendWindow(
                    customer=customer, weekday=w.weekday, starts_at=w.starts_at, ends_at=w.ends_at
                )
                for w in windows
            )
            changes["send_windows"] = [
                {
                    "weekday": w.weekday,
                    "starts_at": w.starts_at.isoformat("minutes"),
                    "ends_at": w.ends_at.isoformat("minutes"),
                }
                for w in windows
            ]
        if not changes:
            return customer
        customer.updated_at = clock.now()
        customer.save(update_fields=[f for f in changes if f != "send_windows"] + ["updated_at"])
        timeline_record(
            customer=customer,
            kind="preferences.changed",
            summary="Preferences changed: " + ", ".join(sorted(changes)).replace("_", " "),
            source="customers",
            actor=actor,
            data=changes,
        )
    return customer


def _windows_of(customer: Customer) -> list[tuple[int, time, time]]:
    rows = SendWindow.objects.filter(customer=customer).order_by("weekday")
    return list(rows.values_list("weekday", "starts_at", "ends_at"))


def consent_set(
    *, actor: User | None, customer: Customer, purpose: str, granted: bool, source: str
) -> Consent:
    if purpose not in Purpose.values:
        raise ValidationFailed(f"Unknown consent purpose {purpose!r}.", field="purpose")
    now = clock.now()
    with transaction.atomic():
        consent, created = Consent.objects.select_for_update().get_or_create(
            customer=customer,
            purpose=purpose,
            defaults={"granted": granted, "changed_at": now, "source": source},
        )
        if not created and consent.granted == granted:
            return consent
        consent.granted, consent.changed_at, consent.source = granted, now, source
        consent.save()
        timeline_record(
            customer=customer,
            kind="consent.changed",
            summary=f"{'Granted' if granted else 'Withdrew'} consent for {purpose}",
            source="customers",
            actor=actor,
            data={"purpose": purpose, "granted": granted, "source": source},
        )
    return consent


# --- merge -----------------------------------------------------------------------------------


def customer_merge(*, actor: User, source: Customer, target: Customer) -> Customer:
    """Fold `source` into `target`: contact points, history and every reference move.

    Idempotent: merging an already-merged source into the same target returns the target.
    Consents and send windows the target lacks are taken from the source; the target's win.
    """
    if actor.role not in {Role.AGENT, Role.ADMIN}:
        raise NotFound("No such customer.")
    if source.pk == target.pk:
        raise ValidationFailed("A customer cannot be merged into itself.", field="target")
    with transaction.atomic():
        first, second = sorted([source.pk, target.pk])
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(pk__in=[first, second])
            .order_by("pk")
        }
        source, target = locked[source.pk], locked[target.pk]
        if source.merged_into_id == target.pk:
            return target
        if source.merged_into_id is not None or target.merged_into_id is not None:
            raise Conflict(
                "One of these customers was already merged elsewhere.", code="already_merged"
            )
        moved = _move_references(source, target)
        if target.user_id is None and source.user_id is not None:
            target.user_id, source.user_id = source.user_id, None
        source.merged_into = target
        source.updated_at = target.updated_at = clock.now()
        source.save(update_fields=["merged_into", "user", "updated_at"])
        target.save(update_fields=["user", "updated_at"])
        timeline_record(
            customer=target,
            kind="customer.merged",
            summary=f"Merged {source.public_id} into this customer",
            source="customers",
            actor=actor,
            data={"source": source.public_id, "moved": moved},
        )
        audit_record(
            actor=actor,
            action="customer.merged",
            target=target,
            data={"source": source.public_id, "moved": moved},
        )
    return target


def _move_references(source: Customer, target: Customer) -> dict[str, int]:
    """Re-point every foreign key to `source` — in any app — at `target`."""
    moved: dict[str, int] = {}
    for purpose_row in Consent.objects.filter(customer=source):
        if not Consent.objects.filter(customer=target, purpose=purpose_row.purpose).exists():
            purpose_row.customer = target
            purpose_row.save(update_fields=["customer"])
            moved["consents"] = moved.get("consents", 0) + 1
    if not SendWindow.objects.filter(customer=target).exists():
        moved["send_windows"] = SendWindow.objects.filter(customer=source).update(customer=target)
    handled = {Consent, SendWindow}
    for relation in Customer._meta.related_objects:
        model = relation.related_model
        if relation.one_to_one or relation.many_to_many or model in handled or model is Customer:
            continue
        field = relation.field.name
        _drop_clashes(model, field, source, target)
        count = model._default_manager.filter(**{field: source}).update(**{field: target})
        if count:
            moved[model._meta.label_lower] = count
    return moved


def _drop_clashes(
    model: type[models.Model], field: str, source: Customer, target: Customer
) -> None:
    """Before moving `model` rows from source to target: drop the source's rows that a unique
    constraint with the customer in it says the target already has (both followed one topic,
    both were notified of one event), so the merge keeps one instead of failing."""
    uniques: list[tuple[list[str], Q | None]] = [
        ([name for name in constraint.fields if name != field], constraint.condition)
        for constraint in model._meta.constraints
        if isinstance(constraint, models.UniqueConstraint) and field in constraint.fields
    ]
    uniques += [
        ([name for name in together if name != field], None)
        for together in model._meta.unique_together
        if field in together
    ]
    manager = model._default_manager
    for others, condition in uniques:
        if not others:
            continue
        clash = manager.filter(**{field: target}, **{name: OuterRef(name) for name in others})
        duplicates = manager.filter(**{field: source}).filter(Exists(clash))
        if condition is not None:
            duplicates = duplicates.filter(condition).filter(Exists(clash.filter(condition)))
        duplicates.delete()


Resolved = tuple[Customer, ContactPoint] | ValidationFailed


def customers_for_contacts(handles: Sequence[tuple[str, str]]) -> list[Resolved]:
    """`customer_for_contact` for a batch of (kind, value) handles in a few queries: one per kind
    for the known handles, bulk inserts for the unknown ones (new leads). Each result is the
    customer and contact point, or the ValidationFailed of a handle that is not valid. Falls
    back to one handle at a time if another process creates the same lead meanwhile."""
    normalised: list[tuple[str, str] | ValidationFailed] = []
    for kind, value in handles:
        try:
            normalised.append((kind, contact_value_normalize(kind, value)))
        except ValidationFailed as error:
            normalised.append(error)
    wanted = {item for item in normalised if not isinstance(item, ValidationFailed)}
    found: dict[tuple[str, str], ContactPoint] = {}
    for kind in {kind for kind, _ in wanted}:
        values = [value for k, value in wanted if k == kind]
        known = ContactPoint.objects.select_related("customer").filter(kind=kind, value__in=values)
        found.update({(point.kind, point.value): point for point in known})
    missing = sorted(wanted - found.keys())
    if missing:
        now = clock.now()
        try:
            with transaction.atomic():
                leads = Customer.objects.bulk_create(
                    [
                        Customer(name="", is_lead=True, created_at=now, updated_at=now)
                        for _ in missing
                    ]
                )
                points = ContactPoint.objects.bulk_create(
                    [
                        ContactPoint(customer=lead, kind=kind, value=value, created_at=now)
                        for lead, (kind, value) in zip(leads, missing, strict=True)
                    ]
                )
                timeline_record_many(
                    [
                        TimelineItem(
                            customer_id=point.customer_id,
                            kind="customer.created",
                            summary=f"Lead created from an inbound {point.get_kind_display()} "
                            "message",
                            source="customers",
                            at=now,
                            data={"contact_point": point.public_id},
                        )
                        for point in points
                    ]
                )
            found.update({(point.kind, point.value): point for point in points})
        except IntegrityError:
            return [
                item
                if isinstance(item, ValidationFailed)
                else customer_for_contact(kind=item[0], value=item[1])
                for item in normalised
            ]
    results: list[Resolved] = []
    for item in normalised:
        if isinstance(item, ValidationFailed):
            results.append(item)
            continue
        point = found[item]
        customer = point.customer
        while customer.merged_into_id is not None:
            customer = Customer.objects.get(pk=customer.merged_into_id)
        results.append((customer, point))
    return results


def customer_for_contact(*, kind: str, value: str) -> tuple[Customer, ContactPoint]:
    """Who is behind an inbound handle: its contact point's customer (following merges), or a
    new lead customer holding that contact point. Safe when two messages race."""
    normalised = contact_value_normalize(kind, value)
    for _attempt in range(2):
        point = (
            ContactPoint.objects.select_related("customer")
            .filter(kind=kind, value=normalised)
            .first()
        )
        if point is not None:
            customer = point.customer
            while customer.merged_into_id is not None:
                customer = Customer.objects.get(pk=customer.merged_into_id)
            return customer, point
        now = clock.now()
        try:
            with transaction.atomic():
                customer = Customer.objects.create(
                    name="", is_lead=True, created_at=now, updated_at=now
                )
                point = ContactPoint.objects.create(
                    customer=customer, kind=kind, value=normalised, created_at=now
                )
                timeline_record(
                    customer=customer,
                    kind="customer.created",
                    summary=f"Lead created from an inbound {point.get_kind_display()} message",
                    source="customers",
                    data={"contact_point": point.public_id},
                )
            return customer, point
        except IntegrityError:
            continue  # another message created it first: read it
    raise Conflict("Could not resolve the sender.", code="sender_unresolved")


# --- habits (learned by conversations.habits) ------------------------------------------------

HABITS_FIELDS = [
    "preferred_channel",
    "channel_ranking",
    "channel_stats",
    "best_hours",
    "channel_confidence",
    "hours_confidence",
    "channel_why",
    "hours_why",
    "computed_at",
]


@dataclass(frozen=True)
class LearnedHabits:
    """One customer's habits as learned: see CustomerHabits for what each field holds."""

    customer_id: int
    preferred_channel: str = ""
    channel_ranking: Sequence[str] = ()
    channel_stats: Mapping[str, Mapping[str, Any]] | None = None
    best_hours: Sequence[Mapping[str, int]] = ()
    channel_confidence: float = 0.0
    hours_confidence: float = 0.0
    channel_why: str = ""
    hours_why: str = ""


_CONTACT_KINDS = frozenset(ChannelKind.values)  # the enum rebuilds its values on every access


# Rows per INSERT: 10 parameters each, well under SQLite's 32,766.
HABITS_BATCH = 500


def _habits_check(item: LearnedHabits) -> None:
    if item.preferred_channel and item.preferred_channel not in _CONTACT_KINDS:
        raise ValidationFailed(
            f"Unknown channel kind {item.preferred_channel!r}.", field="preferred_channel"
        )
    ranking = item.channel_ranking
    if not _CONTACT_KINDS.issuperset(ranking) or len(set(ranking)) != len(ranking):
        channel_ranking_check(ranking)  # says which kind is wrong
    if any(not 0 <= entry["hour"] <= 23 for entry in item.best_hours):
        raise ValidationFailed("An hour is between 0 and 23.", field="best_hours")


def habits_store_many(items: Sequence[LearnedHabits], *, computed_at: datetime) -> int:
    """Store many customers' habits, each replacing what was there, in one transaction:
    re-storing the same habits changes nothing. One multi-row INSERT … ON CONFLICT DO UPDATE
    (the same on SQLite and PostgreSQL) per HABITS_BATCH rows: Django's bulk_create would cost
    more than learning the habits does. Confidences outside 0–1 are refused by the database."""
    for item in items:
        _habits_check(item)
    meta = CustomerHabits._meta
    # The three JSON columns are alike: one field adapts them all (JSONB on PostgreSQL).
    json_field = meta.get_field("channel_stats")
    assert isinstance(json_field, models.JSONField)  # noqa: S101 - narrows the type

    def as_json(value: Any) -> Any:
        return json_field.get_db_prep_save(value, connection)

    at = connection.ops.adapt_datetimefield_value(computed_at)
    rows = [
        (
            item.customer_id,
            item.preferred_channel,
            as_json(list(item.channel_ranking)),
            as_json({kind: dict(stats) for kind, stats in (item.channel_stats or {}).items()}),
            as_json([dict(entry) for entry in item.best_hours]),
            item.channel_confidence,
            item.hours_confidence,
            item.channel_why[:300],
            item.hours_why[:300],
            at,
        )
        for item in items
    ]
    quote = connection.ops.quote_name
    columns = ["customer_id", *HABITS_FIELDS]
    one_row = f"({', '.join(['%s'] * len(columns))})"
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), HABITS_BATCH):
            batch = rows[start : start + HABITS_BATCH]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608 - names from the model
                f"VALUES {', '.join([one_row] * len(batch))} "
                f"ON CONFLICT ({quote('customer_id')}) DO UPDATE SET "
                + ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in HABITS_FIELDS),
                [value for row in batch for value in row],
            )
    return len(rows)


def habits_store(
    *,
    customer: Customer,
    preferred_channel: str = "",
    channel_ranking: Sequence[str] = (),
    channel_stats: Mapping[str, Mapping[str, Any]] | None = None,
    best_hours: Sequence[Mapping[str, int]] = (),
    channel_confidence: float = 0.0,
    hours_confidence: float = 0.0,
    channel_why: str = "",
    hours_why: str = "",
    computed_at: datetime | None = None,
) -> CustomerHabits:
    """Store one customer's learned habits, replacing the previous ones."""
    learned = LearnedHabits(
        customer_id=customer.pk,
        preferred_channel=preferred_channel,
        channel_ranking=channel_ranking,
        channel_stats=channel_stats,
        best_hours=best_hours,
        channel_confidence=channel_confidence,
        hours_confidence=hours_confidence,
        channel_why=channel_why,
        hours_why=hours_why,
    )
    habits_store_many([learned], computed_at=computed_at or clock.now())
    return CustomerHabits.objects.get(customer=customer)
