"""Files customers send us (e-mail attachments, MMS, WhatsApp media): which types and sizes we
keep, fetching them from a provider, and storing them where only the right people can open them.

A kept file lives in the default storage under ``attachments/<keyed hash>/<n>-<name>`` and is
listed in Message.media as ``{"url", "path", "name", "content_type", "size"}``; "url" is the
attachment view (conversations), which checks who asks, never the storage's own URL. A file
that is not kept is listed without "url": ``"too_large"``, ``"blocked"`` (a type we refuse) or
``"unavailable"`` (the provider could not be reached)."""

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils.text import get_valid_filename

logger = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 10 * 1024 * 1024
FOLDER = "attachments"
# The conversations route that serves a kept file (it checks who asks).
ATTACHMENT_ROUTE = "conversations:attachment"
# Per network operation, and for the whole download: a provider that drips bytes is given up on.
FETCH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
FETCH_DEADLINE_SECONDS = 20.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024

# The types we keep, each with its file extensions; a kept file gets the first unless its own
# name already has one of them, so it is never served as something else (HTML, a script).
# SVG is left out on purpose: an image that runs scripts when opened from our origin.
TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "image/heic": (".heic",),
    "image/heif": (".heif",),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text", ".log"),
    "text/csv": (".csv",),
    "application/rtf": (".rtf",),
    "application/msword": (".doc",),
    "application/vnd.ms-excel": (".xls",),
    "application/vnd.ms-powerpoint": (".ppt",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (".pptx",),
    "application/vnd.oasis.opendocument.text": (".odt",),
    "application/vnd.oasis.opendocument.spreadsheet": (".ods",),
    "application/vnd.oasis.opendocument.presentation": (".odp",),
    # Voice notes: WhatsApp (ogg/opus, aac, amr, mp4), MMS (amr, mpeg), iPhones (m4a).
    "audio/ogg": (".ogg", ".oga", ".opus"),
    "audio/mpeg": (".mp3", ".mpga"),
    "audio/amr": (".amr",),
    "audio/aac": (".aac",),
    "audio/mp4": (".m4a",),
    "video/mp4": (".mp4", ".m4v"),
    "video/3gpp": (".3gp",),
}
# Other names providers and mail clients use for the same types.
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/x-aac": "audio/aac",
    "text/rtf": "application/rtf",
}
EXTENSION_TYPES = {ext: kind for kind, extensions in TYPES.items() for ext in extensions}
# Shown in the browser; anything else is downloaded.
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif"}
    | {"application/pdf"}
)
# A response of these types says nothing about the file: the provider's declared type decides.
OPAQUE_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
FILENAME = re.compile(r"""filename\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


def media_type(content_type: str) -> str | None:
    """The allowed type named by a Content-Type value (parameters and aliases folded), or None
    when we do not keep it."""
    clean = content_type_clean(content_type)
    clean = ALIASES.get(clean, clean)
    return clean if clean in TYPES else None


def content_type_clean(content_type: str) -> str:
    """ "Audio/OGG; codecs=opus" → "audio/ogg"."""
    return content_type.split(";", 1)[0].strip().lower()


def media_type_of_name(name: str) -> str | None:
    """The allowed type a file name's extension stands for, or None."""
    return EXTENSION_TYPES.get(PurePosixPath(name).suffix.lower())


def media_kind(media: Sequence[Mapping[str, Any]]) -> str:
    """A message kind for items sent without text: image, audio or video when all are, else
    file."""
    types = [str(item.get("content_type") or "") for item in media]
    for kind in ("image", "audio", "video"):
        if types and all(t.startswith(f"{kind}/") for t in types):
            return kind
    return "file"


def _file_name(name: str, content_type: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    try:
        safe = get_valid_filename(base)[:80].lstrip(".")
    except SuspiciousFileOperation:  # nothing usable left, e.g. ".."
        safe = ""
    safe = safe or "attachment"
    extensions = TYPES[content_type]
    if PurePosixPath(safe).suffix.lower() not in extensions:
        safe = f"{PurePosixPath(safe).stem or 'attachment'}{extensions[0]}"
    return safe


def _same_bytes(path: str, data: bytes) -> bool:
    digest = hashlib.sha256()
    with default_storage.open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return hmac.compare_digest(digest.digest(), hashlib.sha256(data).digest())


def attachment_url(path: str) -> str:
    """The URL of the view that serves a kept file (`path` as stored, under attachments/)."""
    return reverse(ATTACHMENT_ROUTE, kwargs={"rest": path.removeprefix(f"{FOLDER}/")})


def media_store(
    *, data: bytes, name: str, content_type: str, key: str, index: int = 0
) -> dict[str, Any]:
    """Keep one file (if its type is allowed and it is at most 10 MB) and return its media item.

    The path is fixed by `key` (the provider's message id) and `index`, so a re-run of the same
    event reuses the file it stored before; the folder is keyed with SECRET_KEY because provider
    ids are no secret (every recipient of an e-mail sees its Message-ID). A file already at that
    path with other bytes is never reused: the new one gets a path of its own, so a sender who
    reuses someone else's id cannot make their message point at that person's file."""
    kind = media_type(content_type)
    item: dict[str, Any] = {
        "name": name or "attachment",
        "content_type": kind or content_type_clean(content_type),
        "size": len(data),
    }
    if len(data) > MAX_MEDIA_BYTES:
        item["too_large"] = True
        return item
    if kind is None:
        item["blocked"] = True
        return item
    folder_key = hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256)
    path = f"{FOLDER}/{folder_key.hexdigest()[:32]}/{index}-{_file_name(name, kind)}"
    if not (default_storage.exists(path) and _same_bytes(path, data)):
        path = default_storage.save(path, ContentFile(data))
    item["path"] = path
    item["url"] = attachment_url(path)
    return item


@dataclass(frozen=True)
class FetchedMedia:
    """A file downloaded from a provider, of an allowed type and within the size limit."""

    data: bytes
    content_type: str
    name: str  # from Content-Disposition, "" when the provider gave none


def _is_http(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return parsed.scheme in {"http", "https"} and bool(parsed.host)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def media_unavailable(reason: str) -> dict[str, Any]:
    """The item for a file the provider did not give us (the caller adds its reference)."""
    return {"unavailable": True, "error": reason[:200]}


def media_fetch(
    url: str,
    *,
    auth: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_MEDIA_BYTES,
    content_type: str = "",
) -> FetchedMedia | dict[str, Any]:
    """Download a provider's file, or say why not as a media item without "url".

    Only http(s) URLs are fetched, redirects too (followed here, at most MAX_REDIRECTS, and the
    credentials go only to the first URL's origin). The response's Content-Type decides the type
    (`content_type`, the provider's declared one, when the response's says nothing): a type we
    do not keep is `blocked` unread; a body past `max_bytes` is `too_large`, and reading stops
    there. Network trouble, an error status or a download slower than FETCH_DEADLINE_SECONDS is
    `unavailable`; this never raises for any of them."""
    if not _is_http(url):
        return {"blocked": True, "error": "not an http(s) URL"}
    deadline = time.monotonic() + FETCH_DEADLINE_SECONDS
    first = httpx.URL(url)
    current = first
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                same_origin = _origin(current) == _origin(first)
                with client.stream(
                    "GET",
                    current,
                    auth=auth if same_origin else None,
                    headers=dict(headers or {}) if same_origin else None,
                ) as response:
                    if response.is_redirect:
                        location = response.headers.get("Location", "")
                        target = str(current.join(location)) if location else ""
                        if not _is_http(target):
                            return {"blocked": True, "error": "redirect to a non-http(s) URL"}
                        current = httpx.URL(target)
                        continue
                    return _read(response, max_bytes, content_type, deadline)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        logger.info("messaging.media.fetch_failed", extra={"error": type(exc).__name__})
        return media_unavailable(f"{type(exc).__name__}: {exc}")
    return media_unavailable("too many redirects")


def _read(
    response: httpx.Response, max_bytes: int, declared: str, deadline: float
) -> FetchedMedia | dict[str, Any]:
    if response.status_code != 200:
        return media_unavailable(f"HTTP {response.status_code}")
    given = content_type_clean(response.headers.get("Content-Type", ""))
    if given in OPAQUE_TYPES:
        given = content_type_clean(declared)
    kind = media_type(given)
    if kind is None:
        return {"content_type": given, "blocked": True}
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        return {"content_type": kind, "size": int(length), "too_large": True}
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes(CHUNK_BYTES):
        total += len(chunk)
        if total > max_bytes:
            return {"content_type": kind, "too_large": True}
        if time.monotonic() > deadline:
            return media_unavailable("the download took too long")
        chunks.append(chunk)
    found = FILENAME.search(response.headers.get("Content-Disposition", ""))
    name = found.group(1).strip() if found else ""
    return FetchedMedia(data=b"".join(chunks), content_type=kind, name=name)
