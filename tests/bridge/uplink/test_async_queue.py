"""The async face of the queue: every SQLite call in one worker thread, none on the loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_bridge.uplink import AsyncReadingQueue, Record, SeqRange, StorageError

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_calls_run_in_order_in_one_worker_thread(tmp_path: Path) -> None:
    threads: set[str] = set()

    def clock() -> datetime:  # the queue asks its clock inside its transactions
        threads.add(threading.current_thread().name)
        return T0

    queue = await AsyncReadingQueue.open(tmp_path / "queue.sqlite3", clock=clock)
    try:
        records = [
            Record(device="m", key="p", value=n, unit="W", time=T0 + timedelta(seconds=n))
            for n in range(20)
        ]
        ranges = await asyncio.gather(*(queue.append([record]) for record in records))
        assert ranges == [SeqRange(n, n) for n in range(1, 21)]
        batch = await queue.next_batch(max_records=50)
        assert batch is not None
        assert [q.item for q in batch.records] == records
        assert await queue.acknowledge(batch.last_seq) == 20
        assert (await queue.stats()).pending == 0
        page = await queue.history(T0, T0 + timedelta(minutes=1), limit=5)
        assert [q.seq for q in page.records] == [1, 2, 3, 4, 5]
        assert await queue.prune() == 0
    finally:
        await queue.close()
    assert len(threads) == 1
    assert threads != {threading.current_thread().name}


async def test_opening_errors_reach_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    path.write_bytes(b"not a database" * 200)
    with pytest.raises(StorageError, match="file is not a database"):
        await AsyncReadingQueue.open(path)
