"""The customer's bell in the app: their notifications and a "Mark as read" form that works
without JavaScript."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from pocketdesk.accounts.models import Role
from pocketdesk.core.errors import NotFound
from pocketdesk.notifications import selectors
from pocketdesk.notifications.bell_items import bell_items
from pocketdesk.notifications.services.bell import notification_read
from pocketdesk.web.views import require_role

LIST_LIMIT = 100


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    items = bell_items(selectors.notification_list(actor=actor, limit=LIST_LIMIT))
    return render(
        request,
        "notifications/app/list.html",
        {"items": items, "unread": sum(item.unread for item in items)},
    )


@login_required
@require_POST
def notification_mark_read(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    try:
        notification = selectors.notification_get(actor=actor, public_id=public_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    notification_read(actor=actor, notification=notification)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("notifications:app-list")
