from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {"site_name": settings.PD_SITE_NAME, "ws_url": settings.PD_WS_URL}
