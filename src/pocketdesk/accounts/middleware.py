"""Bearer-token authentication for the API, before idempotency and the views run."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from pocketdesk.accounts.services import token_authenticate


class BearerTokenMiddleware:
    """`Authorization: Bearer <token>` sets request.user; a bad token is a 401, never a guest."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer" and request.path.startswith("/api/"):
            user = token_authenticate(secret.strip())
            if user is None:
                return JsonResponse(
                    {"code": "invalid_token", "detail": "The bearer token is invalid or revoked."},
                    status=401,
                )
            request.user = user
            request.auth_via_token = True  # type: ignore[attr-defined]
            # Tokens are not ambient credentials: no CSRF check for them.
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)
