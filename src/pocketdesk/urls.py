from django.contrib import admin
from django.urls import include, path

from pocketdesk.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("pocketdesk.messaging.urls")),
    path("", include("pocketdesk.conversations.urls")),
    path("", include("pocketdesk.links.urls")),
    path("", include("pocketdesk.notifications.urls")),
    path("", include("pocketdesk.links.urls_public")),
    path("", include("pocketdesk.web.urls")),
]
