"""The reading queue for asyncio code: every SQLite call runs in one worker thread.

One thread, not a pool: SQLite connections belong to the thread that made them, and a single
writer keeps appends and acknowledgements in the order they were awaited. The event loop only
waits on futures, so a slow fsync never blocks it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from hardware_bridge.uplink._queue import Batch, HistoryPage, QueueStats, ReadingQueue, SeqRange
from hardware_bridge.uplink._records import Record, RecordKind

__all__ = ["AsyncReadingQueue"]


class AsyncReadingQueue:
    """:class:`ReadingQueue` with awaitable methods; open it with :meth:`open`."""

    def __init__(self, executor: ThreadPoolExecutor, queue: ReadingQueue) -> None:
        self._executor = executor
        self._queue = queue

    @classmethod
    async def open(cls, path: Path | str, **options: Any) -> AsyncReadingQueue:
        """Open (or create) the queue at ``path`` in a new worker thread; ``options`` are
        :class:`ReadingQueue`'s keyword arguments."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reading-queue")
        loop = asyncio.get_running_loop()
        try:
            queue = await loop.run_in_executor(
                executor, functools.partial(ReadingQueue, path, **options)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, queue)

    @property
    def path(self) -> Path:
        return self._queue.path

    async def _run[T](self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))

    async def append(self, records: Sequence[Record]) -> SeqRange:
        return await self._run(self._queue.append, tuple(records))

    async def next_batch(
        self, max_records: int = 1000, max_bytes: int | None = None
    ) -> Batch | None:
        return await self._run(self._queue.next_batch, max_records, max_bytes)

    async def acknowledge(self, upto_seq: int) -> int:
        return await self._run(self._queue.acknowledge, upto_seq)

    async def prune(self) -> int:
        return await self._run(self._queue.prune)

    async def history(
        self,
        start: datetime,
        end: datetime,
        *,
        after: int = 0,
        limit: int = 500,
        kinds: frozenset[RecordKind] = frozenset({RecordKind.READING, RecordKind.EVENT}),
    ) -> HistoryPage:
        return await self._run(
            self._queue.history, start, end, after=after, limit=limit, kinds=kinds
        )

    async def alarm_pending(self) -> bool:
        return await self._run(self._queue.alarm_pending)

    async def stats(self) -> QueueStats:
        return await self._run(self._queue.stats)

    async def close(self) -> None:
        """Close the database in its thread, then end the thread."""
        try:
            await self._run(self._queue.close)
        finally:
            self._executor.shutdown(wait=False)
