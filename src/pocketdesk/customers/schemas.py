from datetime import datetime, time
from typing import Any

from ninja import Schema
from pydantic import Field, model_validator


class SendWindowIn(Schema):
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    starts_at: time
    ends_at: time

    @model_validator(mode="after")
    def _ends_after_start(self) -> "SendWindowIn":
        if self.ends_at <= self.starts_at:
            raise ValueError("a send window must end after it starts")
        return self


class SendWindowOut(Schema):
    weekday: int
    starts_at: time
    ends_at: time


class ContactPointOut(Schema):
    id: str = Field(alias="public_id")
    kind: str
    value: str
    verified: bool
    created_at: datetime


class ContactPointIn(Schema):
    kind: str
    value: str = Field(min_length=1, max_length=500)


class PushKeysIn(Schema):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class PushSubscriptionIn(Schema):
    """A browser's `PushSubscription.toJSON()`, as `pushManager.subscribe()` gave it."""

    endpoint: str = Field(max_length=2000)
    keys: PushKeysIn


class PushSubscriptionRemoveIn(Schema):
    endpoint: str = Field(max_length=2000)


class PushKeyOut(Schema):
    public_key: str = Field(description="applicationServerKey for pushManager.subscribe()")


class ConsentOut(Schema):
    purpose: str
    granted: bool
    changed_at: datetime
    source: str


class ConsentIn(Schema):
    purpose: str
    granted: bool


class CustomerOut(Schema):
    id: str = Field(alias="public_id")
    name: str
    language: str
    time_zone: str
    channel_ranking: list[str]
    is_lead: bool
    created_at: datetime


class CustomerDetailOut(CustomerOut):
    contact_points: list[ContactPointOut]
    consents: list[ConsentOut]
    send_windows: list[SendWindowOut]

    @staticmethod
    def resolve_contact_points(obj: Any) -> list[Any]:
        return list(obj.contact_points.all())

    @staticmethod
    def resolve_consents(obj: Any) -> list[Any]:
        return list(obj.consents.all())

    @staticmethod
    def resolve_send_windows(obj: Any) -> list[Any]:
        return list(obj.send_windows.all())


class PreferencesIn(Schema):
    language: str | None = None
    time_zone: str | None = None
    channel_ranking: list[str] | None = None
    send_windows: list[SendWindowIn] | None = None


class VerifyIn(Schema):
    code: str = Field(min_length=4, max_length=12)


class TimelineEntryOut(Schema):
    id: str = Field(alias="public_id")
    at: datetime
    kind: str
    source: str
    summary: str
    data: dict[str, Any]


class MergeIn(Schema):
    source: str = Field(description="public id of the customer folded into this one")


class CustomerCreateIn(Schema):
    name: str = Field(max_length=200)
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    time_zone: str = "UTC"
