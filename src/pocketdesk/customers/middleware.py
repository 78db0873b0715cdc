"""Pages speak the customer's chosen language; Accept-Language (LocaleMiddleware) otherwise."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from pocketdesk.accounts.models import Role
from pocketdesk.customers.models import Customer


class PreferredLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and getattr(user, "role", None) == Role.CUSTOMER
            and not request.path.startswith(("/api/", "/static/"))
        ):
            language = Customer.objects.filter(user=user).values_list("language", flat=True).first()
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)
