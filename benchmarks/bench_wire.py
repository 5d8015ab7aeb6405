"""Wire-time benchmarks: every figure is a ratio measured or computed in one run.

1. Planner vs one-request-per-value (how other readers poll) and vs the wire-time floor
   (the wanted registers alone, in as few requests as the device's read limit allows), for
   every shipped profile at 9600 8N1 with a 20 ms device reaction time (rtu_timing.md).
2. Software cost of a whole Modbus poll (bus master + pymodbus + a simulated device over a
   pty, which carries bytes instantly) as a fraction of the time the same requests occupy
   the wire at 9600 8N1: below 1 means the serial line, not this code, sets the pace.
3. IEC 62056-21 readout parsing time as a fraction of the readout's wire time at 9600 7E1.
4. A profile's fixed gap limit vs the cheapest split (what the bus plans) at 5 and 20 ms.
5. Bus poll cycle on a baud-paced line ÷ the cheapest plan's wire floor, 1 / 32 / 247
   devices (:mod:`benchmarks.bench_bus`).

Run with ``scripts/bench`` (writes docs/benchmarks.md). ``BENCH_REACTION_MS`` sets the device
reaction time of (5), ``BENCH_BAUD`` its baud rate.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import bench_bus, bench_ha
from hardware_bridge.iec62056 import parse_readout
from hardware_bridge.modbus import (
    ModbusBus,
    Profile,
    ReadRequest,
    load_catalogue,
    plan_reads,
    request_cost,
    silent_interval,
)
from hardware_bridge.serial_line import SerialSettings, char_time
from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

LINE = SerialSettings(port="bench", baudrate=9600)
LATENCY = 0.020  # device reaction time per transaction, s
T35 = silent_interval(LINE)


def transaction_time(registers: int, latency: float = LATENCY) -> float:
    """Seconds one FC03/FC04 read of ``registers`` occupies the line (request + answer)."""
    return (13 + 2 * registers) * char_time(LINE) + 2 * T35 + latency


def floor_time(profile: Profile) -> float:
    """Only the wanted registers, packed into the fewest reads the device allows."""
    total = 0.0
    for fc in sorted({p.function_code for p in profile.points}):
        regs = sum(p.width for p in profile.points if p.function_code == fc)
        reads = math.ceil(regs / profile.max_registers_per_read)
        total += reads * (13 * char_time(LINE) + 2 * T35 + LATENCY) + 2 * regs * char_time(LINE)
    return total


def _register_profiles() -> list[Profile]:
    """Shipped profiles with register points (relay/input boards have none to plan)."""
    return sorted((p for p in load_catalogue() if p.points), key=lambda p: p.id)


def planner_rows() -> list[tuple[str, int, float, float, float]]:
    rows = []
    for profile in _register_profiles():
        plan = plan_reads(profile, None, request_cost=request_cost(LINE, LATENCY))  # as the bus
        planned = sum(transaction_time(r.count) for r in plan)
        naive = sum(transaction_time(p.width) for p in profile.points)
        floor = floor_time(profile)
        rows.append((profile.id, len(plan), planned, planned / naive, planned / floor))
    return rows


async def modbus_poll_ratio(rounds: int = 30) -> tuple[float, float, int]:
    catalogue = load_catalogue()
    profile = catalogue.get("eastron_sdm630")
    device = SimulatedDevice(device_id=1, profile=profile)
    times = []
    async with ModbusLineSimulator([device]) as sim:  # noqa: SIM117 - bus needs sim.path
        async with ModbusBus(SerialSettings(port=sim.path), inter_frame_delay=0.0) as bus:
            await bus.read_device(1, profile)  # warm up (and measure the reaction time)
            for _ in range(rounds):
                start = time.perf_counter()
                reading = await bus.read_device(1, profile)
                times.append(time.perf_counter() - start)
                assert reading.complete, reading.errors
            plan = plan_reads(profile, None, request_cost=bus.request_cost(1))
    wire = sum(transaction_time(r.count, latency=0.0) for r in plan)
    median = statistics.median(times)
    return median, median / wire, len(plan)


def plan_time(plan: list[ReadRequest], latency: float) -> float:
    return sum(transaction_time(r.count, latency) for r in plan)


def gap_limit_rows() -> list[tuple[str, float, float]]:
    """A profile's fixed gap limit (16 or its own max_gap) ÷ the cheapest split, 5 and 20 ms."""
    rows = []
    for profile in _register_profiles():
        ratios = []
        for latency in (0.005, 0.020):
            fixed = plan_reads(profile, None)
            cheapest = plan_reads(profile, None, request_cost=request_cost(LINE, latency))
            ratios.append(plan_time(fixed, latency) / plan_time(cheapest, latency))
        rows.append((profile.id, ratios[0], ratios[1]))
    return rows


def best_of(fn: Callable[[], object], repeat: int = 7, number: int = 20) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def iec_parse_ratio() -> tuple[int, float, float]:
    meter = SimulatedMeter("makel_c520_3p")
    ident = meter.identification
    block = meter.data_block("0")
    capture = f"/{ident.manufacturer}{ident.baud_char}{ident.tag or ''}{ident.ident}\r\n".encode()
    capture += block
    seconds = best_of(lambda: parse_readout(capture))
    wire = len(capture) * 10 / 9600  # 7E1: 10 bits per character
    return len(capture), seconds, seconds / wire


def main() -> int:
    out = ["# Benchmarks", "", "Generated by `scripts/bench`; ratios measured in one run.", ""]
    out += [
        "## Modbus request planner (9600 8N1, 20 ms device reaction time)",
        "",
        "Full reads planned as the bus plans them (the cheapest split for this line and "
        "reaction time). Floor: the wanted registers alone, in as few reads as the device "
        "allows (unreachable where values are far apart).",
        "",
        "| profile | requests | poll wire time | ÷ one request per value | ÷ wire-time floor |",
        "|---|---|---|---|---|",
    ]
    for pid, n, planned, vs_naive, vs_floor in planner_rows():
        out.append(f"| {pid} | {n} | {planned * 1000:.0f} ms | {vs_naive:.2f} | {vs_floor:.2f} |")
    median, ratio, n = asyncio.run(modbus_poll_ratio())
    out += [
        "",
        "## Software cost of a Modbus poll",
        "",
        f"Eastron SDM630, every value ({n} requests) through the bus master, pymodbus and a "
        f"simulated device on a pty: median {median * 1000:.1f} ms, **{ratio:.3f}×** the time "
        "the same frames occupy a 9600 8N1 line (without device reaction time).",
    ]
    out += [
        "",
        "## Fixed gap limit vs the cheapest split (9600 8N1)",
        "",
        "Wire time of a full read planned with a fixed gap limit (16 registers, or the profile's "
        "own `max_gap`) ÷ the cheapest split, which the bus plans with each device's measured "
        "reaction time.",
        "",
        "| profile | 5 ms reaction | 20 ms reaction |",
        "|---|---|---|",
    ]
    for pid, at5, at20 in gap_limit_rows():
        out.append(f"| {pid} | {at5:.3f} | {at20:.3f} |")
    size, seconds, ratio = iec_parse_ratio()
    out += [
        "",
        "## IEC 62056-21 readout parsing",
        "",
        f"Makel C520 full readout ({size} bytes): parsing takes **{ratio:.4f}×** its wire time at "
        f"9600 7E1 ({seconds * 1e6:.0f} µs).",
        "",
    ]
    baud = int(os.environ.get("BENCH_BAUD", "9600"))
    reaction = float(os.environ.get("BENCH_REACTION_MS", "20")) / 1000
    out += [bench_bus.section(baud=baud, reaction=reaction), ""]
    out += [bench_ha.markdown(bench_ha.run())]
    out += [
        "## How to reproduce",
        "",
        "`scripts/bench` (rewrites this file; about five minutes). "
        "`BENCH_REACTION_MS=5 scripts/bench` for another device reaction time, `BENCH_BAUD` for "
        "another baud rate; `python -m benchmarks.bench_bus --baud 9600 --reaction-ms 20` runs "
        "the poll-cycle benchmark alone. The machine's other load shows in the poll-cycle "
        "ratios (timer wake-ups of the proxy and of the bus): compare figures of one run. "
        "`python -m benchmarks.bench_ha` runs the Home Assistant benchmark alone.",
        "",
    ]
    text = "\n".join(out)
    print(text)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if target is not None:
        target.write_text(text + _kept_sections(target), encoding="utf-8")
    return 0


# Sections other benchmarks write into the same file (scripts/bench_server.py): kept as they are.
_OTHER_SECTIONS = ("## SmartPower server under load",)


def _kept_sections(target: Path) -> str:
    """The sections of ``target`` this benchmark does not write, from the first of them on."""
    if not target.exists():
        return ""
    old = target.read_text(encoding="utf-8")
    starts = [i for heading in _OTHER_SECTIONS if (i := old.find("\n" + heading)) >= 0]
    return "\n" + old[min(starts) + 1 :] if starts else ""


if __name__ == "__main__":
    sys.exit(main())
