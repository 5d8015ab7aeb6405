"""Live events of each modem, handed to its event-stream subscribers in this process.

Each event gets an id that grows within the process; the newest ``backlog`` events of a modem
are kept, so a client that reconnects with ``Last-Event-ID`` gets what it missed while the
process still holds it. A subscriber that does not keep up loses its oldest events (its queue
is bounded) rather than making the uploads that publish them wait.

Only this process's subscribers hear an event; server processes sharing a PostgreSQL database
pass events to each other with ``LISTEN``/``NOTIFY`` (:mod:`hardware_bridge.server._notify`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Iterator

from hardware_bridge.api import SseEvent

__all__ = ["EventHub"]


class EventHub:
    def __init__(self, *, backlog: int = 1000, queue_size: int = 1000) -> None:
        self._ids = itertools.count(1)
        self._backlog = backlog
        self._queue_size = queue_size
        self._recent: dict[str, deque[SseEvent]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[SseEvent | None]]] = {}
        self._closed = False

    def publish(self, modem_no: str, event: str, data: str) -> None:
        item = SseEvent(event=event, data=data, id=str(next(self._ids)))
        self._recent.setdefault(modem_no, deque(maxlen=self._backlog)).append(item)
        for queue in self._subscribers.get(modem_no, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    def close(self) -> None:
        """End every stream (the server stops)."""
        self._closed = True
        for queues in self._subscribers.values():
            for queue in queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    def _missed(self, modem_no: str, last_event_id: str | None) -> list[SseEvent]:
        if last_event_id is None or not last_event_id.isdigit():
            return []
        after = int(last_event_id)
        return [e for e in self._recent.get(modem_no, ()) if e.id is not None and int(e.id) > after]

    def listeners(self, modem_no: str) -> int:
        """How many streams and waits are listening to the modem now."""
        return len(self._subscribers.get(modem_no, ()))

    @contextlib.contextmanager
    def listening(self, modem_no: str) -> Iterator[asyncio.Queue[SseEvent | None]]:
        """A queue that receives the modem's events from now on (``None``: the hub closed);
        registered before the caller looks at the storage, so nothing published in between
        is missed."""
        queue: asyncio.Queue[SseEvent | None] = asyncio.Queue(self._queue_size)
        if self._closed:
            queue.put_nowait(None)
        subscribers = self._subscribers.setdefault(modem_no, set())
        subscribers.add(queue)
        try:
            yield queue
        finally:
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(modem_no, None)

    async def subscribe(self, modem_no: str, last_event_id: str | None) -> AsyncIterator[SseEvent]:
        queue: asyncio.Queue[SseEvent | None] = asyncio.Queue(self._queue_size)
        subscribers = self._subscribers.setdefault(modem_no, set())
        subscribers.add(queue)
        try:
            for item in self._missed(modem_no, last_event_id):
                yield item
            while not self._closed:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(modem_no, None)
