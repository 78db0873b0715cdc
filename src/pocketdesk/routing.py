"""Websocket routes (served by the ASGI process under /ws/)."""

from django.urls import path

from pocketdesk.web.consumers import PingConsumer

websocket_urlpatterns = [path("ws/ping", PingConsumer.as_asgi())]
