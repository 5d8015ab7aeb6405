"""``scripts/develop``: a real Home Assistant with this integration and simulated devices.

Starts the simulators (an RS-485 line with an Eastron SDM630 at address 1 and a compensation
relay at 2; an optical head with a Makel meter), links their ptys at stable paths under
``.dev/serial/``, writes ``.dev/config`` (kept between runs: your user, entries and history
stay), runs Home Assistant on http://127.0.0.1:8123 and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import devices_from_specs

from .harness import (
    DEVELOP_INTEGRATIONS,
    REPO,
    HomeAssistantProcess,
    SimulatedPanel,
    frontend_installed,
    write_config,
)

DEFAULT_DEVICES = ["1:eastron_sdm630", "2:generic_compensation_relay"]


def _instructions(url: str, panel: SimulatedPanel, meter: SimulatedMeter) -> str:
    return f"""
Home Assistant is running at {url}  (log: .dev/config/home-assistant.log)

  1. Open {url} and create your user (first start only).
  2. Settings → Devices & services → Add integration → "SmartPower Terminal".
  3. RS-485 line: serial port {panel.modbus_port}
     protocol "Modbus RTU", then baud rate 9600, parity none.
     On the line: Add Modbus device → scan 1–5, or manual: address 1, profile eastron_sdm630;
     address 2, profile generic_compensation_relay.
  4. Optical head: Add integration again, serial port {panel.meter_port}
     protocol "IEC 62056-21 meters"; then Add meter (address {meter.address}, or leave empty).
  5. Open a device to watch live values (they change every second; the meter's clock runs 60×).

Ctrl-C stops Home Assistant and the simulators.
"""


async def run(args: argparse.Namespace) -> int:
    dev = Path(args.dir).resolve()
    config_dir = dev / "config"
    if not frontend_installed():
        print("develop: the Home Assistant frontend is not installed; run scripts/setup")
        return 1
    catalogue = load_catalogue()
    meter = SimulatedMeter("makel_c520_3p", time_scale=60.0)
    panel = SimulatedPanel(
        dev / "serial",
        devices=devices_from_specs(args.device or DEFAULT_DEVICES, catalogue),
        meters=[meter],
        update_interval=1.0,
        meter_reaction_time=0.2,
    )
    write_config(config_dir, args.port, frontend=True, extra=DEVELOP_INTEGRATIONS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with panel:
        process = HomeAssistantProcess(config_dir, args.port)
        process.start()
        try:
            print(f"develop: starting Home Assistant (config {config_dir.relative_to(REPO)}) …")
            await process.wait_until_serving(timeout=180)
            print(_instructions(process.url, panel, meter), flush=True)
            waiter = asyncio.create_task(stop.wait())
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=1)
                if not process.running:
                    print(f"develop: Home Assistant exited:\n{process.log_tail(30)}")
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
                    return 1
        finally:
            print("develop: stopping Home Assistant and the simulators …", flush=True)
            process.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/develop", description=__doc__)
    parser.add_argument("--port", type=int, default=8123, help="HTTP port (default 8123)")
    parser.add_argument("--dir", default=str(REPO / ".dev"), help="state folder (default .dev)")
    parser.add_argument(
        "--device",
        action="append",
        metavar="ID:PROFILE",
        help=f"simulated Modbus device (repeat; default {' '.join(DEFAULT_DEVICES)})",
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
