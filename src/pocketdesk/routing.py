"""Websocket routes (served by the ASGI process under /ws/)."""

from django.urls import path

from pocketdesk.web.consumers import EventsConsumer, PingConsumer

websocket_urlpatterns = [
    path("ws/ping", PingConsumer.as_asgi()),
    path("ws/events", EventsConsumer.as_asgi()),
]
