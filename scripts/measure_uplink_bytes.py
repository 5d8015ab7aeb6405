"""The daemon's real uplink bytes: ``smartpower-bridge run``'s engines against the simulators,
uploading to a counting fake server, on a clock running ``--speed`` times real time.

Everything is the daemon's own path — line pollers, the queue, the forwarder, the uploader
(:class:`~hardware_bridge.daemon.uplink_client.ApiUplink`), its HTTP client — and the fake
server (``tests/bridge/daemon/fake_server.py``) counts each request as it arrives: request
line, headers and the gzip'd body. TLS and TCP/IP overhead are not on this loopback link; they
are added from ``docs/uplink-bytes.md``'s per-upload estimate when printing the month.

    PYTHONPATH=. python scripts/measure_uplink_bytes.py typical --hours 2 --speed 30
    PYTHONPATH=. python scripts/measure_uplink_bytes.py 247 --hours 1 --speed 10

Scenarios (as in ``scripts/bench_uplink_bytes.py``):
- ``typical``: one IEC 62056-21 meter (``makel_c520_3p``) read every 15 min, an
  ``eastron_sdm630`` and a ``kael_varkombi`` on RS-485, fast values every 10 s, counters every
  15 min; batches every 15 min;
- ``247``: 247 devices on one RS-485 line (``eastron_sdm630`` and ``kael_varkombi``
  alternating), fast values every 120 s, counters every 15 min; batches every 15 min.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hardware_bridge.daemon import Forwarder, Runner, load_config_text
from hardware_bridge.daemon.uplink_client import ApiUplink, write_pending_auth_code
from hardware_bridge.modbus import load_catalogue
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import TerminalIdentity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "bridge" / "daemon"))
from fake_server import FakeServer

START = datetime(2026, 11, 30, tzinfo=UTC)
MONTH = timedelta(days=30)
TRANSPORT_PER_UPLOAD = {"typical": 2200, "247": 6400}
"""TLS + TCP/IP bytes per upload beyond the HTTP request (docs/uplink-bytes.md's estimate)."""


class ScaledClock:
    """Monotonic and wall time running ``speed`` times real time; sleeps shortened to match."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def monotonic(self) -> float:
        return self._elapsed()

    def wall(self) -> datetime:
        return START + timedelta(seconds=self._elapsed())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def _config(
    state_dir: Path, url: str, modbus: str, meter: tuple[str, str] | None, fast: str
) -> str:
    text = f"""\
state_dir: {state_dir}
send_period: 15m
upstream:
  url: {url}
lines:
  - name: rs485
    port: {modbus}
    protocol: modbus
    poll_interval: {fast}
    slow_interval: 15m
    timeout: 300ms
    devices:
"""
    return (
        text
        + "{devices}"
        + (
            ""
            if meter is None
            else f"""\
  - name: optical
    port: {meter[0]}
    protocol: iec62056
    poll_interval: 15m
    devices:
      - {{name: main_meter, address: "{meter[1]}"}}
"""
        )
    )


async def measure(scenario: str, hours: float, speed: float, batch_records: int | None) -> None:
    if batch_records is not None:  # the forwarder's records per batch (the runner's default)
        defaults = Forwarder.__init__.__kwdefaults__
        assert defaults is not None
        defaults["batch_records"] = batch_records
    catalogue = load_catalogue()
    sdm, kael = catalogue.get("eastron_sdm630"), catalogue.get("kael_varkombi")
    if scenario == "typical":
        devices = [
            SimulatedDevice(device_id=1, profile=sdm),
            SimulatedDevice(device_id=3, profile=kael),
        ]
        fast = "10s"
    else:
        devices = [
            SimulatedDevice(device_id=i, profile=sdm if i % 2 else kael) for i in range(1, 248)
        ]
        fast = "120s"
    listing = "".join(
        f"      - {{name: d{d.device_id}, address: {d.device_id}, profile: {d.profile.id}}}\n"
        for d in devices
    )
    server = await FakeServer().start()
    meter = SimulatedMeter("makel_c520_3p", time_scale=speed, start=START)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        async with (
            ModbusLineSimulator(devices, update_interval=0.1, time_scale=speed) as sim,
            MeterSimulator([meter], reaction_time=0.01) as meter_sim,
        ):
            optical = (meter_sim.path, meter.address) if scenario == "typical" else None
            text = _config(state, server.url, sim.path, optical, fast).replace("{devices}", listing)
            config = load_config_text(text, catalogue=catalogue)
            opened = TerminalIdentity.open(state)
            assert opened.new_auth_code is not None
            write_pending_auth_code(state, opened.new_auth_code)
            uplink = ApiUplink(opened.identity, state, server=server.url)
            clock = ScaledClock(speed)
            runner = Runner(
                config, opened.identity, uplink=uplink, clock=clock, catalogue=catalogue
            )
            uplink.attach(runner)
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(hours * 3600 / speed)
            simulated = clock.monotonic()
            runner.stop()
            await task
            await uplink.close()
    await server.close()
    readings = len(server.readings)
    per_month = MONTH.total_seconds() / simulated
    batches = server.requests_by_kind.get("batches", 0)
    batch_http = server.bytes_by_kind.get("batches", 0)
    once = {k: v for k, v in server.bytes_by_kind.items() if k != "batches"}
    body = server.batch_body_bytes
    # TLS/TCP per upload (every 15 min; the batches of one upload share a connection)
    transport = TRANSPORT_PER_UPLOAD[scenario] * 96 * 30
    print(f"scenario {scenario}: {simulated / 3600:.2f} simulated hours at {speed:g}x")
    print(f"  readings uploaded     {readings} ({readings / simulated * 86400:,.0f}/day)")
    print(f"  events, gaps          {len(server.events)}, {len(server.gaps)}")
    print(f"  batch requests        {batches} ({batches / simulated * 900:.1f} per 15 min)")
    print(f"  gzip'd batch bodies   {body} B, {body / readings:.2f} B/reading")
    print(f"  batch HTTP requests   {batch_http} B, {batch_http / readings:.2f} B/reading")
    print(f"  other requests        {once} (enrolment, description: once, and on change)")
    print(
        f"  per 30-day month: bodies {body * per_month / 1e6:.1f} MB, batch HTTP "
        f"{batch_http * per_month / 1e6:.1f} MB, + TLS/TCP {transport / 1e6:.1f} MB = "
        f"{(batch_http * per_month + transport) / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["typical", "247"])
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours")
    parser.add_argument("--speed", type=float, default=30.0, help="simulated seconds per second")
    parser.add_argument(
        "--batch-records", type=int, help="records per batch (default: the daemon's)"
    )
    args = parser.parse_args()
    asyncio.run(measure(args.scenario, args.hours, args.speed, args.batch_records))


if __name__ == "__main__":
    main()
