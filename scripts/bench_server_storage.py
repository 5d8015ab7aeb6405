"""Throughput of the server's storage: readings stored per second, SQLite and PostgreSQL.

Every terminal of a fleet uploads one batch per round (a typical site: one meter and two
Modbus devices, one send period's worth of readings); each round stores one batch per
terminal, as the server would when all terminals contact it within one period. A second pass
re-delivers the last round (retries after a lost reply), which must store nothing. Both
backends run in this one process and this one run, so their figures compare.

    python scripts/bench_server_storage.py [--terminals 1000] [--readings 60] [--rounds 3]
        [--concurrency 16] [--postgres URL | --no-postgres]

Without ``--postgres`` a throwaway PostgreSQL is started from Debian's binaries with its
default durability (fsync on); SQLite runs as the server runs it (WAL, ``synchronous=FULL``)
on a temporary file. This measures the storage alone; the load benchmark over HTTP comes with
the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hardware_bridge.server.storage import Storage, open_storage  # noqa: E402
from hardware_bridge.uplink import QueuedRecord, Record  # noqa: E402

_DEVICES = (("meter", "kWh"), ("analyzer-1", "V"), ("analyzer-2", "A"))


def _cluster_module():  # type: ignore[no-untyped-def]
    path = ROOT / "tests" / "bridge" / "server" / "postgres_cluster.py"
    spec = importlib.util.spec_from_file_location("postgres_cluster", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batch(round_no: int, readings: int, start: datetime) -> list[QueuedRecord]:
    """One send period of a typical site: every device's values at one poll time."""
    first = round_no * readings + 1
    at = start + timedelta(minutes=15 * round_no)
    return [
        QueuedRecord(
            first + i,
            Record(
                device=_DEVICES[i % 3][0],
                key=f"value_{i // 3:02d}",
                value=230.0 + (first + i) % 97 / 10,
                unit=_DEVICES[i % 3][1],
                time=at,
            ),
        )
        for i in range(readings)
    ]


async def run_backend(
    name: str, database: str, terminals: int, readings: int, rounds: int, concurrency: int
) -> dict[str, float]:
    storage: Storage = await open_storage(database)
    modems = [f"{10**9 + i:010d}" for i in range(terminals)]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    try:
        for modem in modems:
            await storage.enrol(modem, "bench", at=start)
        semaphore = asyncio.Semaphore(concurrency)

        async def upload(modem: str, records: list[QueuedRecord]) -> int:
            async with semaphore:
                return (await storage.store_batch(modem, records)).stored

        elapsed = 0.0
        stored = 0
        last: list[QueuedRecord] = []
        for round_no in range(rounds):
            last = batch(round_no, readings, start)
            began = time.perf_counter()
            results = await asyncio.gather(*(upload(m, last) for m in modems))
            elapsed += time.perf_counter() - began
            stored += sum(results)
        began = time.perf_counter()
        again = await asyncio.gather(*(upload(m, last) for m in modems))
        retry_elapsed = time.perf_counter() - began
        if sum(again) or stored != terminals * readings * rounds:
            raise SystemExit(f"{name}: stored {stored} + {sum(again)} on retry: not idempotent")
        began = time.perf_counter()
        for modem in modems[:100]:
            await storage.latest(modem)
        latest_elapsed = time.perf_counter() - began
    finally:
        await storage.close()
    return {
        "rows_per_s": stored / elapsed,
        "batches_per_s": terminals * rounds / elapsed,
        "ms_per_batch": 1000 * elapsed / (terminals * rounds),
        "retry_batches_per_s": terminals / retry_elapsed,
        "latest_ms": 1000 * latest_elapsed / 100,
    }


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with _cluster_module().throwaway_cluster(durable=True) as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=60, help="readings per batch")
    parser.add_argument("--rounds", type=int, default=3, help="batches per terminal")
    parser.add_argument("--concurrency", type=int, default=16, help="uploads in flight")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a scratch database: it is filled)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    shape = (args.terminals, args.readings, args.rounds, args.concurrency)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = asyncio.run(
            run_backend("SQLite", os.path.join(tmp, "bench.sqlite3"), *shape)
        )
    if not args.no_postgres:
        with postgres(args.postgres) as url:
            results["PostgreSQL"] = asyncio.run(run_backend("PostgreSQL", url, *shape))
    print(
        f"{args.terminals} terminals x {args.readings} readings per batch x {args.rounds} "
        f"rounds, {args.concurrency} uploads in flight (CPU count {os.cpu_count()})"
    )
    print(
        f"{'backend':<11} {'rows/s':>9} {'batches/s':>10} {'ms/batch':>9} "
        f"{'retry batches/s':>16} {'latest ms':>10}"
    )
    for name, figures in results.items():
        print(
            f"{name:<11} {figures['rows_per_s']:>9.0f} {figures['batches_per_s']:>10.0f} "
            f"{figures['ms_per_batch']:>9.2f} {figures['retry_batches_per_s']:>16.0f} "
            f"{figures['latest_ms']:>10.2f}"
        )


if __name__ == "__main__":
    main()
