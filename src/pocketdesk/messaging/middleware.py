"""The webhook fast path: provider webhooks (`/webhooks/…`) prove who they are by signature, so
they skip the middleware that only pages and the API need (sessions, auth, locale, CSRF, CSP,
messages, htmx, idempotency, axes). The body-size limit and the security headers still apply."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from pocketdesk.core.middleware import BodySizeLimitMiddleware

PREFIX = "/webhooks/"
# Raw e-mail with attachments is bigger than any other webhook.
EMAIL_PREFIX = "/webhooks/email/"


def _webhook(request: HttpRequest) -> Any:
    match = resolve(request.path_info)
    return match.func(request, *match.args, **match.kwargs)


class WebhookFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.fast = SecurityMiddleware(BodySizeLimitMiddleware(_webhook))
        self.fast_email = SecurityMiddleware(
            BodySizeLimitMiddleware(_webhook, setting="PD_MAX_EMAIL_BYTES")
        )

    def __call__(self, request: HttpRequest) -> Any:
        if request.path_info.startswith(PREFIX):
            try:
                resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
            if request.path_info.startswith(EMAIL_PREFIX):
                return self.fast_email(request)
            return self.fast(request)
        return self.get_response(request)
