"""Load on the SmartPower server over HTTP: many terminals uploading at once, SQLite and PostgreSQL.

N simulated terminals (a typical site each: one meter and two Modbus devices) enrol with a
server started as its own process (``smartpower-bridge server``), then each uploads one gzip'd
batch per send period — 15 minutes compressed to ``--period`` seconds — at its own offset in
the period, as a fleet's terminals spread over time. Every upload's latency is measured at the
terminal; the server process's CPU time (and, on PostgreSQL, that of the database's processes)
is read from /proc before and after, so the CPU per reading is what the server really spent.

    python scripts/bench_server.py [--terminals 1000] [--period 20] [--rounds 3]
        [--readings 60] [--postgres URL | --no-postgres] [--markdown]

Without ``--postgres`` a throwaway PostgreSQL is started from Debian's binaries with its
default durability (fsync on). Both backends run in one invocation, so their figures compare.
The load generator shares the machine with the server: its own CPU is not counted, but it
competes for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from hardware_bridge.api import (  # noqa: E402
    Batch,
    BatchReading,
    Enrolment,
    SmartPowerClient,
    encode_batch,
)

_DEVICES = (("meter", "kWh"), ("analyzer-1", "V"), ("analyzer-2", "A"))
_TICKS = os.sysconf("SC_CLK_TCK")


def _cluster_module():  # type: ignore[no-untyped-def]
    path = ROOT / "tests" / "bridge" / "server" / "postgres_cluster.py"
    spec = importlib.util.spec_from_file_location("postgres_cluster", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _postgres_pids(port: int) -> list[int]:
    """The postmaster listening on ``port`` and its backends."""
    master = None
    stats: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            stats[int(entry.name)] = int(fields[1])
            if master is None:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                if b"postgres" in cmdline and f"port={port}".encode() in cmdline:
                    master = int(entry.name)
    if master is None:
        return []
    return [master] + [pid for pid, parent in stats.items() if parent == master]


def make_batch(round_no: int, readings: int, start: datetime) -> Batch:
    """One send period of a typical site: every device's values at five polls."""
    first = round_no * readings + 1
    at = start + timedelta(minutes=15 * round_no)
    polls = 5
    per_poll = max(1, readings // polls)
    items = tuple(
        BatchReading(
            seq=first + i,
            device=_DEVICES[i % 3][0],
            key=f"value_{(i % per_poll) // 3:02d}",
            value=round(230.0 + (i % 17) * 0.1, 1),
            unit=_DEVICES[i % 3][1],
            time=at + timedelta(minutes=3 * (i // per_poll)),
        )
        for i in range(readings)
    )
    return Batch(
        batch_id=f"b-{round_no}",
        first_seq=first,
        last_seq=first + readings - 1,
        created=at,
        readings=items,
    )


@dataclass
class Result:
    backend: str
    terminals: int
    readings: int
    wall: float
    latencies: list[float]
    server_cpu: float
    database_cpu: float | None
    failures: int


async def _start_server(
    database: str | None, state_dir: Path
) -> tuple[asyncio.subprocess.Process, str]:
    args = [sys.executable, "-m", "hardware_bridge", "server", "--listen", "127.0.0.1:0"]
    args += ["--state-dir", str(state_dir), "--retention", "0", "--log-level", "warning"]
    if database is not None:
        args += ["--database", database]
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    if not line.startswith("listening on "):
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, line.split("listening on ")[1].strip()


async def run(
    backend: str,
    database: str | None,
    *,
    terminals: int,
    readings: int,
    rounds: int,
    period: float,
    postgres_port: int | None,
) -> Result:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="bench-server-") as directory:
        process, url = await _start_server(database, Path(directory))
        connector = aiohttp.TCPConnector(limit=256)
        try:
            async with aiohttp.ClientSession(connector=connector) as session:
                modems = [f"BENCH{index:06d}" for index in range(terminals)]
                clients: list[SmartPowerClient] = []
                gate = asyncio.Semaphore(32)

                async def enrol(modem_no: str) -> SmartPowerClient:
                    secret = secrets.token_urlsafe(32)
                    client = SmartPowerClient(session, url, timeout=120)
                    async with gate:
                        await client.enrol(
                            modem_no, Enrolment(terminal_secret=secret, auth_code="BENCH-CODE")
                        )
                    client.token = secret
                    return client

                clients = list(await asyncio.gather(*(enrol(m) for m in modems)))
                bodies = [
                    encode_batch(make_batch(r, readings, start), level=6) for r in range(rounds)
                ]
                latencies: list[float] = []
                failures = 0

                async def upload(index: int, round_no: int) -> None:
                    nonlocal failures
                    offset = period * index / terminals
                    await asyncio.sleep(
                        max(0.0, t0 + round_no * period + offset - time.monotonic())
                    )
                    began = time.perf_counter()
                    try:
                        async with session.post(
                            f"{url}/api/v1/modems/{modems[index]}/batches",
                            data=bodies[round_no],
                            headers={
                                "Authorization": f"Bearer {clients[index].token}",
                                "Content-Type": "application/json",
                                "Content-Encoding": "gzip",
                            },
                            timeout=aiohttp.ClientTimeout(total=300),
                        ) as response:
                            await response.read()
                            if response.status != 200:
                                failures += 1
                    except (aiohttp.ClientError, TimeoutError):
                        failures += 1
                    latencies.append(time.perf_counter() - began)

                db_pids = _postgres_pids(postgres_port) if postgres_port is not None else []
                cpu_before = _cpu_seconds([process.pid])
                db_before = _cpu_seconds(db_pids)
                t0 = time.monotonic() + 0.5
                wall_start = time.perf_counter()
                await asyncio.gather(
                    *(upload(i, r) for r in range(rounds) for i in range(terminals))
                )
                wall = time.perf_counter() - wall_start
                server_cpu = _cpu_seconds([process.pid]) - cpu_before
                db_cpu = _cpu_seconds(db_pids) - db_before if db_pids else None
        finally:
            process.terminate()
            await process.wait()
    return Result(
        backend=backend,
        terminals=terminals,
        readings=terminals * rounds * readings,
        wall=wall,
        latencies=sorted(latencies),
        server_cpu=server_cpu,
        database_cpu=db_cpu,
        failures=failures,
    )


def _p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def _row(result: Result) -> str:
    per_reading = result.server_cpu / result.readings * 1e6
    db = (
        "—"
        if result.database_cpu is None
        else f"{result.database_cpu / result.readings * 1e6:.0f} µs"
    )
    return (
        f"| {result.backend} | {result.readings / result.wall:,.0f} | "
        f"{statistics.median(result.latencies) * 1000:.0f} ms | "
        f"{_p(result.latencies, 0.99) * 1000:.0f} ms | {per_reading:.0f} µs | {db} | "
        f"{result.failures} |"
    )


@contextlib.contextmanager
def _postgres(url: str | None, enabled: bool) -> Iterator[str | None]:
    if not enabled:
        yield None
    elif url:
        yield url
    else:
        cluster = _cluster_module()
        with cluster.throwaway_cluster(durable=True) as server_url:
            yield server_url


async def _create_database(server: str) -> str:
    import asyncpg  # noqa: PLC0415

    name = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return f"{server.rpartition('/')[0]}/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=60, help="readings per batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--period", type=float, default=20.0, help="15 min compressed to this")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: a throwaway one)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = []
    results.append(
        asyncio.run(
            run(
                "SQLite",
                None,
                terminals=args.terminals,
                readings=args.readings,
                rounds=args.rounds,
                period=args.period,
                postgres_port=None,
            )
        )
    )
    with _postgres(args.postgres, not args.no_postgres) as server:
        if server is not None:
            database = asyncio.run(_create_database(server))
            port = int(server.rpartition(":")[2].split("/")[0])
            results.append(
                asyncio.run(
                    run(
                        "PostgreSQL",
                        database,
                        terminals=args.terminals,
                        readings=args.readings,
                        rounds=args.rounds,
                        period=args.period,
                        postgres_port=port if not args.postgres else None,
                    )
                )
            )
    offered = args.terminals * args.readings / args.period
    print(
        f"{args.terminals} terminals × {args.readings} readings per batch, one batch per "
        f"{args.period:g} s (15 min compressed {900 / args.period:.0f}×), {args.rounds} rounds; "
        f"offered {offered:,.0f} readings/s\n"
    )
    print(
        "| backend | readings/s | median upload | p99 upload | server CPU per reading "
        "| database CPU per reading | failed uploads |"
    )
    print("|---|---|---|---|---|---|---|")
    for result in results:
        print(_row(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
