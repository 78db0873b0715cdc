"""Notification API schemas."""

from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import StrictBool, StrictInt, StrictStr


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


# --- configuration (workflows, rules, templates, segments, broadcasts) -----------------------


class WorkflowIn(Schema):
    key: str = Field(max_length=60)
    name: str = Field(max_length=120)
    steps: Any
    purpose: str = "alerts"
    category: str = "general"
    critical: bool = False
    is_active: bool = True


class WorkflowPatch(Schema):
    name: str | None = Field(default=None, max_length=120)
    steps: Any = None
    purpose: str | None = None
    category: str | None = None
    critical: bool | None = None
    is_active: bool | None = None


class WorkflowOut(Schema):
    id: str
    key: str
    name: str
    purpose: str
    category: str
    critical: bool
    steps: list[dict[str, Any]]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class RuleIn(Schema):
    name: str = Field(max_length=120)
    event_type: str = Field(max_length=100)
    workflow: str = Field(description="the workflow's id or key")
    condition: str = Field(default="", description="CEL over event, payload and customer")
    priority: int = 100
    is_active: bool = True


class RulePatch(Schema):
    name: str | None = Field(default=None, max_length=120)
    event_type: str | None = Field(default=None, max_length=100)
    workflow: str | None = None
    condition: str | None = None
    priority: int | None = None
    is_active: bool | None = None


class RuleOut(Schema):
    id: str
    name: str
    event_type: str
    condition: str
    workflow: str
    priority: int
    is_active: bool
    created_at: datetime
    updated_at: datetime


class TemplateIn(Schema):
    event_type: str = Field(max_length=100)
    channel_kind: str = Field(default="", max_length=12, description='"" for any channel')
    language: str = Field(default="", max_length=8, description='"" for any language')
    subject: str = ""
    body: str


class TemplateOut(Schema):
    id: int
    event_type: str
    channel_kind: str
    language: str
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime


class TemplatePreviewIn(Schema):
    event_type: str = Field(max_length=100)
    channel_kind: str = Field(default="", max_length=12)
    language: str = Field(default="", max_length=8)
    payload: dict[str, Any] = Field(default_factory=dict)
    body: str | None = Field(default=None, description="an unsaved template; none: the stored")
    subject: str = ""


class TemplatePreviewOut(Schema):
    subject: str
    body: str
    segments: int | None
    warning: str


class SegmentIn(Schema):
    key: str = Field(max_length=60)
    name: str = Field(max_length=120)
    filters: Any = Field(default_factory=dict)


class SegmentPatch(Schema):
    name: str | None = Field(default=None, max_length=120)
    filters: Any = None


class SegmentOut(Schema):
    id: str
    key: str
    name: str
    filters: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentCountOut(Schema):
    id: str
    key: str
    count: int


class BroadcastIn(Schema):
    segment: str = Field(description="the segment's id or key")
    source_id: str = Field(min_length=1, max_length=200)
    text: str
    title: str = ""
    workflow: str | None = Field(default=None, description="a workflow's id or key")


# --- reminders -------------------------------------------------------------------------------
# Strict types: "8000" or true for a number is a 422, not a guess.


class ReminderIn(Schema):
    title: StrictStr
    rrule: StrictStr = Field(
        default="", description='RFC 5545, e.g. "FREQ=MONTHLY;INTERVAL=6" (at most hourly)'
    )
    starts_at: datetime | None = Field(
        default=None,
        description="DTSTART; without an offset it is the customer's wall clock (default: now)",
    )
    meter_unit: StrictStr = ""
    meter_every: StrictInt | None = None
    meter_reading: StrictInt | None = Field(default=None, description="the meter now")
    event_type: StrictStr = "maintenance.due"
    payload: dict[str, Any] = Field(default_factory=dict)


class ReminderPatch(Schema):
    title: StrictStr | None = None
    rrule: StrictStr | None = Field(default=None, description='"" or null drops the recurrence')
    starts_at: datetime | None = None
    meter_unit: StrictStr | None = None
    meter_every: StrictInt | None = Field(default=None, description="null drops the meter")
    event_type: StrictStr | None = None
    payload: dict[str, Any] | None = None
    is_active: StrictBool | None = None


class ReadingIn(Schema):
    value: StrictInt
    at: datetime | None = None


class ReminderOut(Schema):
    id: str
    customer: str
    title: str
    event_type: str
    payload: dict[str, Any]
    rrule: str
    starts_at: datetime
    time_zone: str
    meter_unit: str
    meter_every: int | None
    meter_base: int | None
    meter_reading: int | None
    meter_read_at: datetime | None
    meter_remaining: int | None
    next_run_at: datetime | None
    next_run_local: str | None = Field(description="next_run_at on the customer's wall clock")
    fired_count: int
    last_fired_at: datetime | None
    is_active: bool
    created_at: datetime
