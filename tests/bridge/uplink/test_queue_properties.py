"""Any mix of appends, uploads, restarts and size bounds: the receiver accounts for every
sequence number exactly once, in order, and gets every record as it was appended."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.uplink import Gap, ReadingQueue, Record, RecordKind

T0 = datetime(2026, 11, 30, tzinfo=UTC)

append_op = st.tuples(st.just("append"), st.integers(1, 8), st.booleans())
upload_op = st.tuples(st.just("upload"), st.integers(1, 10), st.booleans())
restart_op = st.tuples(st.just("restart"), st.integers(0, 0), st.booleans())
operations = st.lists(st.one_of(append_op, append_op, upload_op, restart_op), max_size=40)


@settings(
    max_examples=int(os.environ.get("SMARTPOWER_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=operations,
    max_records=st.one_of(st.none(), st.integers(1, 25)),
    max_bytes=st.one_of(st.none(), st.integers(48, 2000)),
)
def test_every_sequence_number_is_accounted_for_once(
    ops: list[tuple[str, int, bool]], max_records: int | None, max_bytes: int | None
) -> None:
    appended: dict[int, Record] = {}
    received: list[int] = []  # sequence numbers as the receiver accounts for them
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "queue.sqlite3"

        def open_queue() -> ReadingQueue:
            return ReadingQueue(path, max_records=max_records, max_bytes=max_bytes)

        def receive(queue: ReadingQueue, max_batch: int) -> bool:
            batch = queue.next_batch(max_records=max_batch)
            if batch is None:
                return False
            for queued in batch.records:
                item = queued.item
                if isinstance(item, Gap):
                    assert queued.seq == item.last_seq
                    assert item.count == item.last_seq - item.first_seq + 1
                    for seq in range(item.first_seq, item.last_seq + 1):
                        assert appended[seq].kind is RecordKind.READING  # events never dropped
                        assert item.start <= appended[seq].time <= item.end
                    received.extend(range(item.first_seq, item.last_seq + 1))
                else:
                    assert item == appended[queued.seq]
                    received.append(queued.seq)
            queue.acknowledge(batch.last_seq)
            return True

        queue = open_queue()
        try:
            for n, (op, size, flag) in enumerate(ops):
                if op == "append":
                    kind = RecordKind.EVENT if flag else RecordKind.READING
                    records = [
                        Record(
                            device="d",
                            key=f"k{j}",
                            value=n * 100 + j,
                            unit=None,
                            time=T0 + timedelta(seconds=n),
                            kind=kind,
                        )
                        for j in range(size)
                    ]
                    span = queue.append(records)
                    assert span.last - span.first + 1 == size
                    assert span.first == max(appended, default=0) + 1
                    appended.update(zip(range(span.first, span.last + 1), records, strict=True))
                    stats = queue.stats()
                    if not any(r.kind is RecordKind.EVENT for r in appended.values()):
                        if max_records is not None:
                            assert stats.stored_records <= max_records
                        if max_bytes is not None:
                            assert stats.stored_bytes <= max_bytes
                elif op == "upload":
                    receive(queue, size)
                else:
                    queue.close()
                    queue = open_queue()
            while receive(queue, 7):
                pass
            assert queue.integrity_check() == []
        finally:
            queue.close()
    assert received == sorted(appended)  # in order, none twice, none missing
