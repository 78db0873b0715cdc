from typing import Any

from django.conf import settings
from django.http import HttpRequest

from pocketdesk.web.console_nav import console_nav


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "site_name": settings.PD_SITE_NAME,
        "ws_url": settings.PD_WS_URL,
        "console_nav": console_nav(),
    }
