"""SIGKILL at random instants while appending and acknowledging: after every kill the
database is sound and holds every append that was reported committed, exactly once.

A SIGKILL loses what the process had not handed to the kernel; it does not lose the page cache,
so it tests the queue's transactions, not the disk's. Survival of a power cut rests on
``synchronous=FULL`` (see :mod:`hardware_bridge.uplink._queue`).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[3]
KILLS = 110
SEED = 20261130


def read_log(log: Path) -> tuple[list[tuple[int, int, str]], int]:
    """Appends reported committed (first, last, tag) and the highest acknowledgement."""
    appends: list[tuple[int, int, str]] = []
    acked = 0
    text = log.read_text() if log.exists() else ""
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # the kill fell inside the write of this line: it was never reported
        kind, *fields = line.split()
        if kind == "A":
            appends.append((int(fields[0]), int(fields[1]), fields[2]))
        else:
            acked = max(acked, int(fields[0]))
    return appends, acked


def check(db_path: Path, log: Path) -> tuple[int, int]:
    """Everything the child reported is in the database once; returns (last_seq, acked)."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        last_seq, acked_seq, stored_rows, stored_bytes = db.execute(
            "SELECT last_seq, acked_seq, stored_rows, stored_bytes FROM state"
        ).fetchone()
        rows = {
            seq: (kind, value, gap_first)
            for seq, kind, value, gap_first in db.execute(
                "SELECT seq, kind, value, gap_first FROM records"
            )
        }
        assert (stored_rows, stored_bytes) == db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM records"
        ).fetchone()
    finally:
        db.close()

    dropped: set[int] = set()  # sequence numbers a gap accounts for
    for seq, (kind, value, gap_first) in rows.items():
        if kind == "gap":
            assert value == seq - gap_first + 1
            covered = set(range(gap_first, seq + 1))
            assert not covered & dropped, "two gaps account for the same reading"
            dropped |= covered
    assert max(rows, default=0) <= last_seq

    # contiguous from the last acknowledgement: every number a record or inside a gap
    for seq in range(acked_seq + 1, last_seq + 1):
        assert seq in rows or seq in dropped, f"sequence {seq} lost (acked {acked_seq})"

    # no value twice: nothing committed was duplicated
    values = [value for kind, value, _ in rows.values() if kind != "gap"]
    assert len(values) == len(set(values))

    appends, reported_ack = read_log(log)
    assert acked_seq >= reported_ack, "an acknowledgement that returned was lost"
    previous_last = 0
    for first, last, tag in appends:
        assert first > previous_last, "a sequence number was given out twice"
        previous_last = last
        for j, seq in enumerate(range(first, last + 1)):
            if seq in rows and rows[seq][0] != "gap":
                assert rows[seq][1] == f"{tag}/{j}", f"sequence {seq} holds another record"
            else:
                # gone only the ways the queue may remove a record: acknowledged (then
                # history, which this child keeps for no time) or dropped into a gap
                assert seq <= acked_seq or seq in dropped, f"committed {tag}/{j} (#{seq}) lost"
    assert previous_last <= last_seq
    return last_seq, acked_seq


def test_sigkill_at_random_instants_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db_path = tmp_path / "queue.sqlite3"
    log = tmp_path / "committed.log"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    last_seqs: list[int] = []
    kills = 0
    deadline = time.monotonic() + 85
    for run in range(KILLS):
        bound = rng.choice([0, 0, 60, 300])
        child = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(db_path),
                str(log),
                str(run),
                str(rng.getrandbits(32)),
                str(bound),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n", "the child did not start"
        time.sleep(rng.uniform(0.0, 0.12))
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        child.stdout.close()
        kills += 1
        last_seq, _ = check(db_path, log)
        last_seqs.append(last_seq)
        assert time.monotonic() < deadline, f"only {kills} kills in the time allowed"
    assert kills >= 100
    assert last_seqs == sorted(last_seqs)
    appends, acked = read_log(log)
    # the kills landed in real work: many appends, acknowledgements and dropped readings
    assert len(appends) > 10 * KILLS
    assert acked > 0
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT dropped FROM state").fetchone()[0] > 0
    finally:
        db.close()
