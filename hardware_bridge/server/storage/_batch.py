"""The idempotent part of storing a batch, the same for both backends (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hardware_bridge.server.storage._models import check_name
from hardware_bridge.uplink import Gap, QueuedRecord, Record

__all__ = [
    "BatchPlan",
    "advance",
    "coverage",
    "newest_per_key",
    "plan_batch",
    "plan_intervals",
    "validate",
]

_LAST_YEAR = 9999


def coverage(item: QueuedRecord) -> tuple[int, int]:
    """The sequence numbers an item accounts for: a gap its whole run, a record its own."""
    if isinstance(item.item, Gap):
        return item.item.first_seq, item.item.last_seq
    return item.seq, item.seq


@dataclass(frozen=True, slots=True)
class BatchPlan:
    records: tuple[tuple[int, Record], ...]
    gaps: tuple[tuple[int, Gap], ...]
    duplicates: int


def validate(records: Sequence[QueuedRecord]) -> None:
    """Refuse what no honest queue makes (a gap that does not end at its own number) and
    names the databases cannot store as text."""
    for item in records:
        if item.seq < 1:
            raise ValueError(f"sequence number {item.seq} is not positive")
        if isinstance(item.item, Record):
            where = f"record at sequence {item.seq}:"
            if item.item.time.year >= _LAST_YEAR:  # no month after it to bound a partition
                raise ValueError(f"{where} time {item.item.time.isoformat()} is out of range")
            check_name(item.item.device, f"{where} device")
            check_name(item.item.key, f"{where} key")
            check_name(item.item.unit, f"{where} unit")
        if isinstance(item.item, Gap):
            gap = item.item
            if not gap.first_seq <= gap.last_seq == item.seq:
                raise ValueError(
                    f"gap at sequence {item.seq} covers {gap.first_seq}..{gap.last_seq}"
                )


def plan_batch(records: Sequence[QueuedRecord], acked: int, held: Iterable[int]) -> BatchPlan:
    """What of ``records`` to insert: not at or below ``acked``, not ``held`` already (sequence
    numbers above ``acked`` already stored), and each number once even if repeated."""
    seen = set(held)
    new_records: list[tuple[int, Record]] = []
    new_gaps: list[tuple[int, Gap]] = []
    duplicates = 0
    for item in records:
        if item.seq <= acked or item.seq in seen:
            duplicates += 1
            continue
        seen.add(item.seq)
        if isinstance(item.item, Gap):
            new_gaps.append((item.seq, item.item))
        else:
            new_records.append((item.seq, item.item))
    return BatchPlan(tuple(new_records), tuple(new_gaps), duplicates)


def plan_intervals(plan: BatchPlan) -> Iterable[tuple[int, int]]:
    """The sequence numbers the plan's records and gaps account for."""
    for seq, _ in plan.records:
        yield seq, seq
    for seq, gap in plan.gaps:
        yield gap.first_seq, seq


def advance(acked: int, intervals: Iterable[tuple[int, int]]) -> int:
    """The highest number up to which ``acked`` and the held ``intervals`` leave no hole."""
    for first, last in sorted(intervals):
        if first > acked + 1:
            break
        acked = max(acked, last)
    return acked


def newest_per_key(
    records: Iterable[tuple[int, Record]],
) -> dict[tuple[str, str], tuple[int, Record]]:
    """The newest record of each (device, key) by (time, sequence number)."""
    newest: dict[tuple[str, str], tuple[int, Record]] = {}
    for seq, record in records:
        key = (record.device, record.key)
        current = newest.get(key)
        if current is None or (record.time, seq) > (current[1].time, current[0]):
            newest[key] = (seq, record)
    return newest
