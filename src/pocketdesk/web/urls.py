from django.contrib.auth import views as auth_views
from django.urls import path

from pocketdesk.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.customer_settings, name="settings"),
    path("console/", views.console, name="console"),
    path("console/customers/<str:public_id>/", views.customer_360, name="customer-360"),
    path("field/", views.field, name="field"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("offline/", views.offline, name="offline"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
]
