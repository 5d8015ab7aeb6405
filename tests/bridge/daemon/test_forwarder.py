"""Store-and-forward over an upstream that is down for a simulated day, in accelerated time:
every committed reading arrives exactly once, in order; retries back off exponentially."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_bridge.daemon import Forwarder, OutgoingBatch
from hardware_bridge.daemon.forwarder import UPLOAD_NOW_HOLD
from hardware_bridge.uplink import AsyncReadingQueue, QueueFullError, Record, RecordKind

START = datetime(2026, 6, 1, tzinfo=UTC)
PERIOD = timedelta(minutes=15)
DAY = 86400.0


class VirtualClock:
    """Time moves only when the test advances it; every sleeper wakes at its exact time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.sleeps = 0
        self._slept = asyncio.Event()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + max(seconds, 0.0), next(self._order), future)
        heapq.heappush(self._sleepers, entry)
        self.sleeps += 1
        self._slept.set()
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    async def _idle(self) -> None:
        """Wait (in real time) until the woken task sleeps on this clock again."""
        async with asyncio.timeout(30):
            while not self._sleepers:
                self._slept.clear()
                await self._slept.wait()

    async def asleep_again(self, after: int) -> None:
        """Wait until a task went to sleep on this clock after the ``after``-th sleep."""
        async with asyncio.timeout(30):
            while self.sleeps <= after:
                self._slept.clear()
                await self._slept.wait()

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await self._idle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            future.set_result(None)
            await self._idle()
        self.now = target


class FlakyServer:
    """Down until ``up_at``; keeps records strictly in order and drops repeats, as the server
    does by sequence number; in its first half hour back, every third answer is lost after the
    batch was stored."""

    def __init__(self, clock: VirtualClock, up_at: float) -> None:
        self.clock = clock
        self.up_at = up_at
        self.received: list[int] = []
        self.attempts: list[float] = []
        self.batches = 0

    async def send(self, batch: OutgoingBatch) -> int:
        self.attempts.append(self.clock.now)
        if self.clock.now < self.up_at:
            raise ConnectionError("network is unreachable")
        assert [q.seq for q in batch.records] == list(range(batch.first_seq, batch.last_seq + 1))
        high = self.received[-1] if self.received else 0
        assert batch.first_seq <= high + 1, "a batch skipped sequence numbers"
        self.received.extend(q.seq for q in batch.records if q.seq > high)
        self.batches += 1
        if self.batches % 3 == 0 and self.clock.now < self.up_at + 2 * PERIOD.total_seconds():
            raise TimeoutError("the answer was lost on the way back")
        return batch.last_seq


def _poll(at: datetime, n: int) -> list[Record]:
    return [
        Record(device="analyser", key=f"value_{i}", value=n + i / 10, unit="V", time=at)
        for i in range(8)
    ]


async def test_a_day_without_upstream_then_every_reading_arrives_once_in_order(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    server = FlakyServer(clock, up_at=DAY)
    queue = await AsyncReadingQueue.open(tmp_path / "queue.sqlite3", clock=clock.wall)
    forwarder = Forwarder(
        queue,
        server,
        modem_no="1234567897",
        send_period=PERIOD,
        clock=clock,
        jitter=lambda: 0.5,
        batch_records=100,
    )
    task = asyncio.create_task(forwarder.run())
    committed: list[int] = []
    try:
        polls = 0
        while clock.now < DAY + 4 * PERIOD.total_seconds():
            seqs = await queue.append(_poll(clock.wall(), polls))
            committed.extend(range(seqs.first, seqs.last + 1))
            polls += 1
            if polls == 40:  # an alarm during the outage: it waits for the back-off too
                alarm = Record(
                    device="terminal",
                    key="mains_lost",
                    value=True,
                    unit=None,
                    time=clock.wall(),
                    kind=RecordKind.EVENT,
                    alarm=True,
                )
                seqs = await queue.append([alarm])
                committed.extend(range(seqs.first, seqs.last + 1))
                forwarder.alarm()
            await clock.advance(60.0)  # one poll a minute
        stats = await queue.stats()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await queue.close()

    assert len(committed) > 1440 * 8  # a day of polls
    assert server.received == committed  # each exactly once, in order
    assert stats.pending == 0
    assert forwarder.last_error is None
    # while down: exponential back-off (5 s doubling, 50-100 % jitter), capped at the period
    outage = [t for t in server.attempts if t < DAY]
    gaps = [b - a for a, b in itertools.pairwise(outage)]
    assert gaps[:5] == pytest.approx([3.75, 7.5, 15.0, 30.0, 60.0])
    assert max(gaps) == pytest.approx(0.75 * PERIOD.total_seconds())
    assert len(outage) < 150  # not hammering the server for a day


async def test_upload_now_sends_at_once_and_an_ack_of_nothing_is_a_failure(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    sent: list[OutgoingBatch] = []
    answer = {"ack": None}

    class Server:
        async def send(self, batch: OutgoingBatch) -> int:
            sent.append(batch)
            ack = answer["ack"]
            return batch.last_seq if ack is None else ack

    queue = await AsyncReadingQueue.open(tmp_path / "queue.sqlite3", clock=clock.wall)
    forwarder = Forwarder(
        queue, Server(), modem_no="1234567897", send_period=PERIOD, clock=clock, jitter=lambda: 0
    )
    task = asyncio.create_task(forwarder.run())
    try:
        await clock.advance(1)
        await queue.append(_poll(clock.wall(), 0))
        await clock.advance(60)
        assert sent == []  # the period has not passed
        slept = clock.sleeps
        forwarder.upload_now()
        await clock.asleep_again(slept)
        assert [(b.first_seq, b.last_seq) for b in sent] == [(1, 8)]
        assert sent[0].modem_no == "1234567897"
        assert sent[0].queue_id == (await queue.stats()).queue_id
        answer["ack"] = 0  # the server acknowledged nothing
        await queue.append(_poll(clock.wall(), 1))
        slept = clock.sleeps
        forwarder.upload_now()
        await clock.asleep_again(slept)
        assert forwarder.last_error is not None
        assert "acknowledged nothing" in forwarder.last_error
        assert (await queue.stats()).pending == 8
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await queue.close()


async def test_upload_now_with_nothing_queued_sends_the_next_record(tmp_path: Path) -> None:
    """Asked for right after a start (or between polls), an upload waits for the next record
    instead of passing unseen: a relay command rides back only on the reply to an upload."""
    clock = VirtualClock()
    sent: list[OutgoingBatch] = []

    class Server:
        async def send(self, batch: OutgoingBatch) -> int:
            sent.append(batch)
            return batch.last_seq

    queue = await AsyncReadingQueue.open(tmp_path / "queue.sqlite3", clock=clock.wall)
    forwarder = Forwarder(
        queue, Server(), modem_no="1234567897", send_period=PERIOD, clock=clock, jitter=lambda: 0
    )
    task = asyncio.create_task(forwarder.run())
    try:
        await clock.advance(1)
        slept = clock.sleeps
        forwarder.upload_now()
        await clock.asleep_again(slept)  # it looked, found nothing, and looks again shortly
        await clock.advance(3)
        assert sent == []
        await queue.append(_poll(clock.wall(), 0))  # the first poll, 4 s after the start
        await clock.advance(1)
        assert [(b.first_seq, b.last_seq) for b in sent] == [(1, 8)]

        slept = clock.sleeps
        forwarder.upload_now()  # nothing arrives within the hold: no contact, no spinning
        await clock.asleep_again(slept)
        await clock.advance(UPLOAD_NOW_HOLD + 5)
        await queue.append(_poll(clock.wall(), 1))
        await clock.advance(5)
        assert len(sent) == 1  # the next one waits for the send period
        await clock.advance(PERIOD.total_seconds())
        assert [(b.first_seq, b.last_seq) for b in sent] == [(1, 8), (9, 16)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await queue.close()


async def test_a_full_disk_at_the_acknowledgement_is_retried_not_fatal(tmp_path: Path) -> None:
    clock = VirtualClock()
    sent: list[OutgoingBatch] = []

    class Server:
        async def send(self, batch: OutgoingBatch) -> int:
            sent.append(batch)
            return batch.last_seq

    class FullOnce(AsyncReadingQueue):
        full = True

        async def acknowledge(self, upto_seq: int) -> int:
            if self.full:
                self.full = False
                raise QueueFullError(self.path, "database or disk is full")
            return await super().acknowledge(upto_seq)

    opened = await AsyncReadingQueue.open(tmp_path / "queue.sqlite3", clock=clock.wall)
    queue = FullOnce(opened._executor, opened._queue)
    forwarder = Forwarder(
        queue, Server(), modem_no="1234567897", send_period=PERIOD, clock=clock, jitter=lambda: 0
    )
    await queue.append(_poll(clock.wall(), 0))
    task = asyncio.create_task(forwarder.run())
    try:
        await clock.advance(0)
        assert forwarder.last_error is not None
        assert "full" in forwarder.last_error
        assert not task.done()  # still running
        await clock.advance(10)  # the back-off
        assert (await queue.stats()).pending == 0
        assert [b.first_seq for b in sent] == [1, 1]  # sent again, same numbers
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await queue.close()
