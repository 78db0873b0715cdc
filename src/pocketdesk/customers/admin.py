from django.contrib import admin

from pocketdesk.customers.models import (
    Consent,
    ContactPoint,
    Customer,
    CustomerHabits,
    SendWindow,
    TimelineEntry,
)


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    extra = 0
    readonly_fields = ["public_id", "created_at"]


class SendWindowInline(admin.TabularInline):
    model = SendWindow
    extra = 0


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["public_id", "name", "language", "time_zone", "is_lead", "created_at"]
    search_fields = ["public_id", "name", "contact_points__value"]
    list_filter = ["language", "is_lead"]
    readonly_fields = ["public_id", "created_at", "updated_at", "merged_into"]
    inlines = [ContactPointInline, SendWindowInline, ConsentInline]


@admin.register(TimelineEntry)
class TimelineEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "customer", "kind", "summary"]
    list_filter = ["kind", "source"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(CustomerHabits)
class CustomerHabitsAdmin(admin.ModelAdmin):
    """Learned, not edited: conversations.habits recomputes them."""

    list_display = [
        "customer",
        "preferred_channel",
        "channel_confidence",
        "hours_confidence",
        "computed_at",
    ]
    list_filter = ["preferred_channel"]
    raw_id_fields = ["customer"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
