"""Bus cycle time on a baud-paced line ÷ the wire floor of the cheapest plan.

A :class:`~hardware_bridge.simulators.modbus_fault_proxy.FaultProxy` with ``baudrate`` sits
between the bus master and the simulated devices: every frame takes its wire time (10-bit
characters at the line's baud rate), a device starts on a request t3.5 after it, and answers
after a fixed reaction time. The floor of one poll cycle is what the cheapest plan for every
device (an exact split, :func:`plan_reads` with ``request_cost``) occupies such a line:
per read (8 + 5 + 2N) characters + 2 × t3.5 + the reaction time. The ratio says how much the
bus master — planning with its *measured* reaction times, pacing, draining, pymodbus's serial
transport, the event loop — adds to the physics.

For 1 and 32 devices every value of each device is read (profiles in turn); for 247 devices
each device's first four values (by address) are read, to keep a run to a few minutes.

Run alone: ``python -m benchmarks.bench_bus [--baud 9600] [--reaction-ms 20]``; ``scripts/bench``
runs it together with the other benchmarks and writes docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection

from hardware_bridge.modbus import (
    ModbusBus,
    Profile,
    load_catalogue,
    plan_reads,
    request_cost,
    silent_interval,
)
from hardware_bridge.serial_line import SerialSettings, char_time
from hardware_bridge.simulators.modbus_fault_proxy import FaultProxy
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

DEVICE_COUNTS = (1, 32, 247)
SUBSET_FROM = 100
"""From this many devices on, each device's first four values are read, not all."""


@dataclass(frozen=True, slots=True)
class CycleResult:
    devices: int
    keys_per_device: str
    requests: int
    floor: float
    best: float
    median: float
    cycles: int
    failed: int

    @property
    def ratio(self) -> float:
        """Best cycle ÷ floor: other load on the machine only ever adds time (as timeit)."""
        return self.best / self.floor


def _wanted(profile: Profile, devices: int) -> list[str] | None:
    if devices < SUBSET_FROM:
        return None
    return [p.key for p in sorted(profile.points, key=lambda p: p.address)[:4]]


def floor_time(
    line: SerialSettings, reaction: float, work: list[tuple[Profile, list[str] | None]]
) -> tuple[float, int]:
    """Wire time of the cheapest plans for ``work`` on ``line`` (and how many reads)."""
    tc, t35 = char_time(line), silent_interval(line)
    cost = request_cost(line, reaction)
    total, reads = 0.0, 0
    for profile, keys in work:
        for read in plan_reads(profile, keys, request_cost=cost):
            total += (13 + 2 * read.count) * tc + 2 * t35 + reaction
            reads += 1
    return total, reads


def _devices(count: int) -> list[SimulatedDevice]:
    # register devices only: the floor below counts register reads
    catalogue = sorted((p for p in load_catalogue() if p.points), key=lambda p: p.id)
    return [
        SimulatedDevice(device_id=i, profile=catalogue[(i - 1) % len(catalogue)])
        for i in range(1, count + 1)
    ]


def _serve_line(count: int, baud: int, reaction: float, conn: Connection) -> None:
    """In a process of its own: the simulated devices behind a baud-paced proxy."""

    async def serve() -> None:
        async with ModbusLineSimulator(_devices(count)) as sim:
            with FaultProxy(sim.path, reaction=reaction, baudrate=baud) as proxy:
                conn.send(proxy.path)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, conn.recv)  # until told to stop
                errors = [repr(e) for e in proxy.errors]
        conn.send(errors)

    asyncio.run(serve())


@contextmanager
def paced_line(count: int, *, baud: int, reaction: float) -> Iterator[str]:
    """The line's port path; the devices run in another process, so that neither their
    simulator nor the proxy shares an interpreter (or its lock) with the bus measured."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_line, args=(count, baud, reaction, theirs), daemon=True
    )
    process.start()
    try:
        if not ours.poll(120):
            raise RuntimeError("the simulated line did not start")
        yield str(ours.recv())
        ours.send("stop")
        errors = ours.recv() if ours.poll(30) else ["no answer from the line process"]
        if errors:
            raise RuntimeError(f"simulated line failed: {errors[0]}")
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()


async def measure(devices: int, *, baud: int, reaction: float, cycles: int) -> CycleResult:
    sims = _devices(devices)
    work = [(d.profile, _wanted(d.profile, devices)) for d in sims]
    line = SerialSettings(port="bench", baudrate=baud)
    floor, reads = floor_time(line, reaction, work)
    times: list[float] = []
    failed = 0
    with paced_line(devices, baud=baud, reaction=reaction) as path:
        settings = SerialSettings(port=path, baudrate=baud)
        async with ModbusBus(settings, timeout=max(0.5, 10 * reaction)) as bus:
            for cycle in range(cycles + 1):  # the first cycle measures reaction times
                started = time.perf_counter()
                for device, (profile, keys) in zip(sims, work, strict=True):
                    reading = await bus.read_device(device.device_id, profile, keys)
                    failed += 0 if reading.complete else 1
                if cycle:
                    times.append(time.perf_counter() - started)
    return CycleResult(
        devices=devices,
        keys_per_device="first 4" if devices >= SUBSET_FROM else "all",
        requests=reads,
        floor=floor,
        best=min(times),
        median=statistics.median(times),
        cycles=cycles,
        failed=failed,
    )


def section(*, baud: int = 9600, reaction: float = 0.020) -> str:
    """The docs/benchmarks.md section: one measurement per device count, in one run."""
    rows = []
    for devices in DEVICE_COUNTS:
        cycles = 3 if devices >= SUBSET_FROM else 5
        rows.append(asyncio.run(measure(devices, baud=baud, reaction=reaction, cycles=cycles)))
    out = [
        f"## Modbus poll cycle on a baud-paced line ({baud} 8N1, "
        f"{reaction * 1000:g} ms device reaction time)",
        "",
        "Every frame takes its wire time (a proxy delivers it when its last byte would arrive), "
        "each device answers t3.5 + the reaction time after a request. Floor: the cheapest "
        "plan of every device on such a line. Cycles are measured after one cycle in which the "
        "bus measures each device's reaction time; the ratio uses the best of them (other load "
        "on the machine only ever adds time), the median is shown too.",
        "",
        "| devices | values per device | reads (cheapest plan) | wire floor | best cycle "
        "| median cycle | **best cycle ÷ floor** | median ÷ floor | failed reads |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.devices} | {r.keys_per_device} | {r.requests} | {r.floor:.3f} s "
            f"| {r.best:.3f} s | {r.median:.3f} s | **{r.ratio:.3f}** "
            f"| {r.median / r.floor:.3f} | {r.failed} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--reaction-ms", type=float, default=20.0)
    args = parser.parse_args()
    print(section(baud=args.baud, reaction=args.reaction_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
