"""Maps every error kind to `{"code", "detail"}` JSON once, for the whole API."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from pocketdesk.core.errors import DomainError


def _field_errors(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors = []
    for item in raw:
        loc = [str(part) for part in item.get("loc", []) if part not in ("body", "query", "path")]
        field = ".".join(part for part in loc if not part.endswith("In") or "." in part)
        message = str(item.get("msg", "invalid"))
        # Pydantic prefixes messages of custom validators with "Value error, ".
        errors.append({"field": field or None, "message": message.removeprefix("Value error, ")})
    return errors


def install_error_handlers(api: NinjaAPI) -> None:
    def domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return api.create_response(request, exc.body(), status=exc.status)

    def validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        errors = _field_errors(list(exc.errors))
        detail = "; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
        )
        body = {"code": "validation_error", "detail": detail or "Invalid input.", "errors": errors}
        return api.create_response(request, body, status=422)

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api.create_response(
            request, {"code": "not_found", "detail": str(exc) or "Not found."}, status=404
        )

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        body = {"code": "unauthorized", "detail": "Authentication credentials were not provided."}
        return api.create_response(request, body, status=401)

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        body = {"code": code.get(exc.status_code, "error"), "detail": str(exc.message)}
        return api.create_response(request, body, status=exc.status_code)

    api.add_exception_handler(DomainError, domain)  # type: ignore[arg-type]
    api.add_exception_handler(NinjaValidationError, validation)  # type: ignore[arg-type]
    api.add_exception_handler(Http404, not_found)  # type: ignore[arg-type]
    api.add_exception_handler(AuthenticationError, unauthenticated)  # type: ignore[arg-type]
    api.add_exception_handler(HttpError, http_error)  # type: ignore[arg-type]
