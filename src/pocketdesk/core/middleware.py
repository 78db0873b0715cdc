"""Request-level guards: body size limit, Idempotency-Key replay for API writes, and JSON
error bodies for API requests that never reached a ninja view."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from pocketdesk.core.errors import DomainError, PayloadTooLarge, ValidationFailed
from pocketdesk.core.services import (
    StoredResponse,
    idempotency_begin,
    idempotency_finish,
    request_fingerprint,
)

Handler = Callable[[HttpRequest], HttpResponse]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Outcomes that never started the work (Stripe): not stored, so a retry runs again. That
# includes refused credentials (401, 403 — e.g. a missing CSRF token) and unreadable bodies.
NOT_STORED = frozenset({400, 401, 403, 409, 413, 422, 429})


def error_response(error: DomainError) -> JsonResponse:
    return JsonResponse(error.body(), status=error.status)


# Codes for errors raised outside our exception handlers (URL resolver, ninja's 405, Django).
STATUS_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "server_error",
}


class ApiJsonErrorsMiddleware:
    """Under /api/, turn an error page (unknown path, 405, Django's 500) into `{"code", "detail"}`.

    The views' own errors are already JSON (core.api); this catches the rest. Goes first in
    MIDDLEWARE so it also sees what the other middleware answer.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith("/api/")
            or response.get("Content-Type", "").startswith("application/json")
            or getattr(response, "streaming", False)
        ):
            return response
        body = {
            "code": STATUS_CODES.get(response.status_code, "error"),
            "detail": response.reason_phrase,
        }
        replaced = JsonResponse(body, status=response.status_code)
        if "Allow" in response:
            replaced["Allow"] = response["Allow"]
        return replaced


class BodySizeLimitMiddleware:
    """Answer 413 before anything reads a body larger than PD_MAX_BODY_BYTES."""

    def __init__(self, get_response: Handler, *, setting: str = "PD_MAX_BODY_BYTES") -> None:
        self.get_response = get_response
        self.setting = setting

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit: int = getattr(settings, self.setting)  # read per request: override_settings applies
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return error_response(
                PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit}.")
            )
        return self.get_response(request)


class IdempotencyMiddleware:
    """Same Idempotency-Key + same request → the stored response; another request → 409."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        user = getattr(request, "user", None)
        if (
            key is None
            or request.method not in WRITE_METHODS
            or not request.path.startswith("/api/")
            or user is None
            or not user.is_authenticated
        ):
            return self.get_response(request)
        if not 1 <= len(key) <= 255:
            return error_response(
                ValidationFailed(
                    "Idempotency-Key must be 1 to 255 characters.", field="Idempotency-Key"
                )
            )
        fingerprint = request_fingerprint(
            method=request.method or "", path=request.get_full_path(), body=request.body
        )
        try:
            stored = idempotency_begin(user_id=user.pk, key=key, fingerprint=fingerprint)
        except DomainError as error:
            return error_response(error)
        if stored is not None:
            replay = HttpResponse(
                stored.body, status=stored.status_code, content_type=stored.content_type
            )
            replay["Idempotent-Replayed"] = "true"
            return replay
        response = self.get_response(request)
        keep = (
            response.status_code < 500
            and response.status_code not in NOT_STORED
            # A response marked no-store carries a secret (a new API token): never persist it.
            and "no-store" not in response.get("Cache-Control", "")
        )
        idempotency_finish(
            user_id=user.pk,
            key=key,
            response=StoredResponse(
                response.status_code,
                response.get("Content-Type", "application/json"),
                response.content,
            )
            if keep and not response.streaming
            else None,
        )
        return response
