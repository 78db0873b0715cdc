from datetime import datetime

from ninja import Schema
from pydantic import Field


class ApiTokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None


class ApiTokenOut(Schema):
    id: str = Field(alias="public_id")
    name: str
    kind: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreatedOut(ApiTokenOut):
    secret: str = Field(description="Shown once; store it now.")


class WhoAmIOut(Schema):
    id: str = Field(alias="public_id")
    email: str
    name: str
    role: str
