"""Channels in the admin: names, switches and API bases are editable; secrets are never shown.
New channels are made with `pocketdesk channels add …` or `POST /api/v1/channels`, which check
their credentials; stored events and the outbox are read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pocketdesk.messaging.models import Channel, InboundEvent, Outbound


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "address", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    fields = ["public_id", "kind", "address", "name", "api_base", "is_active", "created_at"]
    readonly_fields = ["public_id", "kind", "address", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "channel", "kind", "provider_event_id", "state"]
    list_filter = ["state", "kind"]
    search_fields = ["provider_event_id"]


@admin.register(Outbound)
class OutboundAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "recipient", "status", "attempts", "error_code"]
    list_filter = ["status"]
    search_fields = ["public_id", "provider_id", "recipient"]
    exclude = ["extra"]
