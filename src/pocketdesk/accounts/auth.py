"""django-ninja authentication: bearer tokens or the session (with CSRF), checked by role."""

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from pocketdesk.accounts.models import Role


class _RoleMixin:
    roles: frozenset[str]

    def allowed(self, request: HttpRequest) -> Any:
        """The user when their role may call this endpoint; 403 for a known user of another role."""
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return None
        if user.role not in self.roles:
            # Signed in, just not allowed here: a 401 would tell the client to sign in again.
            raise AuthorizationError(message="Your role cannot use this endpoint.")
        return user


class BearerAuth(_RoleMixin, HttpBearer):
    def __init__(self, roles: Iterable[str]) -> None:
        self.roles = frozenset(roles)
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        # BearerTokenMiddleware already resolved the token (and answered 401 for a bad one).
        if getattr(request, "auth_via_token", False):
            return self.allowed(request)
        return None


class CookieAuth(_RoleMixin, SessionAuth):
    def __init__(self, roles: Iterable[str]) -> None:
        self.roles = frozenset(roles)
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if getattr(request, "auth_via_token", False):
            return None
        return self.allowed(request)


def roles_auth(*roles: str) -> list[Any]:
    return [BearerAuth(roles), CookieAuth(roles)]


customer_auth = roles_auth(Role.CUSTOMER)
staff_auth = roles_auth(Role.AGENT, Role.ADMIN)
admin_auth = roles_auth(Role.ADMIN)
any_user_auth = roles_auth(*Role.values)


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The login name django-axes counts failures under: the email as stored (lower-case)."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(raw).strip().lower()
