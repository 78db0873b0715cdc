"""Maps every error kind to `{"code", "detail"}` JSON once, for the whole API."""

import logging
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from pocketdesk.core.errors import DomainError

logger = logging.getLogger(__name__)

# Where ninja found the bad value; the next part of `loc` is the view's parameter name.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})


def _field_errors(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for item in raw:
        if "loc" not in item and "msg" not in item:
            # Not a pydantic error: ninja's own checks (e.g. a bad pagination cursor) give
            # {"<field>": "<message>"}.
            for field, message in item.items():
                errors.append({"field": str(field), "message": str(message)})
            continue
        loc = [str(part) for part in item.get("loc", [])]
        # ("body", "payload", "value"): the client knows the field, not our parameter name.
        loc = loc[2:] if loc[:1] == ["body"] else [part for part in loc if part not in _LOCATIONS]
        message = str(item.get("msg", "invalid"))
        # Pydantic prefixes messages of custom validators with "Value error, ".
        errors.append(
            {"field": ".".join(loc) or None, "message": message.removeprefix("Value error, ")}
        )
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

    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        if settings.DEBUG:
            raise exc  # Django's debug page is more use to a developer than our JSON
        logger.error("api.unhandled_error", extra={"path": request.path}, exc_info=exc)
        body = {"code": "server_error", "detail": "Something went wrong on our side."}
        return api.create_response(request, body, status=500)

    api.add_exception_handler(DomainError, domain)  # type: ignore[arg-type]
    api.add_exception_handler(NinjaValidationError, validation)  # type: ignore[arg-type]
    api.add_exception_handler(Http404, not_found)  # type: ignore[arg-type]
    api.add_exception_handler(AuthenticationError, unauthenticated)  # type: ignore[arg-type]
    api.add_exception_handler(HttpError, http_error)  # type: ignore[arg-type]
    api.add_exception_handler(Exception, unexpected)  # type: ignore[arg-type]
