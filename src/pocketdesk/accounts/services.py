"""Account writes: users, API tokens, and token authentication."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from pocketdesk.accounts.models import ApiToken, Role, User
from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record

TOKEN_PREFIXES = {ApiToken.Kind.PERSONAL: "pdp_", ApiToken.Kind.PARTNER: "pdk_"}
# Writing last_used_at on every request would make each API read a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def user_create(
    *, email: str, password: str | None, role: Role | str = Role.CUSTOMER, name: str = ""
) -> User:
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed(f"{email!r} is not an email address.", field="email") from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email, password=password, role=role, name=name, is_staff=role == Role.ADMIN
            )
    except IntegrityError as exc:  # the unique email decides, not a check before the insert
        raise ValidationFailed(
            "A user with this email exists.", field="email", code="email_taken"
        ) from exc


def api_token_create(
    *,
    actor: User,
    user: User,
    name: str,
    kind: ApiToken.Kind = ApiToken.Kind.PERSONAL,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret (never stored, never shown again)."""
    if actor.pk != user.pk and actor.role != Role.ADMIN:
        raise PermissionDenied("Only admins create tokens for other users.")
    if kind == ApiToken.Kind.PARTNER and user.role != Role.PARTNER:
        raise ValidationFailed("Partner API keys belong to partner users.", field="kind")
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise ValidationFailed(
                "expires_at needs a time zone offset, e.g. 2030-01-01T00:00:00Z.",
                field="expires_at",
            )
        if expires_at <= clock.now():
            raise ValidationFailed("expires_at is in the past.", field="expires_at")
    secret = TOKEN_PREFIXES[ApiToken.Kind(kind)] + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            kind=kind,
            name=name,
            prefix=secret[:12],
            secret_hash=_secret_hash(secret),
            created_at=clock.now(),
            expires_at=expires_at,
        )
        audit_record(actor=actor, action="api_token.created", target=token, data={"kind": kind})
    return token, secret


def api_token_revoke(*, actor: User, token_id: str) -> ApiToken:
    with transaction.atomic():
        tokens = ApiToken.objects.select_for_update()
        if actor.role != Role.ADMIN:
            tokens = tokens.filter(user=actor)
        token = tokens.filter(public_id=token_id).first()
        if token is None:
            raise NotFound("No such token.")
        if token.revoked_at is None:
            token.revoked_at = clock.now()
            token.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="api_token.revoked", target=token)
    return token


def token_authenticate(secret: str) -> User | None:
    """The active user behind a bearer secret, or None."""
    if not secret.startswith(tuple(TOKEN_PREFIXES.values())):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(secret_hash=_secret_hash(secret), revoked_at__isnull=True)
        .first()
    )
    now = clock.now()
    if token is None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
