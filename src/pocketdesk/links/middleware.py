"""The scan fast path: a redirect for a known, live code skips the middleware that only pages
need (sessions, auth, locale, CSRF, CSP, messages, htmx, idempotency, axes).

Measured with bench/redirect (64 connections, 2 sync workers): 2,973 → 4,353 req/s and p99
31.7 → 22.3 ms. Unknown and expired codes render localized pages, so they take the full stack.
"""

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware

from pocketdesk.links import views
from pocketdesk.links.cache import link_cache

PREFIX = "/q/"


def _code(request: HttpRequest) -> str:
    return request.path_info[len(PREFIX) :]


class ScanFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Still applied: host validation, nosniff, Referrer-Policy (the target must not learn
        # the short link), COOP, X-Frame-Options, Content-Length.
        self.fast = SecurityMiddleware(
            XFrameOptionsMiddleware(CommonMiddleware(lambda r: views.scan(r, code=_code(r))))
        )

    def __call__(self, request: HttpRequest) -> Any:
        path = request.path_info
        if request.method == "GET" and path.startswith(PREFIX):
            code = _code(request)
            if code and "/" not in code:
                link = link_cache.get(code)
                if link is not None and not views.refused(link, time.time()):
                    return self.fast(request)
        return self.get_response(request)
