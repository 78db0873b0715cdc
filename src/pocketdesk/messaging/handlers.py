"""What messaging hands to the apps above it, and their handlers: an inbound message once an
adapter has verified and parsed it, and an outbound message's status change. The apps register
their handlers at start-up (`AppConfig.ready`): the messaging layer never imports them."""

from collections.abc import Callable, Sequence
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
    # text, image, location, interactive, callback_request, mention, …
    kind: str = "text"
    # Kind-specific data: a location's coordinates, the id of a chosen button, ….
    data: dict[str, Any] = field(default_factory=dict)
    # Provider ids this message answers (e-mail In-Reply-To/References, a quoted WhatsApp
    # message): the conversation that holds one of them is the thread to join.
    references: tuple[str, ...] = ()
    subject: str = ""


@dataclass(frozen=True)
class OutboundStatusChange:
    outbound_id: int
    status: str
    previous: str
    error_code: str = ""


# Handlers take a batch (a burst of webhooks is processed together), in arrival order.
InboundHandler = Callable[[Sequence[InboundMessage]], object]
StatusHandler = Callable[[OutboundStatusChange], object]
# A status handler that takes every change of a batch send at once (one call, a few queries,
# instead of one call a row); an app registers either kind, not both.
StatusBatchHandler = Callable[[Sequence[OutboundStatusChange]], object]
_inbound: dict[str, InboundHandler] = {}
_status: dict[str, StatusHandler] = {}
_status_batch: dict[str, StatusBatchHandler] = {}


def inbound_handler_register(name: str, handler: InboundHandler) -> None:
    _inbound[name] = handler


def inbound_handlers() -> list[InboundHandler]:
    return list(_inbound.values())


def status_handler_register(name: str, handler: StatusHandler) -> None:
    _status[name] = handler


def status_handlers() -> list[StatusHandler]:
    return list(_status.values())


def status_batch_handler_register(name: str, handler: StatusBatchHandler) -> None:
    _status_batch[name] = handler


def status_batch_handlers() -> list[StatusBatchHandler]:
    return list(_status_batch.values())
