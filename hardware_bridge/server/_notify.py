"""Live events across server processes that share one PostgreSQL database: LISTEN/NOTIFY.

Each process publishes what its uploads produce on the channel ``smartpower_events`` and hands
what the others publish to its own event-stream subscribers, so a client streaming from one
process hears a terminal that uploaded to another. A notification carries at most about 8 kB:
events are packed into as few notifications as fit, and an event larger than one is left to
the clients' poll of ``latest``. Event ids are each process's own, so a reconnect with
``Last-Event-ID`` to another process replays nothing (the client then reads ``latest``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

import asyncpg

from hardware_bridge.server._events import EventHub

__all__ = ["CHANNEL", "PostgresNotifier"]

_LOGGER = logging.getLogger(__name__)

CHANNEL = "smartpower_events"
_MAX_PAYLOAD = 7000
"""PostgreSQL's limit is 8000 bytes; leave room for the envelope."""

type Item = tuple[str, str, str]


class PostgresNotifier:
    def __init__(self, url: str, hub: EventHub) -> None:
        self._url = url
        self._hub = hub
        self._origin = secrets.token_hex(8)
        self._listen: Any = None
        self._send: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._listen = await asyncpg.connect(self._url)
        await self._listen.add_listener(CHANNEL, self._received)
        self._send = await asyncpg.connect(self._url)

    async def close(self) -> None:
        for connection in (self._listen, self._send):
            if connection is not None:
                await connection.close()
        self._listen = self._send = None

    def _payloads(self, items: list[Item]) -> list[str]:
        payloads: list[str] = []
        chunk: list[Item] = []
        size = 0
        for item in items:
            length = sum(len(part.encode("utf-8")) for part in item) + 16
            if length > _MAX_PAYLOAD:
                continue
            if chunk and size + length > _MAX_PAYLOAD:
                payloads.append(json.dumps({"o": self._origin, "e": chunk}))
                chunk, size = [], 0
            chunk.append(item)
            size += length
        if chunk:
            payloads.append(json.dumps({"o": self._origin, "e": chunk}))
        return payloads

    async def send(self, items: list[Item]) -> None:
        if self._send is None or not items:
            return
        async with self._lock:
            try:
                for payload in self._payloads(items):
                    await self._send.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                # the values are stored; other processes' clients see them on their next poll
                _LOGGER.warning("could not notify other server processes: %s", err)

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("o") == self._origin:
                return
            for modem_no, event, data in message["e"]:
                self._hub.publish(str(modem_no), str(event), str(data))
        except (ValueError, KeyError, TypeError):
            _LOGGER.warning("ignored a malformed notification on %s", CHANNEL)
