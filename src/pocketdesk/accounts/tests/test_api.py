"""Accounts over HTTP: bearer tokens, roles, session auth with CSRF, and login throttling."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from pocketdesk.accounts.models import ApiToken
from pocketdesk.accounts.services import api_token_create, api_token_revoke
from pocketdesk.core import clock
from pocketdesk.core.models import IdempotencyKey

PASSWORD = "pw-Secret-123"  # conftest's make_user default


def _error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"]


# --- bearer tokens --------------------------------------------------------------------------


def test_whoami_with_a_valid_token(make_user, api_as):
    user = make_user("agent")
    response = api_as(user).get("/accounts/whoami")
    assert response.status_code == 200
    assert response.json() == {
        "id": user.public_id,
        "email": user.email,
        "name": "",
        "role": "agent",
    }


def test_revoked_token_is_a_401_invalid_token(make_user, api_as):
    # given
    user = make_user("agent")
    api = api_as(user)
    token = ApiToken.objects.get(user=user)
    # when
    api_token_revoke(actor=user, token_id=token.public_id)
    # then
    _error(api.get("/accounts/whoami"), 401, "invalid_token")


def test_expired_token_is_a_401_invalid_token(make_user):
    user = make_user("agent")
    expires = clock.now() + timedelta(days=1)
    _, secret = api_token_create(actor=user, user=user, name="temp", expires_at=expires)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/accounts/whoami").status_code == 200
    with clock.frozen_at(expires + timedelta(seconds=1)):
        _error(client.get("/api/v1/accounts/whoami"), 401, "invalid_token")


def test_a_bad_token_is_refused_even_with_a_valid_session(make_user):
    # a wrong token must not quietly fall back to the browser session
    user = make_user("agent")
    client = Client()
    client.force_login(user)
    assert client.get("/api/v1/accounts/whoami").status_code == 200
    response = client.get("/api/v1/accounts/whoami", HTTP_AUTHORIZATION="Bearer pdp_wrong")
    _error(response, 401, "invalid_token")


def test_no_credentials_is_a_401(db):
    _error(Client().get("/api/v1/accounts/whoami"), 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/customers"),
        ("post", "/customers"),
        ("get", "/customers/cus_01jabcdefghjkmnpqrstvwxyz0/timeline"),
        ("post", "/catalog/products"),
        ("get", "/catalog/units/unt_01jabcdefghjkmnpqrstvwxyz0"),
    ],
)
def test_a_customer_token_cannot_call_staff_endpoints(make_customer, api_as, method, path):
    api = api_as(make_customer().user)
    response = getattr(api, method)(path, {"name": "x"} if method == "post" else None)
    _error(response, 403, "forbidden")


def test_an_agent_cannot_call_customer_self_service(make_user, api_as):
    _error(api_as(make_user("agent")).get("/me"), 403, "forbidden")


def test_tokens_over_the_api_create_list_revoke(make_user, api_as):
    # given
    user = make_user("agent")
    api = api_as(user)
    # when a second token is made
    created = api.post("/accounts/tokens", {"name": "phone"})
    # then its secret is shown once, and works
    assert created.status_code == 201, created.content
    assert created["Cache-Control"] == "no-store"
    new = created.json()
    assert new["id"].startswith("tok_")
    assert new["secret"].startswith(new["prefix"])
    phone = Client(HTTP_AUTHORIZATION=f"Bearer {new['secret']}")
    assert phone.get("/api/v1/accounts/whoami").json()["id"] == user.public_id
    # and listing shows both tokens, without secrets
    listed = api.get("/accounts/tokens").json()
    assert {t["name"] for t in listed} == {"test", "phone"}
    assert all("secret" not in t for t in listed)
    # when it is revoked
    assert api.delete(f"/accounts/tokens/{new['id']}").status_code == 204
    # then it stops working, the other one still works
    _error(phone.get("/api/v1/accounts/whoami"), 401, "invalid_token")
    assert api.get("/accounts/whoami").status_code == 200


def test_revoking_someone_elses_token_is_a_404(make_user, api_as):
    alice, bob = make_user("agent"), make_user("agent")
    token, _ = api_token_create(actor=alice, user=alice, name="laptop")
    _error(api_as(bob).delete(f"/accounts/tokens/{token.public_id}"), 404, "not_found")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_a_new_token_secret_is_not_kept_even_under_an_idempotency_key(make_user, api_as):
    # given
    user = make_user("agent")
    api = api_as(user)
    # when
    response = api.post("/accounts/tokens", {"name": "ci"}, idempotency_key="token-1")
    # then the secret reached the client but no table holds it
    secret = response.json()["secret"]
    assert not IdempotencyKey.objects.filter(key="token-1").exists()
    assert all(secret.encode() not in bytes(k.body) for k in IdempotencyKey.objects.all())
    assert not ApiToken.objects.filter(secret_hash__contains=secret).exists()


# --- session auth ---------------------------------------------------------------------------


def _browser_signed_in(user):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login/")
    response = browser.post(
        "/login/",
        {
            "username": user.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302, response.content
    return browser


def test_session_reads_need_no_csrf_token(make_customer):
    customer = make_customer()
    browser = _browser_signed_in(customer.user)
    assert browser.get("/api/v1/me").json()["id"] == customer.public_id


def test_session_writes_need_the_csrf_token(make_customer):
    # given
    customer = make_customer()
    browser = _browser_signed_in(customer.user)
    payload = json.dumps({"purpose": "marketing", "granted": True})
    # when the token is missing
    refused = browser.put("/api/v1/me/consents", payload, content_type="application/json")
    # then
    _error(refused, 403, "forbidden")
    assert not customer.consents.exists()
    # when it is sent
    accepted = browser.put(
        "/api/v1/me/consents",
        payload,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    # then
    assert accepted.status_code == 200, accepted.content
    assert customer.consents.get().granted


def test_bearer_writes_need_no_csrf_token(make_customer, api_as):
    customer = make_customer()
    api = api_as(customer.user)
    api.client = Client(enforce_csrf_checks=True)
    response = api.put("/me/consents", {"purpose": "alerts", "granted": True})
    assert response.status_code == 200, response.content


# --- login throttling -----------------------------------------------------------------------


def test_five_failed_logins_lock_the_account_out_with_a_429(make_user):
    # given
    user = make_user("customer")
    browser = Client()
    # when four wrong passwords are tried, the form just says no
    for _ in range(4):
        response = browser.post("/login/", {"username": user.email, "password": "wrong"})
        assert response.status_code == 200
    # and the fifth locks the account
    assert browser.post("/login/", {"username": user.email, "password": "wrong"}).status_code == 429
    # then even the right password is refused
    response = browser.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in browser.session


def test_a_successful_login_resets_the_failure_count(make_user):
    user = make_user("customer")
    browser = Client()
    for _ in range(4):
        browser.post("/login/", {"username": user.email, "password": "wrong"})
    assert (
        browser.post("/login/", {"username": user.email, "password": PASSWORD}).status_code == 302
    )
    browser.logout()
    for _ in range(4):
        response = browser.post("/login/", {"username": user.email, "password": "wrong"})
        assert response.status_code == 200
