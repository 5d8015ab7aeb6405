"""The reading queue: order, exactly-once by acknowledgement, sequence numbers that survive
restarts, the size bound's gaps, the history window, and a full disk."""

from __future__ import annotations

import errno
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hardware_bridge.uplink import (
    Gap,
    QueuedRecord,
    QueueFullError,
    ReadingQueue,
    Record,
    RecordKind,
    SeqRange,
    StorageError,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def reading(n: int, *, key: str = "voltage_l1", at: datetime | None = None) -> Record:
    return Record(
        device="meter_1",
        key=key,
        value=float(n),
        unit="V",
        time=at or T0 + timedelta(seconds=n),
    )


def event(n: int, *, alarm: bool = False) -> Record:
    return Record(
        device="inputs",
        key="input_1",
        value=True,
        unit=None,
        time=T0 + timedelta(seconds=n),
        kind=RecordKind.EVENT,
        alarm=alarm,
    )


def drain(queue: ReadingQueue) -> list[QueuedRecord]:
    """Everything unacknowledged, read out and acknowledged the way an uploader does."""
    out: list[QueuedRecord] = []
    while (batch := queue.next_batch(max_records=7)) is not None:
        out.extend(batch.records)
        queue.acknowledge(batch.last_seq)
    return out


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "queue.sqlite3"


def test_records_come_back_in_order_with_their_values_and_types(path: Path) -> None:
    istanbul = timezone(timedelta(hours=3))
    records = [
        Record(device="m", key="f", value=230.5, unit="V", time=T0),
        Record(device="m", key="i", value=7, unit=None, time=T0),
        Record(device="m", key="b", value=True, unit=None, time=T0),
        Record(device="m", key="zero", value=0, unit=None, time=T0),
        Record(device="m", key="false", value=False, unit=None, time=T0),
        Record(device="m", key="s", value="Tarife 2 — çalışıyor", unit=None, time=T0),
        Record(device="m", key="none", value=None, unit="kWh", time=T0),
        Record(
            device="m",
            key="tz",
            value=1.0,
            unit=None,
            time=datetime(2026, 11, 30, 15, 0, 0, 1, istanbul),
        ),
    ]
    with ReadingQueue(path) as queue:
        assert queue.append(records[:3]) == SeqRange(1, 3)
        assert queue.append(records[3:]) == SeqRange(4, 8)
        batch = queue.next_batch()
    assert batch is not None
    assert (batch.first_seq, batch.last_seq) == (1, 8)
    assert [item.seq for item in batch.records] == list(range(1, 9))
    got = [item.item for item in batch.records]
    assert got[:7] == records[:7]
    for value, expected in zip(got, records, strict=True):
        assert isinstance(value, Record)
        assert type(value.value) is type(expected.value)
    last = got[7]
    assert isinstance(last, Record)
    assert last.time == datetime(2026, 11, 30, 12, 0, 0, 1, UTC)
    assert last.time.tzinfo is UTC


def test_a_batch_is_delivered_again_until_it_is_acknowledged(path: Path) -> None:
    with ReadingQueue(path) as queue:
        queue.append([reading(n) for n in range(1, 11)])
        first = queue.next_batch(max_records=4)
        again = queue.next_batch(max_records=4)
        assert first == again
        assert first is not None
        assert [r.seq for r in first.records] == [1, 2, 3, 4]
        assert queue.acknowledge(first.last_seq) == 4
        assert queue.acknowledge(first.last_seq) == 0  # a repeated ack changes nothing
        assert queue.acknowledge(2) == 0
        rest = drain(queue)
        assert [r.seq for r in rest] == list(range(5, 11))
        assert queue.next_batch() is None
        assert queue.stats().pending == 0
        with pytest.raises(ValueError, match="last sequence number given out is 10"):
            queue.acknowledge(11)


def test_batch_byte_limit_keeps_the_first_record_and_stops_before_the_limit(path: Path) -> None:
    with ReadingQueue(path) as queue:
        queue.append([reading(n) for n in range(1, 6)])
        one = queue.next_batch(max_bytes=1)
        assert one is not None
        assert [r.seq for r in one.records] == [1]
        size = 32 + 8 + len("meter_1voltage_l1V")
        three = queue.next_batch(max_bytes=3 * size + size // 2)
        assert three is not None
        assert [r.seq for r in three.records] == [1, 2, 3]


def test_alarms_make_a_batch_urgent(path: Path) -> None:
    with ReadingQueue(path) as queue:
        queue.append([reading(1), event(2)])
        assert not queue.stats().alarm_pending
        assert not queue.alarm_pending()
        batch = queue.next_batch()
        assert batch is not None
        assert not batch.urgent
        queue.append([event(3, alarm=True)])
        assert queue.stats().alarm_pending
        assert queue.alarm_pending()
        batch = queue.next_batch()
        assert batch is not None
        assert batch.urgent
        queue.acknowledge(batch.last_seq)
        assert not queue.stats().alarm_pending
        assert not queue.alarm_pending()


def test_sequence_numbers_continue_after_restart_and_deletion(path: Path) -> None:
    clock = Clock()
    with ReadingQueue(path, clock=clock, retention=timedelta(days=1)) as queue:
        queue.append([reading(n) for n in range(1, 6)])
        queue_id = queue.stats().queue_id
        clock.now = T0 + timedelta(days=3)
        queue.acknowledge(5)  # acknowledged and older than the window: deleted
        assert queue.stats().stored_records == 0
    with ReadingQueue(path, clock=clock) as queue:
        assert queue.append([reading(6)]) == SeqRange(6, 6)
        assert queue.stats().queue_id == queue_id
        assert queue.stats().acked_seq == 5
    with ReadingQueue(path, clock=clock) as queue:
        assert queue.append([reading(7), reading(8)]) == SeqRange(7, 8)
        assert [r.seq for r in drain(queue)] == [6, 7, 8]


def test_commits_are_fsynced_in_wal_mode_and_a_clean_stop_folds_the_log(path: Path) -> None:
    queue = ReadingQueue(path)
    assert queue.durability() == ("wal", 2)  # 2 = FULL: each commit fsyncs the log
    queue.append([reading(1)])
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 0
    queue.close()
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_new_database_has_a_new_queue_id(tmp_path: Path) -> None:
    with ReadingQueue(tmp_path / "a.sqlite3") as a, ReadingQueue(tmp_path / "b.sqlite3") as b:
        assert a.stats().queue_id != b.stats().queue_id


def accounted(records: list[QueuedRecord]) -> list[int]:
    """Sequence numbers as a receiver accounts for them: a record's own, a gap's range."""
    seqs: list[int] = []
    for queued in records:
        if isinstance(queued.item, Gap):
            assert queued.seq == queued.item.last_seq
            seqs.extend(range(queued.item.first_seq, queued.item.last_seq + 1))
        else:
            seqs.append(queued.seq)
    return seqs


def test_size_bound_drops_oldest_readings_into_a_gap_and_keeps_events(path: Path) -> None:
    with ReadingQueue(path, max_records=10, max_bytes=None) as queue:
        queue.append([reading(n) for n in range(1, 4)])  # 1-3
        queue.append([event(4, alarm=True)])  # 4
        queue.append([reading(n) for n in range(5, 11)])  # 5-10: full, nothing dropped
        assert queue.stats().dropped == 0
        queue.append([reading(11), reading(12)])  # 12 rows: 3 must go (2 + room for a gap)
        stats = queue.stats()
        assert stats.stored_records <= 10
        assert stats.dropped == 3
        out = drain(queue)
    kinds = [type(q.item).__name__ if isinstance(q.item, Gap) else q.item.kind for q in out]
    assert kinds[:2] == ["Gap", RecordKind.EVENT]
    gap = out[0].item
    assert gap == Gap(
        count=3,
        first_seq=1,
        last_seq=3,
        start=T0 + timedelta(seconds=1),
        end=T0 + timedelta(seconds=3),
    )
    assert accounted(out) == list(range(1, 13))
    assert [q.seq for q in out[2:]] == list(range(5, 13))


def test_consecutive_drops_grow_one_gap_and_warn_once(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ReadingQueue(path, max_records=5, max_bytes=None) as queue:
        for n in range(1, 31):
            queue.append([reading(n)])
            assert queue.stats().stored_records <= 5
        stats = queue.stats()
        out = drain(queue)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "is full: the oldest unsent readings are dropped" in warnings[0].getMessage()
    gaps = [q.item for q in out if isinstance(q.item, Gap)]
    assert len(gaps) == 1
    assert gaps[0].first_seq == 1
    assert gaps[0].count == stats.dropped == 30 - 4
    assert gaps[0].end == T0 + timedelta(seconds=26)
    assert accounted(out) == list(range(1, 31))


def test_byte_bound_is_kept_and_acknowledged_history_goes_before_unsent_readings(
    path: Path,
) -> None:
    size = 32 + 8 + len("meter_1voltage_l1V")
    with ReadingQueue(path, max_bytes=20 * size) as queue:
        queue.append([reading(n) for n in range(1, 16)])
        queue.acknowledge(15)  # 15 rows of history
        queue.append([reading(n) for n in range(16, 26)])  # 25 rows: 5 history rows go
        stats = queue.stats()
        assert stats.stored_bytes <= 20 * size
        assert stats.dropped == 0
        page = queue.history(T0, T0 + timedelta(days=1), limit=100)
        assert [q.seq for q in page.records] == list(range(6, 26))
        queue.append([reading(n) for n in range(26, 46)])  # history all gone, then unsent
        stats = queue.stats()
        assert stats.stored_bytes <= 20 * size
        assert stats.dropped > 0
        out = drain(queue)
    assert isinstance(out[0].item, Gap)
    assert accounted(out) == list(range(16, 46))


def test_events_alone_may_pass_the_bound_but_are_never_dropped(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ReadingQueue(path, max_records=3, max_bytes=None) as queue:
        queue.append([event(n) for n in range(1, 6)])
        assert queue.stats().stored_records == 5
        assert [q.seq for q in drain(queue)] == [1, 2, 3, 4, 5]
    assert "holds only events and gaps" in caplog.text


def test_history_keeps_uploaded_readings_for_the_retention_window(path: Path) -> None:
    clock = Clock(T0)
    with ReadingQueue(path, clock=clock) as queue:  # 7 days by default
        for day in range(10):
            at = T0 + timedelta(days=day)
            queue.append([reading(n, at=at + timedelta(minutes=n)) for n in range(5)])
        assert queue.next_batch() is not None
        clock.now = T0 + timedelta(days=9, hours=12)
        queue.acknowledge(40)  # days 0-7 uploaded; days 8-9 not
        page = queue.history(T0, T0 + timedelta(days=30), limit=1000)
        days = sorted({q.item.time.date().day for q in page.records if isinstance(q.item, Record)})
        # uploaded days older than 7 days are gone; days 3..7 (uploaded) and 8..9 (not) stay
        assert days == [3, 4, 5, 6, 7, 8, 9]
        assert all(q.seq > 15 for q in page.records)
        # nothing unsent is pruned by age, however old
        clock.now = T0 + timedelta(days=100)
        assert queue.prune() == 25
        assert [q.seq for q in queue.history(T0, clock.now).records] == list(range(41, 51))


def test_history_pages_by_sequence_cursor_within_a_time_range(path: Path) -> None:
    with ReadingQueue(path) as queue:
        queue.append([reading(n) for n in range(100)])
        queue.append([event(30)])
        queue.acknowledge(50)
        start, end = T0 + timedelta(seconds=20), T0 + timedelta(seconds=60)
        seen: list[int] = []
        after = 0
        pages = 0
        while True:
            page = queue.history(start, end, after=after, limit=15)
            pages += 1
            seen.extend(q.seq for q in page.records)
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == [*range(21, 61), 101]  # 20 s ≤ time < 60 s, uploaded or not, and the event
        assert pages == 3
        only_events = queue.history(start, end, kinds=frozenset({RecordKind.EVENT}))
        assert [q.seq for q in only_events.records] == [101]
        with pytest.raises(ValueError, match="no time zone"):
            queue.history(datetime(2026, 1, 1), end)


def fill_until_full(queue: ReadingQueue, start: int) -> int:
    n = start
    caught: QueueFullError | None = None
    while caught is None:
        try:
            queue.append([reading(n, key=f"energy_{k}") for k in range(20)])
        except QueueFullError as err:
            caught = err
        n += 1
    assert caught.path == queue.path
    assert str(queue.path) in str(caught)
    assert "disk full" in str(caught)
    return n


def test_disk_full_is_a_clear_error_and_appends_work_again_when_space_returns(
    path: Path,
) -> None:
    with ReadingQueue(path, max_pages=64, max_bytes=None) as queue:
        fill_until_full(queue, 0)
        before = queue.stats()
        assert before.stored_records > 0
        # the failed append left nothing behind and used no sequence number
        with pytest.raises(QueueFullError):
            queue.append([reading(n) for n in range(200)])
        assert queue.stats() == before
        assert queue.integrity_check() == []
        # the server acknowledges, retention frees the pages: appends work again, in sequence
        queue.retention = timedelta(0)
        queue.acknowledge(before.last_seq)
        assert queue.append([reading(1)]) == SeqRange(before.last_seq + 1, before.last_seq + 1)
        assert queue.integrity_check() == []
    # a bigger disk (here: a higher page limit) after a restart: everything still there
    with ReadingQueue(path, max_pages=10_000) as queue:
        assert queue.stats().last_seq == before.last_seq + 1
        assert queue.append([reading(2)]).first == before.last_seq + 2
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()


def test_disk_full_while_opening_is_a_queue_full_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "mkdir", no_space)
    with pytest.raises(QueueFullError, match=r"queue\.sqlite3: disk full"):
        ReadingQueue(path)


def test_a_file_that_is_not_a_queue_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(StorageError, match=r"queue\.sqlite3: file is not a database"):
        ReadingQueue(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time": datetime(2026, 1, 1)}, "has no time zone"),
        ({"value": float("nan")}, "not a finite number"),
        ({"value": 2**70}, "does not fit in 64 bits"),
        ({"kind": RecordKind.GAP}, "gaps are made by the queue"),
        ({"alarm": True}, "only an event can be an alarm"),
        ({"device": ""}, "must not be empty"),
    ],
)
def test_records_that_could_not_come_back_unchanged_are_refused(
    fields: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {
        "device": "meter_1",
        "key": "voltage_l1",
        "value": 1.0,
        "unit": "V",
        "time": T0,
    }
    with pytest.raises(ValueError, match=message):
        Record(**{**base, **fields})  # type: ignore[arg-type]


def test_stored_counters_match_the_rows(path: Path) -> None:
    with ReadingQueue(path, max_records=50, max_bytes=None) as queue:
        for n in range(40):
            queue.append([reading(n), reading(n, key="current_l1")])
            if n % 7 == 0:
                queue.append([event(n)])
            if n % 11 == 0:
                queue.acknowledge(queue.stats().last_seq - 3)
        stats = queue.stats()
    db = sqlite3.connect(path)
    rows, size = db.execute("SELECT COUNT(*), SUM(size) FROM records").fetchone()
    db.close()
    assert (stats.stored_records, stats.stored_bytes) == (rows, size)


def test_healthy_operation_logs_no_warning(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with ReadingQueue(path, clock=clock, max_records=500, max_bytes=None) as queue:
        for n in range(200):
            clock.now = T0 + timedelta(hours=n)
            queue.append([reading(n), reading(n, key="current_l1")])
            if n % 4 == 3:
                drain(queue)
    assert [r for r in caplog.records if r.levelno >= 30] == []
