"""Events, subscriptions and notifications in the admin (built through the API and services)."""

from django.contrib import admin

from pocketdesk.notifications.models import Event, Notification, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["topic", "customer", "created_at"]
    search_fields = ["topic"]
    raw_id_fields = ["customer"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["public_id", "type", "subject", "state", "recipients", "received_at"]
    list_filter = ["type", "state", "critical"]
    search_fields = ["public_id", "source_id", "subject"]
    raw_id_fields = ["created_by"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["public_id", "event", "customer", "channel_kind", "status", "deliver_after"]
    list_filter = ["status", "channel_kind"]
    search_fields = ["public_id"]
    raw_id_fields = ["event", "customer", "workflow", "digest_into"]
