from django.urls import path

from pocketdesk.links import views

app_name = "links"

urlpatterns = [
    path("q/<str:code>", views.scan, name="scan"),
    path("console/links/", views.console_links, name="console-links"),
    path("console/links/<str:code>/", views.console_link, name="console-link"),
    path("console/links/<str:code>/qr.<str:fmt>", views.console_link_qr, name="console-link-qr"),
]
