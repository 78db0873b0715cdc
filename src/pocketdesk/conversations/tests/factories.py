"""Inbox test state, built through the real services: an SMS channel, customers writing in,
agents who are available; and a listener on the real channel layer to see what is pushed."""

import asyncio
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from pocketdesk.accounts.models import User
from pocketdesk.conversations.models import Message
from pocketdesk.conversations.services.inbox import agent_profile_set
from pocketdesk.conversations.services.messages import message_receive
from pocketdesk.core import clock
from pocketdesk.customers.models import Customer
from pocketdesk.messaging.fake_providers import twilio_sid
from pocketdesk.messaging.handlers import InboundMessage
from pocketdesk.messaging.models import Channel
from pocketdesk.messaging.services import channel_create

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SUPPORT_NUMBER = "+14155550199"


def sms_channel(address: str = SUPPORT_NUMBER) -> Channel:
    return channel_create(
        actor=None,
        kind="twilio_sms",
        name="Support line",
        address=address,
        credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
    )


def customer_says(
    customer: Customer, text: str, *, channel: Channel, at: datetime | None = None
) -> Message:
    """An SMS from the customer's phone, threaded by conversations.message_receive."""
    point = customer.contact_points.get(kind="phone")
    return message_receive(
        InboundMessage(
            channel_id=channel.pk,
            customer_id=customer.pk,
            contact_point_id=point.pk,
            text=text,
            provider_id=twilio_sid("SM"),
            received_at=at or clock.now(),
        )
    )


def available_agent(make_user: Any, *, max_open: int = 10, role: str = "agent") -> User:
    agent = make_user(role)
    agent_profile_set(actor=agent, agent=agent, available=True, max_open=max_open)
    return agent


class Listener:
    """A channel on the configured channel layer, in the given groups (as a websocket would
    be): `drain()` returns the (event, data) pairs pushed to it so far."""

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def drain(self, wait: float = 0.3) -> list[tuple[str, dict[str, Any]]]:
        async def take() -> list[dict[str, Any]]:
            got = []
            while True:
                try:
                    got.append(await asyncio.wait_for(self.layer.receive(self.channel), wait))
                except TimeoutError:
                    return got

        return [(m["event"], m["data"]) for m in async_to_sync(take)()]


def layer_settings(path: str) -> dict[str, Any]:
    """A channel layer of the tests' own (other test runs share the default file)."""
    return {
        "default": {
            "BACKEND": "pocketdesk.core.channel_layer.SQLiteChannelLayer",
            "CONFIG": {"path": path},
        }
    }
