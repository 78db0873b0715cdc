"""Files customers sent (messaging.media keeps them): served only to support staff and to the
customer whose visible message lists the file, never from a public media URL."""

from pathlib import PurePosixPath

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from pocketdesk.accounts.models import Role, User
from pocketdesk.conversations.models import Message
from pocketdesk.messaging.media import FOLDER, INLINE_TYPES, media_type_of_name

# What a customer sees of their threads (never internal notes).
VISIBLE = (Message.Direction.INBOUND, Message.Direction.OUTBOUND)


def _stored_path(rest: str) -> str | None:
    """attachments/<folder>/<file> for a URL's rest, or None when it is not one."""
    parts = rest.split("/")
    if len(parts) != 2 or any(p in {"", ".", ".."} or "\\" in p or "\x00" in p for p in parts):
        return None
    return f"{FOLDER}/{rest}"


def customer_may_open(*, actor: User, path: str) -> bool:
    """Whether a visible message of one of the actor's conversations lists this file.

    The database narrows to messages whose media mention the file's folder (a keyed hash, plain
    ASCII, so the JSON text is the same on SQLite and PostgreSQL); the exact path is compared
    here, per item."""
    folder = path.rsplit("/", 1)[0]
    listed = (
        Message.objects.filter(conversation__customer__user=actor, direction__in=VISIBLE)
        .annotate(media_text=Cast("media", TextField()))
        .filter(media_text__contains=folder)
        .values_list("media", flat=True)
    )
    return any(
        isinstance(item, dict) and item.get("path") == path
        for media in listed
        if isinstance(media, list)
        for item in media
    )


def attachment_may_open(*, actor: User, path: str) -> bool:
    if not actor.is_active:
        return False
    if actor.is_support_staff:
        return True
    return actor.role == Role.CUSTOMER and customer_may_open(actor=actor, path=path)


def _not_found() -> JsonResponse:
    # The same answer for a file that does not exist and one the user may not open.
    return JsonResponse({"code": "not_found", "detail": "No such attachment."}, status=404)


@require_safe
def attachment(request: HttpRequest, rest: str) -> HttpResponseBase:
    user = request.user
    path = _stored_path(rest)
    if path is None or not isinstance(user, User):
        return _not_found()
    if not attachment_may_open(actor=user, path=path):
        return _not_found()
    try:
        handle = default_storage.open(path, "rb")
    except (OSError, SuspiciousFileOperation):
        return _not_found()
    name = PurePosixPath(path).name
    content_type = media_type_of_name(name)
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=name.partition("-")[2] or name,
        content_type=content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Opened directly, a file gets no script, plugin or same-origin rights on our origin.
    response["Content-Security-Policy"] = "sandbox"
    response["Vary"] = "Cookie"
    # Only the user's browser may keep it: the answer depends on who asks.
    patch_cache_control(response, private=True, max_age=3600)
    return response
