from django.urls import path  # noqa: F401 - patterns are added below

app_name = "conversations"

urlpatterns: list = []
