"""The SQLite-file channel layer: Channels' layer contract, across two layer instances
(as two processes would hold)."""

import asyncio
import os

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull

from pocketdesk.core.channel_layer import SQLiteChannelLayer


@pytest.fixture
def layers(tmp_path):
    path = str(tmp_path / "channels.sqlite3")
    return SQLiteChannelLayer(path, capacity=3), SQLiteChannelLayer(path, capacity=3)


def test_send_then_receive_in_another_instance(layers):
    sender, receiver = layers

    async def scenario():
        channel = await receiver.new_channel()
        await sender.send(channel, {"type": "hello", "body": b"\x00bytes", "n": 1})
        return await asyncio.wait_for(receiver.receive(channel), 5)

    assert async_to_sync(scenario)() == {"type": "hello", "body": b"\x00bytes", "n": 1}


def test_messages_arrive_once_and_in_order(layers):
    sender, receiver = layers

    async def scenario():
        channel = await receiver.new_channel()
        for n in range(3):
            await sender.send(channel, {"type": "m", "n": n})
        got = [await asyncio.wait_for(receiver.receive(channel), 5) for _ in range(3)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(receiver.receive(channel), 0.3)
        return [m["n"] for m in got]

    assert async_to_sync(scenario)() == [0, 1, 2]


def test_group_send_reaches_members_only(layers):
    sender, receiver = layers

    async def scenario():
        member, leaver, stranger = [await receiver.new_channel() for _ in range(3)]
        await receiver.group_add("room", member)
        await receiver.group_add("room", leaver)
        await receiver.group_discard("room", leaver)
        await sender.group_send("room", {"type": "news"})
        got = await asyncio.wait_for(receiver.receive(member), 5)
        for silent in (leaver, stranger):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(receiver.receive(silent), 0.3)
        return got

    assert async_to_sync(scenario)() == {"type": "news"}


def test_full_channel_raises(layers):
    sender, receiver = layers

    async def scenario():
        channel = await receiver.new_channel()
        for n in range(3):
            await sender.send(channel, {"type": "m", "n": n})
        with pytest.raises(ChannelFull):
            await sender.send(channel, {"type": "m", "n": 3})

    async_to_sync(scenario)()


def test_expired_messages_are_not_delivered(tmp_path):
    path = str(tmp_path / "channels.sqlite3")
    sender = SQLiteChannelLayer(path, expiry=0)
    receiver = SQLiteChannelLayer(path)

    async def scenario():
        channel = await receiver.new_channel()
        await sender.send(channel, {"type": "stale"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(receiver.receive(channel), 0.3)

    async_to_sync(scenario)()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis layer needs REDIS_URL")
def test_an_idle_receiver_on_the_redis_layer_outlives_its_blocking_poll(settings):
    """channels-redis blocks 5 s per poll; redis-py's default 5 s socket timeout used to end
    every idle websocket consumer after about 5 s with a TimeoutError."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def idle_then_receive() -> dict:
        channel = await layer.new_channel()

        async def later() -> None:
            await asyncio.sleep(6.5)
            await layer.send(channel, {"type": "late.hello"})

        sender = asyncio.ensure_future(later())
        message = await asyncio.wait_for(layer.receive(channel), 15)
        await sender
        return message

    assert asyncio.run(idle_then_receive()) == {"type": "late.hello"}
