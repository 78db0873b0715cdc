from django.urls import path

from pocketdesk.notifications import console_views, views

app_name = "notifications"

# The customer's bell in the app.
urlpatterns = [
    path("app/notifications/", views.notification_list, name="app-list"),
    path(
        "app/notifications/<str:public_id>/read/",
        views.notification_mark_read,
        name="app-read",
    ),
    # The customer's reminders.
    path("app/reminders/", views.reminder_list, name="app-reminders"),
    path(
        "app/reminders/<str:public_id>/reading/",
        views.reminder_reading,
        name="app-reminder-reading",
    ),
    path(
        "app/reminders/<str:public_id>/delete/",
        views.reminder_remove,
        name="app-reminder-delete",
    ),
    # Staff: notification settings and broadcasts (console_views).
    path("console/notifications/", console_views.workflows, name="console-workflows"),
    path(
        "console/notifications/workflows/<str:workflow_id>/",
        console_views.workflow_edit,
        name="console-workflow",
    ),
    path("console/notifications/rules/", console_views.rules, name="console-rules"),
    path(
        "console/notifications/rules/condition/",
        console_views.rule_condition,
        name="console-rule-condition",
    ),
    path(
        "console/notifications/rules/<str:rule_id>/",
        console_views.rule_edit,
        name="console-rule",
    ),
    path("console/notifications/templates/", console_views.templates, name="console-templates"),
    path(
        "console/notifications/templates/preview/",
        console_views.template_preview,
        name="console-template-preview",
    ),
    path(
        "console/notifications/templates/<int:template_id>/",
        console_views.template_edit,
        name="console-template",
    ),
    path("console/notifications/segments/", console_views.segments, name="console-segments"),
    path(
        "console/notifications/segments/<str:segment_id>/",
        console_views.segment_edit,
        name="console-segment",
    ),
    path(
        "console/notifications/segments/<str:segment_id>/count/",
        console_views.segment_count,
        name="console-segment-count",
    ),
    path(
        "console/notifications/broadcasts/",
        console_views.broadcasts,
        name="console-broadcasts",
    ),
    path(
        "console/notifications/broadcasts/preview/",
        console_views.broadcast_preview,
        name="console-broadcast-preview",
    ),
]
