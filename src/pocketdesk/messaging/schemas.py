"""Channel API schemas. Credentials go in, never out."""

from datetime import datetime

from ninja import Field, Schema


class ChannelIn(Schema):
    kind: str = Field(description="twilio_sms, whatsapp, messenger, instagram, email, social, …")
    name: str = Field(min_length=1, max_length=100)
    address: str = Field(
        default="",
        description="E.164 number, phone_number_id / page id, mailbox, @handle: per kind",
    )
    credentials: dict[str, str] = Field(default_factory=dict)
    api_base: str = ""


class ChannelPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    is_active: bool | None = None
    api_base: str | None = None


class ChannelOut(Schema):
    id: str = Field(alias="public_id")
    kind: str
    name: str
    address: str
    api_base: str
    is_active: bool
    created_at: datetime
