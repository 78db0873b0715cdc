"""A Channels layer in one SQLite file: carries pushes between the processes of one machine
(WSGI workers, task workers → the websocket process) with no server to run.

It is the embedded default; with REDIS_URL set, channels-redis replaces it (several machines).
Each process polls the file for the channels it is receiving on, in one query per interval,
so idle cost does not grow with the number of open websockets."""

import asyncio
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgpack
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY, channel TEXT NOT NULL, body BLOB NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS message_channel ON message (channel, id);
CREATE TABLE IF NOT EXISTS member (
    grp TEXT NOT NULL, channel TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (grp, channel));
"""
CLEANUP_EVERY = 30.0
TAKE_BATCH = 500


@dataclass
class _LoopState:
    """What one event loop of this process is waiting for."""

    buffers: dict[str, asyncio.Queue[dict[str, Any]]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    poller: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class SQLiteChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(
        self,
        path: str,
        expiry: int = 60,
        group_expiry: int = 86400,
        capacity: int = 100,
        channel_capacity: dict[str, int] | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity)
        self.path = Path(path)
        self.group_expiry = group_expiry
        self.poll_interval = poll_interval
        self.client_prefix = secrets.token_hex(8)
        # One thread owns the sqlite connection: calls never block an event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="channels-sqlite")
        self._local = threading.local()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._last_cleanup = 0.0

    # --- the database, used from the executor thread only ---------------------------------

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._local.conn = conn
        return conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _insert(self, channel: str, body: bytes, now: float) -> None:
        db = self._db()
        (count,) = db.execute(
            "SELECT count(*) FROM message WHERE channel = ? AND expires > ?", (channel, now)
        ).fetchone()
        if count >= self.get_capacity(channel):
            raise ChannelFull(channel)
        db.execute(
            "INSERT INTO message (channel, body, expires) VALUES (?, ?, ?)",
            (channel, body, now + self.expiry),
        )

    def _take(self, channels: list[str], now: float) -> list[tuple[str, bytes]]:
        """Claim the waiting messages of `channels`, oldest first (a DELETE is the claim)."""
        db = self._db()
        taken = []
        for start in range(0, len(channels), TAKE_BATCH):
            batch = channels[start : start + TAKE_BATCH]
            marks = ",".join("?" * len(batch))
            rows = db.execute(
                f"SELECT id, channel, body FROM message WHERE channel IN ({marks}) "  # noqa: S608 - placeholders only
                "AND expires > ? ORDER BY id LIMIT 1000",
                (*batch, now),
            ).fetchall()
            for row_id, channel, body in rows:
                if db.execute("DELETE FROM message WHERE id = ?", (row_id,)).rowcount == 1:
                    taken.append((channel, body))
        if now - self._last_cleanup > CLEANUP_EVERY:
            self._last_cleanup = now
            db.execute("DELETE FROM message WHERE expires <= ?", (now,))
            db.execute("DELETE FROM member WHERE expires <= ?", (now,))
        return taken

    def _group_add(self, group: str, channel: str, now: float) -> None:
        self._db().execute(
            "INSERT INTO member (grp, channel, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (grp, channel) DO UPDATE SET expires = excluded.expires",
            (group, channel, now + self.group_expiry),
        )

    def _group_discard(self, group: str, channel: str) -> None:
        self._db().execute("DELETE FROM member WHERE grp = ? AND channel = ?", (group, channel))

    def _group_send(self, group: str, body: bytes, now: float) -> None:
        self._db().execute(
            "INSERT INTO message (channel, body, expires) "
            "SELECT channel, ?, ? FROM member WHERE grp = ? AND expires > ?",
            (body, now + self.expiry, group, now),
        )

    def _flush(self) -> None:
        db = self._db()
        db.execute("DELETE FROM message")
        db.execute("DELETE FROM member")

    # --- the channel layer API ------------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"  # noqa: S101 - Channels' contract
        self.require_valid_channel_name(channel)
        await self._run(
            self._insert, channel, msgpack.packb(message, use_bin_type=True), time.time()
        )

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        state = self._state()
        buffer = state.buffers.setdefault(channel, asyncio.Queue())
        state.waiting[channel] = state.waiting.get(channel, 0) + 1
        state.wake.set()
        try:
            return await buffer.get()
        finally:
            state.waiting[channel] -= 1
            if state.waiting[channel] == 0:
                del state.waiting[channel]
                if buffer.empty():
                    state.buffers.pop(channel, None)

    async def new_channel(self, prefix: str = "specific") -> str:
        return f"{prefix}.{self.client_prefix}!{secrets.token_hex(12)}"

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._run(self._group_add, group, channel, time.time())

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._run(self._group_discard, group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.require_valid_group_name(group)
        await self._run(
            self._group_send, group, msgpack.packb(message, use_bin_type=True), time.time()
        )

    async def flush(self) -> None:
        await self._run(self._flush)

    # --- polling --------------------------------------------------------------------------

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        if state.poller is None or state.poller.done():
            state.poller = loop.create_task(self._poll(state))
        return state

    async def _poll(self, state: _LoopState) -> None:
        while True:
            if not state.waiting:
                state.wake.clear()
                await state.wake.wait()
                continue
            for channel, body in await self._run(self._take, list(state.waiting), time.time()):
                message = msgpack.unpackb(body, raw=False)
                state.buffers.setdefault(channel, asyncio.Queue()).put_nowait(message)
            await asyncio.sleep(self.poll_interval)
