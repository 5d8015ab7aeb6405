"""Live events across server processes that share one PostgreSQL database: LISTEN/NOTIFY.

Each process publishes what its uploads produce on the channel ``smartpower_events`` and hands
what the others publish to its own event-stream subscribers, so a client streaming from one
process hears a terminal that uploaded to another. A notification carries at most about 8 kB:
events are packed into as few notifications as fit, and an event larger than one is left to
the clients' poll of ``latest``. Event ids are each process's own, so a reconnect with
``Last-Event-ID`` to another process replays nothing (the client then reads ``latest``).

:meth:`PostgresNotifier.send` only queues: one task sends what is queued, everything waiting in
one statement (one transaction). An upload's reply does not wait for the other processes to
be told — every upload of a process used to take turns on the one notifying connection, each
notification its own transaction, so one slow commit held up every upload behind it. What
could not be sent (the database away, or more queued than :data:`MAX_QUEUED`) is dropped with
a warning: the values are stored, and the other processes' clients read them with ``latest``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
from typing import Any

import asyncpg

from hardware_bridge.server._events import EventHub

__all__ = ["CHANNEL", "MAX_QUEUED", "PostgresNotifier"]

_LOGGER = logging.getLogger(__name__)

CHANNEL = "smartpower_events"
_MAX_PAYLOAD = 7000
"""PostgreSQL's limit is 8000 bytes; leave room for the envelope."""
MAX_QUEUED = 10_000
"""Notifications waiting to be sent, at most (about 70 MB); the oldest go beyond."""
_PER_STATEMENT = 500
_SEND = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"
"""Notifications are queued in the order they are made (the array's); PostgreSQL drops a
repeated identical payload within a transaction, which the envelope's counter prevents."""

type Item = tuple[str, str, str]


class PostgresNotifier:
    def __init__(self, url: str, hub: EventHub) -> None:
        self._url = url
        self._hub = hub
        self._origin = secrets.token_hex(8)
        self._counter = 0
        self._listen: Any = None
        self._send: Any = None
        self._queue: collections.deque[str] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0

    async def start(self) -> None:
        self._listen = await asyncpg.connect(self._url)
        await self._listen.add_listener(CHANNEL, self._received)
        self._send = await asyncpg.connect(self._url)
        self._task = asyncio.create_task(self._sender(), name="notify other server processes")

    async def close(self) -> None:
        """Send what is queued (a few seconds at most), then disconnect."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), 5)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for connection in (self._listen, self._send):
            if connection is not None:
                await connection.close()
        self._listen = self._send = None

    async def flush(self) -> None:
        """Wait until everything queued so far has been sent (or dropped)."""
        await self._idle.wait()

    def _envelope(self, chunk: list[Item]) -> str:
        self._counter += 1
        return json.dumps({"o": self._origin, "n": self._counter, "e": chunk})

    def _payloads(self, items: list[Item]) -> list[str]:
        payloads: list[str] = []
        chunk: list[Item] = []
        size = 0
        for item in items:
            length = sum(len(part.encode("utf-8")) for part in item) + 16
            if length > _MAX_PAYLOAD:
                continue
            if chunk and size + length > _MAX_PAYLOAD:
                payloads.append(self._envelope(chunk))
                chunk, size = [], 0
            chunk.append(item)
            size += length
        if chunk:
            payloads.append(self._envelope(chunk))
        return payloads

    async def send(self, items: list[Item]) -> None:
        """Queue the events for the other processes; returns at once."""
        if self._task is None or not items:
            return
        self._queue.extend(self._payloads(items))
        while len(self._queue) > MAX_QUEUED:
            self._queue.popleft()
            self._dropped += 1
        self._idle.clear()
        self._wake.set()

    async def _sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                count = min(len(self._queue), _PER_STATEMENT)
                payloads = [self._queue.popleft() for _ in range(count)]
                try:
                    await self._send.execute(_SEND, CHANNEL, payloads)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                    # the values are stored; other processes' clients see them on their poll
                    _LOGGER.warning("could not notify other server processes: %s", err)
            if self._dropped:
                _LOGGER.warning(
                    "%d notifications to other server processes were dropped: more than %d "
                    "were waiting",
                    self._dropped,
                    MAX_QUEUED,
                )
                self._dropped = 0
            self._idle.set()

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("o") == self._origin:
                return
            for modem_no, event, data in message["e"]:
                self._hub.publish(str(modem_no), str(event), str(data))
        except (ValueError, KeyError, TypeError):
            _LOGGER.warning("ignored a malformed notification on %s", CHANNEL)
