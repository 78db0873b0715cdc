"""What an inbound message looks like once a channel adapter has parsed and verified it, and the
handlers that take it further. The conversations app registers its handler at start-up: the
messaging layer never imports the apps above it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundMessage:
    channel_id: int
    customer_id: int
    contact_point_id: int
    text: str
    provider_id: str
    received_at: datetime
    media: list[dict[str, Any]] = field(default_factory=list)


InboundHandler = Callable[[InboundMessage], object]
_handlers: dict[str, InboundHandler] = {}


def inbound_handler_register(name: str, handler: InboundHandler) -> None:
    _handlers[name] = handler


def inbound_handlers() -> list[InboundHandler]:
    return list(_handlers.values())
