"""``kill -9`` of the whole daemon, over and over: nothing committed is lost or duplicated.

The daemon runs as a process (``python -m hardware_bridge run``) against a simulated SDM630 and
a fake server that is slow to answer, with a one-second send period. It is killed with SIGKILL
at seeded random moments — while it starts, while it polls, while a batch is on its way (before
the server stored it, or after, with the answer lost), while it stops — and restarted on the
same state directory, until it has been killed 100 times. Then it runs until the server has its
backlog and stops cleanly, and the receiving end is counted: every sequence number the queue
ever gave arrived exactly once, in one stream, each with the record the queue holds under it,
and every reading with the value the meter served while that daemon ran (the simulated meter
moves on only between two runs). About 90 s on two cores; most of a run's start-up (0.6-0.9 s
to the first poll) is importing aiohttp and loading the profile catalogue.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_bridge.api import BatchReading
from hardware_bridge.modbus import Value, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import HistoryPage, QueueStats, ReadingQueue, Record

from .slow_server import SlowServer

pytestmark = pytest.mark.usefixtures("socket_enabled")

KILLS = 100
SEED = 20261130
SLOW = 0.4
"""The server's longest wait before storing a batch, and again before answering it."""
DEVICE = "analyser"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, port: str, server: str) -> Path:
    path = tmp_path / "terminal.yaml"
    path.write_text(
        f"""\
state_dir: {tmp_path / "state"}
listen: 127.0.0.1:{_free_port()}
send_period: 1s
upstream:
  url: {server}
lines:
  - name: rs485
    port: {port}
    protocol: modbus
    poll_interval: 1s
    slow_interval: 1s
    timeout: 300ms
    devices:
      - {{name: {DEVICE}, address: 1, profile: eastron_sdm630}}
"""
    )
    return path


@dataclass
class Run:
    """One daemon process: when it ran, and the simulated time the meter stood at."""

    started: datetime
    ended: datetime
    sim_time: float
    killed_in: str


async def _wait(event: asyncio.Event, check: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not check():
            event.clear()
            await event.wait()


async def test_a_hundred_kills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    catalogue = load_catalogue()
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    server = SlowServer.seeded(rng, SLOW)
    await server.start()
    logs = tmp_path / "daemon.log"
    runs: list[Run] = []
    startups: list[float] = []
    try:
        async with ModbusLineSimulator(devices) as sim:
            config = _config(tmp_path, sim.path, server.url)
            images: dict[float, dict[str, Value]] = {}

            async def start() -> asyncio.subprocess.Process:
                images[sim.time] = sim.values(1)
                with logs.open("ab") as log:
                    return await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "hardware_bridge",
                        "run",
                        "--config",
                        str(config),
                        "--no-qr",
                        stdout=log,
                        stderr=log,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    )

            kills = 0
            while kills < KILLS:  # a stop may end before its kill: counted are kills
                number = len(runs)
                spawned = time.monotonic()
                started = datetime.now(UTC)
                requests = sim.requests_seen(1)
                process = await start()
                if number == 0:
                    # enrolled first: the plain auth code lives only in the pending file until
                    # the server has it, and a kill after the identity is made but before that
                    # file is written leaves a terminal that needs 'auth-code --renew'
                    await _wait(server.changed, lambda: server.secret is not None)
                mode = rng.choice(("start", "poll", "upload", "upload", "stopping"))
                if mode == "start":
                    await asyncio.sleep(rng.uniform(0, 1.0))
                elif mode in ("poll", "stopping"):
                    wanted = requests + rng.randint(1, 8)
                    async with asyncio.timeout(30):
                        await sim.wait_for_requests(1, wanted)
                    startups.append(time.monotonic() - spawned)
                    if mode == "stopping":  # killed during its clean stop's last upload
                        process.send_signal(signal.SIGTERM)
                        await asyncio.sleep(rng.uniform(0, 0.5))
                    else:
                        await asyncio.sleep(rng.uniform(0, 0.05))
                else:
                    await _wait(server.arrived, lambda: server.in_flight > 0)
                    await asyncio.sleep(rng.uniform(0, server.last_hold + 0.02))
                killed_in = "upload" if server.in_flight else mode
                if process.returncode is None:
                    process.send_signal(signal.SIGKILL)
                await process.wait()
                ended = {-signal.SIGKILL} | ({0} if mode == "stopping" else set())
                assert process.returncode in ended, f"run {number} ended by itself"
                kills += process.returncode == -signal.SIGKILL
                runs.append(Run(started, datetime.now(UTC), sim.time, killed_in))
                sim.advance(rng.uniform(30, 900))  # the meter moves on while no daemon runs

            # the last run: until the backlog is acknowledged, then a clean stop, which sends
            # the rest (the queue must be empty after it)
            started = datetime.now(UTC)
            process = await start()
            before = server.uploads
            await _wait(server.changed, lambda: server.uploads >= before + 2)
            process.send_signal(signal.SIGTERM)  # a stop sends what is still queued
            async with asyncio.timeout(60):
                await process.wait()
            assert process.returncode == 0, logs.read_text()[-3000:]
            runs.append(Run(started, datetime.now(UTC), sim.time, "stop"))
    finally:
        await server.close()

    stats, page = await asyncio.to_thread(_read_queue, tmp_path / "state" / "queue.sqlite3")
    committed: dict[int, Record] = {q.seq: q.item for q in page.records}  # type: ignore[misc]
    text = logs.read_text()

    assert "Traceback" not in text, text[text.index("Traceback") - 2000 :][:6000]
    assert stats.dropped == 0  # the bound never dropped a reading: no gap may account for one
    assert stats.pending == 0, "the clean stop left readings queued"
    assert stats.last_seq > 0
    assert stats.last_seq == len(committed), "the queue's history is not complete"

    # every sequence number the queue gave, stored once, in one stream
    seqs = sorted(s.seq for s in server.log)
    assert seqs == list(range(1, stats.last_seq + 1)), _difference(seqs, stats.last_seq)
    assert {stats.queue_id.startswith(s.stream) for s in server.log} == {True}
    assert server.gaps == {}

    # each with the record the queue holds under that number (not another reading renumbered)
    readings = [s.item for s in server.log if isinstance(s.item, BatchReading)]
    assert len(readings) > 0.9 * len(server.log)
    for stored in server.log:
        record = committed[stored.seq]
        assert (stored.item.device, stored.item.key) == (record.device, record.key), stored
        assert abs(stored.item.time - record.time) < timedelta(milliseconds=1), stored
    poll_keys = [(r.device, r.key, r.time) for r in readings]
    assert len(poll_keys) == len(set(poll_keys)), "a poll's reading stored under two numbers"

    # every reading has the value the meter served while the daemon that read it ran
    checked = 0
    for reading in readings:
        run = next((r for r in runs if r.started <= reading.time <= r.ended), None)
        assert run is not None, f"reading {reading} outside every run"
        served = images[run.sim_time][reading.key]
        assert reading.value == served, (reading, served)
        checked += 1
    assert checked == len(readings)

    killed = [run.killed_in for run in runs[:-1]]
    assert len(runs) > KILLS
    assert killed.count("upload") >= KILLS // 4, killed  # the kills hit batches in flight
    assert killed.count("poll") + killed.count("start") >= KILLS // 10, killed
    print(  # measured, for whoever reads the run with -s
        f"{KILLS} kills in {len(runs) - 1} runs ({killed.count('upload')} mid-upload, "
        f"{killed.count('stopping')} stopping), {stats.last_seq} records, "
        f"{server.uploads} batch requests, {server.duplicates} answered as duplicates, "
        f"{server.conflicts} conflicts; start-up to first poll "
        f"median {sorted(startups)[len(startups) // 2]:.2f}s max {max(startups):.2f}s"
    )


def _read_queue(path: Path) -> tuple[QueueStats, HistoryPage]:
    """The queue as the daemon left it: its counters and every record it ever held."""
    with ReadingQueue(path) as queue:
        everything = (datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1))
        return queue.stats(), queue.history(*everything, limit=10**6)


def _difference(seqs: list[int], last: int) -> str:
    seen = set(seqs)
    missing = [n for n in range(1, last + 1) if n not in seen]
    twice = sorted({n for n in seqs if seqs.count(n) > 1})
    return f"missing {missing[:20]} ({len(missing)}), twice {twice[:20]} ({len(twice)})"
