"""Acquisition and upload in one loop, to be killed with SIGKILL at any instant.

``python crash_child.py DB LOG RUN SEED MAX_RECORDS`` appends readings (and now and then an
event) and acknowledges batches as an uploader would. Only *after* a call returned it writes
what it did to LOG and fsyncs it: ``A first last RUN/N`` for an append (record j of append N
has the value ``RUN/N/j``), ``K upto`` for an acknowledgement. The checker holds the queue to
every line it finds. It prints ``ready`` once the queue is open.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import UTC, datetime, timedelta

from hardware_bridge.uplink import ReadingQueue, Record, RecordKind


def main() -> None:
    db, log, run, seed, bound = sys.argv[1:6]
    rng = random.Random(int(seed))
    max_records = int(bound) or None
    ack_chance = rng.choice([0.0, 0.1, 0.4])  # some runs let the backlog grow into the bound
    queue = ReadingQueue(db, max_records=max_records, max_bytes=None, retention=timedelta(0))
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def note(line: str) -> None:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)

    print("ready", flush=True)
    start = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(days=int(run))
    n = 0
    while True:
        n += 1
        kind = RecordKind.EVENT if rng.random() < 0.1 else RecordKind.READING
        records = [
            Record(
                device="meter",
                key=f"k{j}",
                value=f"{run}/{n}/{j}",
                unit=None,
                time=start + timedelta(seconds=n),
                kind=kind,
            )
            for j in range(rng.randint(1, 12))
        ]
        span = queue.append(records)
        note(f"A {span.first} {span.last} {run}/{n}")
        if rng.random() < ack_chance:
            batch = queue.next_batch(max_records=rng.randint(1, 60))
            if batch is not None:
                queue.acknowledge(batch.last_seq)
                note(f"K {batch.last_seq}")


if __name__ == "__main__":
    main()
