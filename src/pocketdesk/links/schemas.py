from datetime import date, datetime
from typing import Any

from django.conf import settings
from ninja import Schema
from pydantic import Field


class RuleIn(Schema):
    target_url: str
    conditions: list[dict[str, Any]]


class RuleOut(Schema):
    target_url: str
    conditions: list[dict[str, Any]]


class LinkIn(Schema):
    target_url: str
    code: str | None = None
    title: str = Field(default="", max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_visits: int | None = None
    expired_message: str = Field(default="", max_length=500)
    rules: list[RuleIn] = []


class LinkPatch(Schema):
    target_url: str | None = None
    title: str | None = Field(default=None, max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_visits: int | None = None
    expired_message: str | None = Field(default=None, max_length=500)
    is_active: bool | None = None
    rules: list[RuleIn] | None = None


class LinkOut(Schema):
    id: str = Field(alias="public_id")
    code: str
    short_url: str
    title: str
    target_url: str
    valid_from: datetime | None
    valid_until: datetime | None
    max_visits: int | None
    visit_count: int
    expired_message: str
    is_active: bool
    rules: list[RuleOut]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_short_url(obj: Any) -> str:
        return f"{settings.PD_PUBLIC_URL}/q/{obj.code}"

    @staticmethod
    def resolve_rules(obj: Any) -> list[Any]:
        return list(obj.rules.all())


class DayCount(Schema):
    day: date
    visits: int


class Breakdown(Schema):
    value: str
    visits: int


class LinkStatsOut(Schema):
    total: int
    bots: int
    refused: int
    days: list[DayCount]
    devices: list[Breakdown]
    languages: list[Breakdown]
    referrers: list[Breakdown]
