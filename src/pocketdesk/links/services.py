"""Link writes (staff only): create, retarget, edit, rules. Every write drops the redirect cache."""

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from pocketdesk.accounts.models import STAFF_ROLES, User
from pocketdesk.core import clock
from pocketdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from pocketdesk.core.services import audit_record
from pocketdesk.links.cache import link_cache
from pocketdesk.links.models import Link, LinkRule
from pocketdesk.links.rules import conditions_check

# No 0/O, 1/l/I: codes get typed from paper.
CODE_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 7
CUSTOM_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")
MAX_RULES = 20


def _require_staff(actor: User | None) -> None:
    """Staff, or None: the system itself (the local `pocketdesk links` CLI)."""
    if actor is not None and actor.role not in STAFF_ROLES:
        raise PermissionDenied("Only staff manage links.")


def target_check(url: str, *, field: str = "target_url") -> str:
    """An absolute http(s) URL, on an allowed domain when PD_LINK_DOMAINS is set."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationFailed("The target is not a URL.", field=field) from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed(
            "The target must be an absolute http(s) URL.", field=field, code="invalid_target"
        )
    if len(url) > 2000:
        raise ValidationFailed("The target is longer than 2000 characters.", field=field)
    allowed: Sequence[str] = settings.PD_LINK_DOMAINS
    host = parts.hostname.lower()
    if allowed and not any(host == d or host.endswith("." + d) for d in allowed):
        raise ValidationFailed(
            f"{host} is not an allowed target domain.", field=field, code="target_not_allowed"
        )
    return url


def _validity_check(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationFailed("valid_until must be after valid_from.", field="valid_until")


def _rules_check(rules: Sequence[Mapping[str, Any]]) -> list[tuple[list[dict[str, Any]], str]]:
    if len(rules) > MAX_RULES:
        raise ValidationFailed(f"At most {MAX_RULES} rules per link.", field="rules")
    return [
        (
            conditions_check(index, rule.get("conditions")),
            target_check(str(rule.get("target_url", "")), field=f"rules[{index}].target_url"),
        )
        for index, rule in enumerate(rules)
    ]


def _code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def link_create(
    *,
    actor: User | None,
    target_url: str,
    code: str | None = None,
    title: str = "",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    max_visits: int | None = None,
    expired_message: str = "",
    rules: Sequence[Mapping[str, Any]] = (),
) -> Link:
    _require_staff(actor)
    target = target_check(target_url)
    _validity_check(valid_from, valid_until)
    checked_rules = _rules_check(rules)
    if code is not None and not CUSTOM_CODE.match(code):
        raise ValidationFailed(
            "A code is 3 to 32 letters, digits, '-' or '_'.", field="code", code="invalid_code"
        )
    if max_visits is not None and max_visits < 1:
        raise ValidationFailed("max_visits is at least 1.", field="max_visits")
    now = clock.now()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                link = Link.objects.create(
                    code=code or _code_new(),
                    title=title[:200],
                    target_url=target,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    max_visits=max_visits,
                    expired_message=expired_message[:500],
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
                LinkRule.objects.bulk_create(
                    LinkRule(link=link, priority=i, conditions=c, target_url=t)
                    for i, (c, t) in enumerate(checked_rules)
                )
                audit_record(
                    actor=actor, action="link.created", target=link, data={"target": target}
                )
                link_cache.invalidate_on_commit()
                return link
        except IntegrityError as exc:
            if code is not None:
                raise Conflict(f"The code {code!r} is taken.", code="code_taken") from exc
    raise Conflict("Could not find a free code; try again.", code="code_exhausted")


def link_update(
    *,
    actor: User | None,
    link: Link,
    target_url: str | None = None,
    title: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    max_visits: int | None = None,
    expired_message: str | None = None,
    is_active: bool | None = None,
    rules: Sequence[Mapping[str, Any]] | None = None,
    fields_set: frozenset[str] = frozenset(),
) -> Link:
    """Change what the printed code does. `fields_set` names nullable fields to overwrite
    (so `valid_until: null` clears it)."""
    _require_staff(actor)
    changes: dict[str, Any] = {}
    if target_url is not None:
        changes["target_url"] = target_check(target_url)
    if title is not None:
        changes["title"] = title[:200]
    if expired_message is not None:
        changes["expired_message"] = expired_message[:500]
    if is_active is not None:
        changes["is_active"] = is_active
    for name, value in (
        ("valid_from", valid_from),
        ("valid_until", valid_until),
        ("max_visits", max_visits),
    ):
        if value is not None or name in fields_set:
            changes[name] = value
    if changes.get("max_visits") is not None and changes["max_visits"] < 1:
        raise ValidationFailed("max_visits is at least 1.", field="max_visits")
    _validity_check(
        changes.get("valid_from", link.valid_from), changes.get("valid_until", link.valid_until)
    )
    checked_rules = _rules_check(rules) if rules is not None else None
    with transaction.atomic():
        link = Link.objects.select_for_update().get(pk=link.pk)
        before = link.target_url
        for name, value in changes.items():
            setattr(link, name, value)
        link.updated_at = clock.now()
        link.save()
        if checked_rules is not None:
            link.rules.all().delete()
            LinkRule.objects.bulk_create(
                LinkRule(link=link, priority=i, conditions=c, target_url=t)
                for i, (c, t) in enumerate(checked_rules)
            )
        audit_record(
            actor=actor,
            action="link.updated",
            target=link,
            data={
                "changed": sorted(changes) + (["rules"] if checked_rules is not None else []),
                "target_before": before,
                "target_after": link.target_url,
            },
        )
        link_cache.invalidate_on_commit()
    return link


def link_retarget(*, actor: User | None, link: Link, target_url: str) -> Link:
    return link_update(actor=actor, link=link, target_url=target_url)
