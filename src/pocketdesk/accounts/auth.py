"""django-ninja authentication: bearer tokens or the session (with CSRF), checked by role."""

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from pocketdesk.accounts.models import Role


class _RoleMixin:
    roles: frozenset[str]

    def allowed(self, request: HttpRequest) -> Any:
        user = request.user
        if user.is_authenticated and user.is_active and user.role in self.roles:  # type: ignore[union-attr]
            return user
        return None


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
