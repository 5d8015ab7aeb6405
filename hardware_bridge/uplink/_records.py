"""What the reading queue holds: readings and events as the bridge took them, and gaps.

The model is the wire format's input, not the wire format: the queue stores these fields and
gives them back in order; how a batch is encoded for the server is decided elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = ["Gap", "QueuedRecord", "Record", "RecordKind", "RecordValue"]

type RecordValue = float | int | bool | str | None

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class RecordKind(StrEnum):
    """``reading``: a polled value; ``event``: something that happened (an input changed, a
    relay switched, mains lost); ``gap``: readings the queue dropped when it was full."""

    READING = "reading"
    EVENT = "event"
    GAP = "gap"


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One value as the bridge took it, at the time of its poll.

    ``device`` is the device's name or key, ``key`` the value key as the bridge names it
    (``voltage_l1``, ``energy_import_total``). ``time`` must be timezone-aware; it is kept in
    UTC with microsecond precision. ``alarm`` marks an event the uploader sends at once instead
    of waiting for the send period.
    """

    device: str
    key: str
    value: RecordValue
    unit: str | None
    time: datetime
    kind: RecordKind = RecordKind.READING
    alarm: bool = False

    def __post_init__(self) -> None:
        where = f"record {self.device!r}/{self.key!r}"
        if not self.device or not self.key:
            raise ValueError(f"{where}: device and key must not be empty")
        if self.kind is RecordKind.GAP:
            raise ValueError(f"{where}: gaps are made by the queue, not appended")
        if self.alarm and self.kind is not RecordKind.EVENT:
            raise ValueError(f"{where}: only an event can be an alarm")
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError(f"{where}: time {self.time.isoformat()} has no time zone")
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            # SQLite would store NaN as NULL: a different value than the one taken.
            raise ValueError(f"{where}: value {value} is not a finite number")
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not _INT64_MIN <= value <= _INT64_MAX
        ):
            raise ValueError(f"{where}: integer {value} does not fit in 64 bits")
        if value is not None and not isinstance(value, float | int | bool | str):
            raise ValueError(f"{where}: value of type {type(value).__name__} cannot be queued")
        object.__setattr__(self, "time", self.time.astimezone(UTC))


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Readings the queue dropped, oldest first, because it reached its size bound.

    The dropped readings had the sequence numbers ``first_seq`` … ``last_seq`` (every one of
    them a reading: a run never spans an event), so ``count == last_seq - first_seq + 1``;
    ``start`` and ``end`` are the earliest and latest times among them. A gap holds the place of
    its last sequence number in the queue, so a receiver accounts for every sequence number
    either by a record or by a gap.
    """

    count: int
    first_seq: int
    last_seq: int
    start: datetime
    end: datetime

    kind = RecordKind.GAP


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    """A record or a gap with the sequence number the queue gave it."""

    seq: int
    item: Record | Gap


def to_micros(time: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (time - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
