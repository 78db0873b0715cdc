"""Notification API schemas."""

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class EventIn(Schema):
    type: str = Field(max_length=100)
    source_id: str = Field(min_length=1, max_length=200)
    subject: dict[str, Any]
    payload: dict[str, Any] = Field(default_factory=dict)
    critical: bool = False


class EventOut(Schema):
    id: str
    type: str
    source_id: str
    subject_kind: str
    subject: str
    payload: dict[str, Any]
    critical: bool
    state: str
    recipients: int
    received_at: datetime
    counts: dict[str, int]


class SubscriptionIn(Schema):
    customer: str
    topic: str


class MySubscriptionIn(Schema):
    topic: str


class SubscriptionOut(Schema):
    customer: str
    topic: str
    created_at: datetime


class NotificationOut(Schema):
    id: str
    type: str
    text: str
    channel: str
    status: str
    critical: bool
    created_at: datetime
    read_at: datetime | None
