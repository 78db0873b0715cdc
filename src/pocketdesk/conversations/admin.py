"""Admin: teams (business hours, holidays, slot length, seats) and a read-only view of
callbacks. Callbacks are booked and closed through the services, never here."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from pocketdesk.conversations.models import BusinessHours, Callback, Team
from pocketdesk.conversations.services.callback_slots import holiday_check
from pocketdesk.core import clock
from pocketdesk.core.errors import ValidationFailed
from pocketdesk.customers.services import time_zone_check


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = [
            "name",
            "time_zone",
            "holiday_country",
            "holiday_subdivision",
            "slot_minutes",
            "seats",
            "lead_minutes",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            time_zone_check(data.get("time_zone") or "")
            data["holiday_country"], data["holiday_subdivision"] = holiday_check(
                data.get("holiday_country") or "", data.get("holiday_subdivision") or ""
            )
        except ValidationFailed as error:
            raise forms.ValidationError(error.detail) from error
        return data


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "time_zone", "holiday_country", "slot_minutes", "seats"]
    inlines = [BusinessHoursInline]

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        if obj.created_at is None:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ["public_id", "customer", "kind", "starts_at", "status", "agent"]
    list_filter = ["status", "kind", "team"]
    search_fields = ["public_id", "customer__name", "conversation__public_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
