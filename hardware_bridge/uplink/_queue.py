"""The terminal's outbox: readings and events committed to SQLite before they count as taken.

Layout (one database per terminal, ``queue.sqlite3`` in the state directory)::

    state    one row: last sequence number given out, sequence acknowledged by the server,
             stored rows and estimated bytes, readings dropped over the queue's life
    records  seq (the primary key), kind, alarm flag, device, key, value + its type, unit,
             time (µs since the epoch, UTC), estimated size; for a gap also its first
             sequence number and the time of its last dropped reading

Sequence numbers come from ``state.last_seq``, which only grows and is written in the same
transaction as the records, so a number is never given twice — not after deletions, not after a
crash or a restart. ``acknowledge(n)`` only moves ``state.acked_seq``: acknowledged rows stay as
the local history (served by the daemon's ``/history``) until the retention window or the size
bound removes them. Unacknowledged rows are removed only by the size bound, and then only
readings, each run of them replaced by a :class:`Gap` that is delivered in order like any record.

Durability: WAL with ``synchronous=FULL``. In WAL mode ``FULL`` fsyncs the log at every commit,
so a commit that has returned survives a power cut; ``NORMAL`` would fsync only at checkpoints
and could lose the last commits (without corruption) when power fails — and a reading must not
count as taken before it is safe. The cost is one fsync per :meth:`ReadingQueue.append`, i.e.
per poll, not per value, which the terminal's send periods leave far from any limit.

Notes for the uploader and the daemon:

- Send ``next_batch()`` and acknowledge what the server acknowledged; a batch sent twice (no
  answer, retried) carries the same sequence numbers, so the server can drop the repeat.
- A gap may name sequence numbers of a batch that was in flight when the queue dropped them
  (the server got them after all); a receiver keeps what it holds and counts only the rest.
- With no upstream (LAN-only mode) nothing is ever acknowledged by a server: the daemon
  acknowledges its own appends, so they become history and the retention window applies.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hardware_bridge.uplink._errors import QueueFullError, StorageError
from hardware_bridge.uplink._records import (
    Gap,
    QueuedRecord,
    Record,
    RecordKind,
    RecordValue,
    from_micros,
    to_micros,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_RETENTION",
    "Batch",
    "HistoryPage",
    "QueueStats",
    "ReadingQueue",
    "SeqRange",
]

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_RETENTION = timedelta(days=7)
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
"""Default bound on the estimated bytes stored (pending and history): a week of history for a
few dozen devices polled every minute, or months of backlog for a typical site. The database
file is about 1.4 times the estimate (80 000 readings of an analyzer: 4.6 MB estimated, 6.5 MB
on disk), plus a write-ahead log that SQLite checkpoints at about 4 MB."""

_ROW_OVERHEAD = 32
"""Estimated bytes a row costs beyond its strings (seq, time, flags, index entry)."""
_GAP_SIZE = _ROW_OVERHEAD + 16
_CHUNK = 1024

_SCHEMA = """
CREATE TABLE state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    queue_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    acked_seq INTEGER NOT NULL,
    stored_rows INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    dropped INTEGER NOT NULL
);
CREATE TABLE records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    alarm INTEGER NOT NULL,
    device TEXT NOT NULL,
    key TEXT NOT NULL,
    vtype TEXT NOT NULL,
    value,
    unit TEXT,
    time_us INTEGER NOT NULL,
    size INTEGER NOT NULL,
    gap_first INTEGER,
    gap_end_us INTEGER
);
CREATE INDEX records_time ON records (time_us);
CREATE INDEX records_alarm ON records (seq) WHERE alarm = 1;
"""

_COLUMNS = "seq, kind, alarm, device, key, vtype, value, unit, time_us, gap_first, gap_end_us"


@dataclass(frozen=True, slots=True)
class SeqRange:
    """The sequence numbers ``first`` … ``last`` (inclusive) given to one append."""

    first: int
    last: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """The oldest unacknowledged records, in order: ``records[0].seq == first_seq``.

    ``urgent`` says an alarm is among them, so the uploader should not wait for its period.
    """

    first_seq: int
    last_seq: int
    records: tuple[QueuedRecord, ...]
    urgent: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryPage:
    """Records of a time range in sequence order; ``next_after`` continues the query (None:
    nothing more)."""

    records: tuple[QueuedRecord, ...]
    next_after: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStats:
    queue_id: str
    """Random id of this database: a receiver seeing it change knows the sequence restarted."""
    last_seq: int
    acked_seq: int
    pending: int
    """Records (and gaps) not yet acknowledged: the queue depth."""
    stored_records: int
    stored_bytes: int
    dropped: int
    """Readings dropped by the size bound over the queue's life (each inside a gap)."""
    alarm_pending: bool
    oldest_pending: datetime | None


@dataclass(slots=True)
class _Run:
    """Consecutive dropped readings (and absorbed gaps) being turned into one gap."""

    first_seq: int
    last_seq: int
    start_us: int
    end_us: int


class ReadingQueue:
    """A durable, bounded, ordered queue of readings and events for one terminal.

    Blocking: every method runs SQLite on the calling thread. Use it from one thread (the
    async daemon uses :class:`~hardware_bridge.uplink.AsyncReadingQueue`, which gives it a
    worker thread of its own).

    Bounds: ``max_records`` and ``max_bytes`` (estimated; ``None`` for no bound) limit what is
    stored, history included. When an append passes a bound, acknowledged history goes first
    (oldest first), then the oldest unacknowledged readings, which become gaps. Events and gaps
    are never dropped; if they alone pass the bound the queue grows past it and says so once.
    ``max_pages`` caps the database file itself (SQLite's ``max_page_count``); reaching it
    behaves like a full disk.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_records: int | None = None,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        retention: timedelta = DEFAULT_RETENTION,
        max_pages: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = Path(path)
        if max_records is not None and max_records < 1:
            raise ValueError(f"max_records must be at least 1, not {max_records}")
        if max_bytes is not None and max_bytes < _GAP_SIZE:
            raise ValueError(f"max_bytes must be at least {_GAP_SIZE}, not {max_bytes}")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.retention = retention
        self._clock = clock
        self._over_bound_reported = False
        self._dropping = False
        self._db = self._connect(max_pages)

    # -- opening ------------------------------------------------------------------------------

    def _connect(self, max_pages: int | None) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as err:
            raise _storage_error(self.path, err) from err
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(self.path, f"cannot use write-ahead logging (got {mode})")
            db.execute("PRAGMA synchronous=FULL")
            if max_pages is not None:
                db.execute(f"PRAGMA max_page_count={int(max_pages)}")
            self._migrate(db)
        except BaseException as err:
            db.close()
            if isinstance(err, OSError | sqlite3.Error):
                raise _storage_error(self.path, err) from err
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise StorageError(
                self.path, f"schema version {version} is not {SCHEMA_VERSION} (a newer bridge?)"
            )
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO state VALUES (1, ?, 0, 0, 0, 0, 0)", (uuid.uuid4().hex,))
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the database; a clean stop also folds the write-ahead log into it."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:  # a full disk: the log stays, SQLite replays it on open
            _LOGGER.debug("Reading queue %s: log not checkpointed on close: %s", self.path, err)
        self._db.close()

    def durability(self) -> tuple[str, int]:
        """The journal mode and synchronous level in force (``("wal", 2)``: WAL, FULL)."""
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        level = self._db.execute("PRAGMA synchronous").fetchone()[0]
        return str(mode), int(level)

    def __enter__(self) -> ReadingQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back on any error, with
        SQLite and OS errors turned into :class:`StorageError` / :class:`QueueFullError`."""
        db = self._db
        try:
            db.execute(begin)
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except (OSError, sqlite3.Error) as err:
            raise _storage_error(self.path, err) from err

    @staticmethod
    def _state(db: sqlite3.Connection) -> dict[str, Any]:
        cursor = db.execute(
            "SELECT queue_id, last_seq, acked_seq, stored_rows, stored_bytes, dropped FROM state"
        )
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))

    # -- appending ----------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> SeqRange:
        """Commit ``records`` in one transaction and return the sequence numbers they got.

        The records are taken only when this returns; on :class:`StorageError` none of them
        is stored and no sequence number was used.
        """
        if not records:
            raise ValueError("nothing to append")
        rows = []
        total = 0
        for record in records:
            if not isinstance(record, Record):
                raise TypeError(f"cannot append {type(record).__name__}: expected Record")
            vtype, value = _encode_value(record.value)
            size = _size(record)
            total += size
            rows.append(
                (
                    record.kind.value,
                    int(record.alarm),
                    record.device,
                    record.key,
                    vtype,
                    value,
                    record.unit,
                    to_micros(record.time),
                    size,
                )
            )
        with self._transaction() as db:
            state = self._state(db)
            first = state["last_seq"] + 1
            db.executemany(
                "INSERT INTO records (seq, kind, alarm, device, key, vtype, value, unit, time_us,"
                " size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(first + index, *row) for index, row in enumerate(rows)],
            )
            last = first + len(rows) - 1
            db.execute(
                "UPDATE state SET last_seq = ?, stored_rows = stored_rows + ?,"
                " stored_bytes = stored_bytes + ?",
                (last, len(rows), total),
            )
            self._enforce_bound(db)
        return SeqRange(first, last)

    def _over(self, state: dict[str, Any]) -> tuple[int, int]:
        rows = state["stored_rows"] - self.max_records if self.max_records is not None else 0
        size = state["stored_bytes"] - self.max_bytes if self.max_bytes is not None else 0
        return rows, size

    def _enforce_bound(self, db: sqlite3.Connection) -> None:
        state = self._state(db)
        over_rows, over_bytes = self._over(state)
        if over_rows <= 0 and over_bytes <= 0:
            self._over_bound_reported = self._dropping = False
            return
        freed_rows, freed_bytes = self._drop_history(db, state["acked_seq"], over_rows, over_bytes)
        over_rows -= freed_rows
        over_bytes -= freed_bytes
        if over_rows > 0 or over_bytes > 0:
            self._drop_pending_readings(db, state["acked_seq"], over_rows, over_bytes)
        else:
            self._dropping = False
        over_rows, over_bytes = self._over(self._state(db))
        if (over_rows > 0 or over_bytes > 0) and not self._over_bound_reported:
            self._over_bound_reported = True
            _LOGGER.warning(
                "Reading queue %s holds only events and gaps and is past its size bound; "
                "it keeps them and grows until the server acknowledges",
                self.path,
            )

    def _drop_history(
        self, db: sqlite3.Connection, acked: int, over_rows: int, over_bytes: int
    ) -> tuple[int, int]:
        """Delete the oldest acknowledged rows until the excess is covered."""
        rows = size = 0
        upto = 0
        after = 0
        while rows < over_rows or size < over_bytes:
            chunk = db.execute(
                "SELECT seq, size FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, acked, _CHUNK),
            ).fetchall()
            if not chunk:
                break
            for seq, row_size in chunk:
                rows += 1
                size += row_size
                upto = after = seq
                if rows >= over_rows and size >= over_bytes:
                    break
        if rows:
            db.execute("DELETE FROM records WHERE seq <= ?", (upto,))
            db.execute(
                "UPDATE state SET stored_rows = stored_rows - ?, stored_bytes = stored_bytes - ?",
                (rows, size),
            )
            _LOGGER.debug("Size bound: %d uploaded records left the local history", rows)
        return rows, size

    def _drop_pending_readings(
        self, db: sqlite3.Connection, acked: int, over_rows: int, over_bytes: int
    ) -> None:
        """Replace the oldest unacknowledged readings by gaps until the excess is covered.

        A run of dropped readings ends at an event (which is kept); a gap met inside a run is
        absorbed into it, so consecutive drops give one gap, not one per append.
        """
        runs: list[_Run] = []
        run: _Run | None = None
        net_rows = net_bytes = 0  # freed minus what the gaps written so far cost
        dropped = 0
        after = acked

        def covered() -> bool:
            return net_rows >= over_rows and net_bytes >= over_bytes

        while not covered():
            chunk = db.execute(
                "SELECT seq, kind, size, time_us, gap_first, gap_end_us FROM records"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, _CHUNK),
            ).fetchall()
            if not chunk:
                break
            for seq, kind, size, time_us, gap_first, gap_end_us in chunk:
                after = seq
                if kind == RecordKind.EVENT:
                    run = None
                    continue
                if run is None:
                    run = _Run(seq, seq, time_us, time_us)
                    runs.append(run)
                    net_rows -= 1
                    net_bytes -= _GAP_SIZE
                if kind == RecordKind.GAP:
                    run.first_seq = min(run.first_seq, gap_first)
                    run.start_us = min(run.start_us, time_us)
                    run.end_us = max(run.end_us, gap_end_us)
                else:
                    dropped += 1
                    run.start_us = min(run.start_us, time_us)
                    run.end_us = max(run.end_us, time_us)
                run.last_seq = seq
                net_rows += 1
                net_bytes += size
                if covered():
                    break
        if not runs:
            return
        for gap in runs:
            db.execute(
                "DELETE FROM records WHERE seq >= ? AND seq <= ?", (gap.first_seq, gap.last_seq)
            )
            db.execute(
                "INSERT INTO records (seq, kind, alarm, device, key, vtype, value, unit, time_us,"
                " size, gap_first, gap_end_us) VALUES (?, ?, 0, '', '', 'i', ?, NULL, ?, ?, ?, ?)",
                (
                    gap.last_seq,
                    RecordKind.GAP.value,
                    gap.last_seq - gap.first_seq + 1,
                    gap.start_us,
                    _GAP_SIZE,
                    gap.first_seq,
                    gap.end_us,
                ),
            )
        db.execute(
            "UPDATE state SET stored_rows = stored_rows - ?, stored_bytes = stored_bytes - ?,"
            " dropped = dropped + ?",
            (net_rows, net_bytes, dropped),
        )
        if not self._dropping:  # once per episode, not on every poll while it lasts
            self._dropping = True
            _LOGGER.warning(
                "Reading queue %s is full: the oldest unsent readings are dropped (%d now) "
                "and reported to the server as gaps until it acknowledges again",
                self.path,
                dropped,
            )
        else:
            _LOGGER.debug("Reading queue %s: %d more unsent readings dropped", self.path, dropped)

    # -- reading out --------------------------------------------------------------------------

    def next_batch(self, max_records: int = 1000, max_bytes: int | None = None) -> Batch | None:
        """The oldest unacknowledged records in order, at most ``max_records`` and — except
        for the first record, which is always included — at most ``max_bytes`` (estimated).
        None when everything is acknowledged."""
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, not {max_records}")
        with self._transaction("BEGIN") as db:
            acked = self._state(db)["acked_seq"]
            rows = db.execute(
                f"SELECT {_COLUMNS}, size FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                (acked, max_records),
            ).fetchall()
        records: list[QueuedRecord] = []
        total = 0
        urgent = False
        for row in rows:
            total += row[-1]
            if records and max_bytes is not None and total > max_bytes:
                break
            queued = _decode(row[:-1])
            urgent = urgent or bool(row[2])
            records.append(queued)
        if not records:
            return None
        return Batch(
            first_seq=records[0].seq,
            last_seq=records[-1].seq,
            records=tuple(records),
            urgent=urgent,
        )

    def acknowledge(self, upto_seq: int) -> int:
        """The server holds everything up to ``upto_seq``: those records leave the outbox
        (they stay in the local history for the retention window). Acknowledging again, or
        less, changes nothing. Returns how many records were newly acknowledged."""
        with self._transaction() as db:
            state = self._state(db)
            if upto_seq > state["last_seq"]:
                raise ValueError(
                    f"cannot acknowledge up to {upto_seq}: the last sequence number given out "
                    f"is {state['last_seq']}"
                )
            if upto_seq <= state["acked_seq"]:
                return 0
            count: int = db.execute(
                "SELECT COUNT(*) FROM records WHERE seq > ? AND seq <= ?",
                (state["acked_seq"], upto_seq),
            ).fetchone()[0]
            db.execute("UPDATE state SET acked_seq = ?", (upto_seq,))
            self._prune(db, upto_seq)
        return count

    def prune(self) -> int:
        """Remove acknowledged records older than the retention window; returns how many."""
        with self._transaction() as db:
            return self._prune(db, self._state(db)["acked_seq"])

    def _prune(self, db: sqlite3.Connection, acked: int) -> int:
        cutoff = to_micros(self._clock() - self.retention)
        rows, size = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM records WHERE time_us < ? AND seq <= ?",
            (cutoff, acked),
        ).fetchone()
        if rows:
            db.execute("DELETE FROM records WHERE time_us < ? AND seq <= ?", (cutoff, acked))
            db.execute(
                "UPDATE state SET stored_rows = stored_rows - ?, stored_bytes = stored_bytes - ?",
                (rows, size),
            )
        return int(rows)

    def history(
        self,
        start: datetime,
        end: datetime,
        *,
        after: int = 0,
        limit: int = 500,
        kinds: frozenset[RecordKind] = frozenset({RecordKind.READING, RecordKind.EVENT}),
    ) -> HistoryPage:
        """Records whose time is in [``start``, ``end``), uploaded or not, in sequence order,
        starting after sequence number ``after`` (the previous page's ``next_after``)."""
        for name, when in (("start", start), ("end", end)):
            if when.tzinfo is None or when.utcoffset() is None:
                raise ValueError(f"history {name} {when.isoformat()} has no time zone")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        wanted = sorted(kind.value for kind in kinds)
        marks = ", ".join("?" for _ in wanted)
        with self._transaction("BEGIN") as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE seq > ? AND time_us >= ? AND time_us < ?"
                f" AND kind IN ({marks}) ORDER BY seq LIMIT ?",
                (after, to_micros(start), to_micros(end), *wanted, limit + 1),
            ).fetchall()
        records = tuple(_decode(row) for row in rows[:limit])
        more = len(rows) > limit
        return HistoryPage(records=records, next_after=records[-1].seq if more else None)

    def alarm_pending(self) -> bool:
        """Whether an unacknowledged alarm waits: the uploader then sends without waiting for
        its period, batch after batch until the alarm is acknowledged."""
        with self._transaction("BEGIN") as db:
            acked = self._state(db)["acked_seq"]
            row = db.execute(
                "SELECT EXISTS (SELECT 1 FROM records WHERE alarm = 1 AND seq > ?)", (acked,)
            ).fetchone()
        return bool(row[0])

    def stats(self) -> QueueStats:
        with self._transaction("BEGIN") as db:
            state = self._state(db)
            acked = state["acked_seq"]
            pending, oldest = db.execute(
                "SELECT COUNT(*), MIN(time_us) FROM records WHERE seq > ?", (acked,)
            ).fetchone()
            alarm = db.execute(
                "SELECT EXISTS (SELECT 1 FROM records WHERE alarm = 1 AND seq > ?)", (acked,)
            ).fetchone()[0]
        return QueueStats(
            queue_id=state["queue_id"],
            last_seq=state["last_seq"],
            acked_seq=acked,
            pending=pending,
            stored_records=state["stored_rows"],
            stored_bytes=state["stored_bytes"],
            dropped=state["dropped"],
            alarm_pending=bool(alarm),
            oldest_pending=None if oldest is None else from_micros(oldest),
        )

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check``: ``[]`` when the database is sound."""
        try:
            rows = self._db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.Error as err:
            raise _storage_error(self.path, err) from err
        problems = [str(row[0]) for row in rows]
        return [] if problems == ["ok"] else problems


def _size(record: Record) -> int:
    value = record.value
    value_size = len(value.encode()) if isinstance(value, str) else 8
    strings = record.device.encode(), record.key.encode(), (record.unit or "").encode()
    return _ROW_OVERHEAD + value_size + sum(len(text) for text in strings)


def _encode_value(value: RecordValue) -> tuple[str, RecordValue]:
    if value is None:
        return "n", None
    if isinstance(value, bool):
        return "b", int(value)
    if isinstance(value, int):
        return "i", value
    if isinstance(value, float):
        return "f", value
    return "s", value


def _decode_value(vtype: str, value: Any) -> RecordValue:
    if vtype == "n":
        return None
    if vtype == "b":
        return bool(value)
    if vtype == "i":
        return int(value)
    if vtype == "f":
        return float(value)
    return str(value)


def _decode(row: Sequence[Any]) -> QueuedRecord:
    seq, kind, alarm, device, key, vtype, value, unit, time_us, gap_first, gap_end_us = row
    if kind == RecordKind.GAP:
        return QueuedRecord(
            seq,
            Gap(
                count=int(value),
                first_seq=gap_first,
                last_seq=seq,
                start=from_micros(time_us),
                end=from_micros(gap_end_us),
            ),
        )
    return QueuedRecord(
        seq,
        Record(
            device=device,
            key=key,
            value=_decode_value(vtype, value),
            unit=unit,
            time=from_micros(time_us),
            kind=RecordKind(kind),
            alarm=bool(alarm),
        ),
    )


def _storage_error(path: Path, err: BaseException) -> StorageError:
    if isinstance(err, StorageError):
        return err
    if isinstance(err, sqlite3.Error) and (
        getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or "database or disk is full" in str(err)
    ):
        return QueueFullError(path, f"disk full, nothing was stored ({err})")
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return QueueFullError(path, f"disk full, nothing was stored ({err.strerror})")
    return StorageError(path, str(err))
