"""Channel adapters: one small object per provider kind, registered by kind.

Inbound: a webhook view verifies the request and stores it raw (`services.inbound_event_store`);
the processing task asks the adapter to `parse` the stored event into messages and status
receipts. Outbound: `send` returns the provider's id or raises `SendError`; after a crash that
left a send's outcome unknown, `find_sent` asks the provider whether it already has it. An
adapter that can send many messages over one connection also has `send_many` (BatchSender)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pocketdesk.messaging.models import Channel, InboundEvent, Outbound


@dataclass(frozen=True)
class ParsedMessage:
    """A message from a customer, as the provider described it."""

    # The customers.ChannelKind of the sender's handle (phone, whatsapp, email, …) and the handle.
    sender_kind: str
    sender: str
    provider_id: str
    text: str = ""
    kind: str = "text"
    media: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    subject: str = ""
    sender_name: str = ""
    # "stop" / "start" / "help" when the text is a carrier keyword that changes consent.
    keyword: str | None = None


@dataclass(frozen=True)
class ParsedStatus:
    """A provider receipt for one of our outbound messages."""

    provider_id: str
    status: str  # an Outbound.Status value
    error_code: str = ""
    error_detail: str = ""


Parsed = ParsedMessage | ParsedStatus


class SendError(Exception):
    """The provider refused or could not be reached. `retryable` errors are tried again later
    with backoff; the others fail the outbound message at once."""

    def __init__(self, code: str, detail: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.retryable = code, detail, retryable


class Adapter(Protocol):
    kind: str

    def channel_check(
        self, address: str, credentials: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        """The normalised address and credentials of a new channel; raises ValidationFailed.
        A channel kind that receives webhooks must require the secret that verifies them."""
        ...

    def parse(self, event: InboundEvent) -> list[Parsed]: ...

    def send(self, channel: Channel, outbound: Outbound) -> str:
        """Send and return the provider's id for the message; raises SendError."""
        ...

    def find_sent(self, channel: Channel, outbound: Outbound) -> str | None:
        """The provider id of this outbound message if an earlier, interrupted attempt reached
        the provider; None when it did not (or when the provider cannot tell: then the caller
        sends again, and says so in the adapter's docstring)."""
        ...


@runtime_checkable
class BatchSender(Protocol):
    """Optional for an adapter: the outbox's batch task sends a batch of one channel's messages
    through it (e-mail: one SMTP connection) instead of calling `send` for each."""

    def send_many(
        self, channel: Channel, outbounds: Sequence[Outbound], *, deadline: float | None = None
    ) -> Iterable[str | SendError]:
        """Send in order; one result per message tried: its provider id, or the SendError it
        met (a refusal of one message does not stop the others). A generator that yields each
        result as the message is done lets the outbox write results back as they come (a crash
        then re-sends fewer). After the first message (always sent, so that every batch moves
        on), stops starting new ones once `time.monotonic()` passes `deadline`: the results
        are then fewer, and the messages left out were not sent."""
        ...


_adapters: dict[str, Adapter] = {}


def adapter_register(adapter: Adapter) -> None:
    _adapters[adapter.kind] = adapter


def adapter_for(kind: str) -> Adapter | None:
    return _adapters.get(kind)


def adapter_kinds() -> list[str]:
    return sorted(_adapters)
