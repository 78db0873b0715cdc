from django.urls import path

from pocketdesk.notifications import views

app_name = "notifications"

# The customer's bell in the app.
urlpatterns = [
    path("app/notifications/", views.notification_list, name="app-list"),
    path(
        "app/notifications/<str:public_id>/read/",
        views.notification_mark_read,
        name="app-read",
    ),
]
