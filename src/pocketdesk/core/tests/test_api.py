"""Core behaviour seen through the real API: Idempotency-Key, body size limit, error bodies."""

import json

from django.test import Client, RequestFactory

from pocketdesk.api import api as ninja_api
from pocketdesk.core.models import IdempotencyKey
from pocketdesk.customers.models import Customer, TimelineEntry


def _error(response, status):
    """The response is `status` with a JSON `{"code", "detail"}` body; returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response.content
    body = json.loads(response.content)
    assert isinstance(body["code"], str)
    assert body["code"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


# --- Idempotency-Key ------------------------------------------------------------------------


def test_same_key_and_body_replays_the_stored_response_and_writes_once(agent, api_as):
    # given
    api = api_as(agent)
    payload = {"name": "Grace Hopper", "email": "grace@example.com"}
    # when the same write is sent twice with one key
    first = api.post("/customers", payload, idempotency_key="create-grace")
    second = api.post("/customers", payload, idempotency_key="create-grace")
    # then
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert Customer.objects.filter(name="Grace Hopper").count() == 1
    assert TimelineEntry.objects.filter(kind="customer.created").count() == 1


def test_without_a_key_the_same_write_runs_twice(agent, api_as):
    api = api_as(agent)
    api.post("/customers", {"name": "Twice"})
    api.post("/customers", {"name": "Twice"})
    assert Customer.objects.filter(name="Twice").count() == 2


def test_same_key_with_another_body_is_a_409(agent, api_as):
    # given
    api = api_as(agent)
    api.post("/customers", {"name": "First"}, idempotency_key="k-1")
    # when
    response = api.post("/customers", {"name": "Second"}, idempotency_key="k-1")
    # then
    assert _error(response, 409)["code"] == "idempotency_key_reused"
    assert not Customer.objects.filter(name="Second").exists()


def test_same_key_on_another_path_is_a_409(agent, admin_user, api_as):
    api = api_as(admin_user)
    api.post("/customers", {"name": "First"}, idempotency_key="k-2")
    response = api.post(
        "/catalog/products", {"gtin": "4006381333931", "name": "Pen"}, idempotency_key="k-2"
    )
    assert _error(response, 409)["code"] == "idempotency_key_reused"


def test_a_422_is_not_stored_so_a_corrected_retry_with_the_same_key_runs(agent, api_as):
    # given a request the API refuses
    api = api_as(agent)
    bad = api.post("/customers", {"name": "Ann", "time_zone": "Mars/Olympus"}, idempotency_key="k")
    assert _error(bad, 422)["code"] == "validation_error"
    assert not IdempotencyKey.objects.filter(key="k").exists()
    # when the client fixes it and retries with the same key
    good = api.post("/customers", {"name": "Ann", "time_zone": "Europe/Paris"}, idempotency_key="k")
    # then it runs, and is stored for the next replay
    assert good.status_code == 201, good.content
    assert "Idempotent-Replayed" not in good
    replay = api.post(
        "/customers", {"name": "Ann", "time_zone": "Europe/Paris"}, idempotency_key="k"
    )
    assert replay["Idempotent-Replayed"] == "true"
    assert Customer.objects.filter(name="Ann").count() == 1


def _browser_signed_in(user):
    """A browser that signed in on the real login page, so it holds a CSRF cookie."""
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login/")
    response = browser.post(
        "/login/",
        {
            "username": user.email,
            "password": "pw-Secret-123",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302, response.content
    return browser


def test_a_refused_session_write_is_not_stored_for_the_key(make_customer):
    # given a signed-in browser session that forgets the CSRF token
    customer = make_customer()
    browser = _browser_signed_in(customer.user)
    url = "/api/v1/me/contact-points"
    payload = json.dumps({"kind": "phone", "value": "+1 201 555 0123"})
    refused = browser.post(
        url, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="add-phone"
    )
    assert _error(refused, 403)["code"] == "forbidden"
    # when it retries with the token and the same key
    retried = browser.post(
        url,
        payload,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="add-phone",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    # then the write runs instead of replaying the 403
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried


def test_an_over_long_key_is_refused(agent, api_as):
    response = api_as(agent).post("/customers", {"name": "X"}, idempotency_key="k" * 256)
    assert _error(response, 422)["errors"][0]["field"] == "Idempotency-Key"
    assert not Customer.objects.filter(name="X").exists()


def test_reads_ignore_the_key(make_customer, api_as):
    api = api_as(make_customer().user)
    api.get("/me", idempotency_key="read")
    assert not IdempotencyKey.objects.exists()


# --- body size ------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_and_nothing_is_written(agent, api_as, settings):
    # given
    settings.PD_MAX_BODY_BYTES = 2_000
    api = api_as(agent)
    # when
    response = api.post("/customers", {"name": "Big", "padding": "x" * 2_000})
    # then
    body = _error(response, 413)
    assert body["code"] == "payload_too_large"
    assert "2000" in body["detail"]
    assert not Customer.objects.filter(name="Big").exists()


def test_a_body_at_the_default_limit_is_refused_before_authentication(settings):
    oversized = b"x" * (settings.PD_MAX_BODY_BYTES + 1)
    response = Client().post("/api/v1/customers", oversized, content_type="application/json")
    assert _error(response, 413)["code"] == "payload_too_large"


def test_a_body_under_the_limit_goes_through(agent, api_as, settings):
    settings.PD_MAX_BODY_BYTES = 2_000
    response = api_as(agent).post("/customers", {"name": "Small", "padding": "x" * 100})
    assert response.status_code == 201, response.content


# --- every error is {"code", "detail"} ------------------------------------------------------


def test_error_bodies_are_code_and_detail_json(make_customer, agent, api_as):
    customer = make_customer()
    me, staff = api_as(customer.user), api_as(agent)
    no_credentials = Client().get("/api/v1/me")
    bad_token = Client().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer pdp_nope")
    bad_json = staff.client.post(
        "/api/v1/customers",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff.secret}",
    )

    assert _error(no_credentials, 401)["code"] == "unauthorized"
    assert _error(bad_token, 401)["code"] == "invalid_token"
    assert _error(me.get("/customers"), 403)["code"] == "forbidden"
    assert _error(staff.get("/customers/cus_nope"), 404)["code"] == "not_found"
    assert _error(bad_json, 400)["code"] == "bad_request"
    assert _error(staff.post("/customers", {}), 422)["code"] == "validation_error"
    taken = staff.post("/customers", {"name": "Dup", "email": customer.user.email})
    assert _error(taken, 409)["code"] == "contact_point_taken"


def test_validation_errors_name_the_client_fields(make_customer, api_as):
    api = api_as(make_customer().user)
    response = api.patch(
        "/me/preferences",
        {"send_windows": [{"weekday": 9, "starts_at": "09:00", "ends_at": "nope"}]},
    )
    errors = _error(response, 422)["errors"]
    assert {error["field"] for error in errors} == {
        "send_windows.0.weekday",
        "send_windows.0.ends_at",
    }


def test_a_bad_pagination_cursor_is_a_422_naming_the_cursor(agent, api_as):
    response = api_as(agent).get("/customers", {"cursor": "!!!"})
    body = _error(response, 422)
    assert body["errors"] == [{"field": "cursor", "message": "Invalid Cursor"}]


def test_an_unexpected_error_in_a_view_is_a_json_500():
    request = RequestFactory().get("/api/v1/me")
    response = ninja_api.on_exception(request, RuntimeError("boom"))
    assert _error(response, 500)["code"] == "server_error"
    assert b"boom" not in response.content


def test_errors_outside_the_views_become_json_with_the_middleware(agent, api_as, settings):
    # given the API error middleware in front
    settings.MIDDLEWARE = [
        "pocketdesk.core.middleware.ApiJsonErrorsMiddleware",
        *settings.MIDDLEWARE,
    ]
    api = api_as(agent)
    # then an unknown path and a wrong method answer JSON
    assert _error(api.get("/no-such-thing"), 404)["code"] == "not_found"
    wrong_method = api.put("/customers", {})
    assert _error(wrong_method, 405)["code"] == "method_not_allowed"
    assert "GET" in wrong_method["Allow"]
    # and pages outside the API keep their HTML
    assert Client().get("/no-such-page/")["Content-Type"].startswith("text/html")


def test_unknown_api_paths_and_methods_answer_json(agent, api_as):
    api = api_as(agent)
    _error(api.get("/no-such-thing"), 404)
    _error(api.put("/customers", {}), 405)
