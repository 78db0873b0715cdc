"""Account services: users with an email login, API tokens stored hashed, token checks."""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import authenticate
from django.db import connection
from django.test import RequestFactory

from pocketdesk.accounts.models import ApiToken, Role, User
from pocketdesk.accounts.services import (
    LAST_USED_RESOLUTION,
    api_token_create,
    api_token_revoke,
    token_authenticate,
    user_create,
)
from pocketdesk.core import clock
from pocketdesk.core.errors import NotFound, PermissionDenied, ValidationFailed
from pocketdesk.core.models import AuditEvent

# --- users ----------------------------------------------------------------------------------


def _login(email, password):
    return authenticate(RequestFactory().post("/login/"), username=email, password=password)


def test_user_logs_in_with_the_lower_cased_email(db):
    # given
    user = user_create(email="  Ada@Example.COM ", password="pw-Secret-123", role=Role.AGENT)
    # then the email, lower-cased, is the login name
    assert user.email == "ada@example.com"
    assert _login("ada@example.com", "pw-Secret-123") == user
    assert _login("ada@example.com", "wrong") is None
    assert user.role == Role.AGENT
    assert not user.is_staff


def test_only_admins_get_the_django_admin(db):
    assert user_create(email="root@example.com", password="x", role=Role.ADMIN).is_staff
    assert not user_create(email="agent@example.com", password="x", role=Role.AGENT).is_staff


def test_user_email_is_unique_whatever_the_case(db):
    user_create(email="ada@example.com", password="x")
    with pytest.raises(ValidationFailed) as taken:
        user_create(email="ADA@example.com", password="x")
    assert taken.value.code == "email_taken"
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("email", "role", "field"),
    [("not-an-email", Role.CUSTOMER, "email"), ("ok@example.com", "wizard", "role")],
)
def test_user_create_refuses_bad_input(db, email, role, field):
    with pytest.raises(ValidationFailed) as refused:
        user_create(email=email, password="x", role=role)
    assert refused.value.body()["errors"][0]["field"] == field
    assert not User.objects.exists()


# --- tokens ---------------------------------------------------------------------------------


def test_token_secret_is_shown_once_and_only_its_hash_is_stored(make_user):
    # given
    user = make_user("agent")
    # when
    token, secret = api_token_create(actor=user, user=user, name="laptop")
    # then
    assert secret.startswith("pdp_")
    assert len(secret) > 40
    assert token.prefix == secret[:12]
    assert secret not in token.secret_hash
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - our own table name
        rows = cursor.fetchall()
    assert rows
    assert not any(secret in str(value) for row in rows for value in row)
    assert AuditEvent.objects.filter(action="api_token.created", target_id=token.public_id).exists()


def test_token_authenticates_its_user(make_user):
    user = make_user("agent")
    _, secret = api_token_create(actor=user, user=user, name="laptop")
    assert token_authenticate(secret) == user


@pytest.mark.parametrize("secret", ["", "pdp_", "pdp_not-a-real-token", "Bearer x", "ghp_abc"])
def test_unknown_secrets_authenticate_nobody(db, secret):
    assert token_authenticate(secret) is None


def test_revoked_token_authenticates_nobody(make_user):
    # given
    user = make_user("agent")
    token, secret = api_token_create(actor=user, user=user, name="laptop")
    # when
    api_token_revoke(actor=user, token_id=token.public_id)
    # then
    assert token_authenticate(secret) is None
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1
    # revoking again changes nothing
    api_token_revoke(actor=user, token_id=token.public_id)
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_expired_token_authenticates_nobody(make_user):
    user = make_user("agent")
    expires = clock.now() + timedelta(hours=1)
    _, secret = api_token_create(actor=user, user=user, name="temp", expires_at=expires)
    with clock.frozen_at(expires - timedelta(seconds=1)):
        assert token_authenticate(secret) == user
    with clock.frozen_at(expires):
        assert token_authenticate(secret) is None


@pytest.mark.parametrize(
    "expires_at",
    [datetime(2030, 1, 1), clock.now() - timedelta(seconds=1)],  # naive; in the past
)
def test_token_expiry_must_be_an_aware_future_time(make_user, expires_at):
    user = make_user("agent")
    with pytest.raises(ValidationFailed) as refused:
        api_token_create(actor=user, user=user, name="bad", expires_at=expires_at)
    assert refused.value.body()["errors"][0]["field"] == "expires_at"
    assert not ApiToken.objects.exists()


def test_token_of_a_deactivated_user_authenticates_nobody(make_user):
    user = make_user("agent")
    _, secret = api_token_create(actor=user, user=user, name="laptop")
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert token_authenticate(secret) is None


def test_last_used_is_written_at_most_once_a_minute(make_user):
    user = make_user("agent")
    token, secret = api_token_create(actor=user, user=user, name="laptop")
    start = clock.now()
    with clock.frozen_at(start):
        token_authenticate(secret)
    with clock.frozen_at(start + LAST_USED_RESOLUTION / 2):
        token_authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at == start
    later = start + LAST_USED_RESOLUTION * 2
    with clock.frozen_at(later):
        token_authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at == later


def test_partner_keys_are_only_for_partner_users(make_user):
    # given
    partner, customer = make_user("partner"), make_user("customer")
    # when
    token, secret = api_token_create(
        actor=partner, user=partner, name="coalition", kind=ApiToken.Kind.PARTNER
    )
    # then
    assert secret.startswith("pdk_")
    assert token.kind == ApiToken.Kind.PARTNER
    assert token_authenticate(secret) == partner
    with pytest.raises(ValidationFailed):
        api_token_create(actor=customer, user=customer, name="sneaky", kind=ApiToken.Kind.PARTNER)
    assert not ApiToken.objects.filter(user=customer).exists()


def test_admins_create_tokens_for_others_but_nobody_else_does(make_user):
    admin, partner, agent = make_user("admin"), make_user("partner"), make_user("agent")
    token, _ = api_token_create(actor=admin, user=partner, name="k", kind=ApiToken.Kind.PARTNER)
    assert token.user == partner
    with pytest.raises(PermissionDenied):
        api_token_create(actor=agent, user=partner, name="k")


def test_a_user_cannot_revoke_someone_elses_token(make_user):
    alice, bob, admin = make_user("agent"), make_user("agent"), make_user("admin")
    token, secret = api_token_create(actor=alice, user=alice, name="laptop")
    with pytest.raises(NotFound):
        api_token_revoke(actor=bob, token_id=token.public_id)
    assert token_authenticate(secret) == alice
    api_token_revoke(actor=admin, token_id=token.public_id)
    assert token_authenticate(secret) is None
