"""Error types: one per failure kind, each mapped once to `{"code", "detail"}` and a 4xx."""

# The names say the failure kind (NotFound, Conflict); an "Error" suffix on each adds nothing.
# ruff: noqa: N818

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code  # type: ignore[misc]
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


class ValidationFailed(DomainError):
    """Input that parsed but breaks a rule; `errors` names the fields."""

    status = 422
    code = "validation_error"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        code: str | None = None,
    ) -> None:
        if errors is None:
            errors = [{"field": field, "message": detail}] if field else []
        super().__init__(detail, code=code, errors=list(errors))
