"""``scripts/develop``: a real Home Assistant with this integration and simulated devices.

Starts the simulators (an RS-485 line with an Eastron SDM630 at address 1, a compensation
relay at 2 and a Waveshare relay board with 8 relays and 8 inputs at 3; an optical head with a
Makel meter), links their ptys at stable paths under ``.dev/serial/``, writes ``.dev/config``
(kept between runs: your user, entries and history stay), runs Home Assistant on
http://127.0.0.1:8123 and stops everything on Ctrl-C. While it runs, the board's inputs and the
site's mains are in your hands (:mod:`.panel_control`): type ``i3`` or ``m`` in the terminal,
or send them to the control port.

With ``--remote`` the same panel is read by a terminal daemon that sends to a SmartPower server,
each in its own process (:mod:`.develop_remote`), and Home Assistant is paired with the terminal
by the Modem No and auth code printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes.util
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from custom_components.smartpower_terminal.const import (
    DEFAULT_FAST_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    MIN_FAST_INTERVAL,
    MIN_SLOW_INTERVAL,
)
from hardware_bridge import load_catalogue
from hardware_bridge.simulators.at_modem import ModemSimulator
from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import devices_from_specs

from .develop_remote import RemoteSite, remote_instructions, write_terminal_config
from .harness import (
    DEVELOP_INTEGRATIONS,
    LOCATION,
    REPO,
    HomeAssistantProcess,
    SimulatedPanel,
    frontend_installed,
    relink,
    write_config,
)
from .panel_control import HELP, MAINS_PRESENT_INPUT, PanelControl

DEFAULT_DEVICES = ["1:eastron_sdm630", "2:generic_compensation_relay", "3:waveshare_relay_8ch_d"]
MODBUS_UPDATE_INTERVAL = 1.0
"""Seconds between changes of the simulated Modbus devices' values."""


def _when_values_change(panel_update: float) -> str:
    """What step 5 promises, from the integration's default and minimum read intervals."""
    return f"""\
     - Modbus voltages, currents, power, cos φ, stages: read every {DEFAULT_FAST_INTERVAL} s
       (the simulated devices change them every {panel_update:g} s);
     - energy counters and the meter's readout: read every {DEFAULT_SLOW_INTERVAL} min. Sooner:
       the line's Configure → "Energy counters and meter readouts every" {MIN_SLOW_INTERVAL} min
       ("Instantaneous values every" goes down to {MIN_FAST_INTERVAL} s). The simulated meter's
       counters grow with its load in real time."""


def _shown(path: Path) -> str:
    """A path as the user typed it from the checkout: relative when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _instructions(
    url: str,
    panel: SimulatedPanel,
    meter: SimulatedMeter,
    config_dir: Path = REPO / ".dev/config",
    *,
    control_url: str | None = None,
    board_ids: Sequence[int] = (),
    modem_port: Path | None = None,
) -> str:
    config = _shown(config_dir)
    board = board_ids[0] if board_ids else None
    io_steps = (
        f"""
  6. Relays and inputs: on the RS-485 line, Configure → "I/O support" on; then Add Modbus
     device → address {board}, profile waveshare_relay_8ch_d, and name its relays and inputs
     (input {MAINS_PRESENT_INPUT} is wired to a mains-present contact: "Mains present").
  7. Mains loss: tick "Mains loss detection" in the line's first form (step 3), then the line's
     Configure → "Mains loss detected from" → the SDM630 (its phase voltages) or the board's
     input {MAINS_PRESENT_INPUT}. The line's device shows "Mains power"."""
        if board is not None
        else ""
    )
    if modem_port is not None:
        io_steps += f"""
  8. Cellular modem: Add integration again, serial port {modem_port},
     protocol "Cellular modem (SMS alarms)", a recipient such as +905321234567. Its device
     shows the signal and the network; SMS it sends (e.g. from the "Terminal alarms to
     notifications" blueprint) are printed here."""
    controls = ""
    if board is not None:
        sent = (
            f", or send it from another shell:\n  curl -d i3 {control_url}/" if control_url else ""
        )
        controls = f"""
The panel is in your hands: type a command and Enter here{sent}
{HELP}
  (a mains cut takes the SDM630 and the relay to 0 V and opens input {MAINS_PRESENT_INPUT};
  Home Assistant calls it lost after 5 s and back after 10 s)
"""
    return f"""
Home Assistant is running at {url}  (log: {config}/home-assistant.log)

  1. Open {url} and create your user (first start only).
     Location, units and currency come from {config}/configuration.yaml:
     {LOCATION["country"]}, {LOCATION["currency"]}, {LOCATION["unit_system"]}, \
{LOCATION["time_zone"]}.
  2. Settings → Devices & services → Add integration → "SmartPower Terminal".
  3. RS-485 line: serial port {panel.modbus_port}
     (listed in the form), protocol "Modbus RTU", then baud rate 9600, parity none;
     then "Scan for devices" finds the SDM630 at 1 and the compensation relay at 2
     (or later, on the line: Add Modbus device → address 1, profile eastron_sdm630;
     address 2, profile generic_compensation_relay).
  4. Optical head: Add integration again, serial port {panel.meter_port}
     protocol "IEC 62056-21 meters"; then Add meter (address {meter.address}, or leave empty).
  5. Open a device to watch its values:
{_when_values_change(MODBUS_UPDATE_INTERVAL)}{io_steps}
{controls}
Ctrl-C stops Home Assistant and the simulators.
"""


def _missing_system_libraries() -> list[str]:
    """Libraries Home Assistant loads at start and logs an error without."""
    missing = []
    if ctypes.util.find_library("turbojpeg") is None:
        # homeassistant.components.camera (imported by the service helper) loads it.
        missing.append("libturbojpeg (Debian/Ubuntu: apt-get install libturbojpeg0)")
    return missing


async def run(args: argparse.Namespace) -> int:
    dev = Path(args.dir).resolve()
    config_dir = dev / "config"
    if not frontend_installed():
        print("develop: the Home Assistant frontend is not installed; run scripts/setup")
        return 1
    for library in _missing_system_libraries():
        print(f"develop: {library} is not installed: Home Assistant will log an error for it")
    # The simulated meters keep local time where the panel is, as real ones do.
    os.environ["TZ"] = LOCATION["time_zone"]
    time.tzset()
    # The add-line form lists the simulators' ports (ptys are not seen by a port scan).
    os.environ["SMARTPOWER_DEV_SERIAL_DIR"] = str(dev / "serial")
    catalogue = load_catalogue()
    meter = SimulatedMeter("makel_c520_3p")
    devices = devices_from_specs(args.device or DEFAULT_DEVICES, catalogue)
    panel = SimulatedPanel(
        dev / "serial",
        devices=devices,
        meters=[meter],
        update_interval=MODBUS_UPDATE_INTERVAL,
        meter_reaction_time=0.2,
    )
    write_config(config_dir, args.port, frontend=True, extra=DEVELOP_INTEGRATIONS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The terminal's cellular modem: its own virtual serial line next to the Modbus line and
    # the optical head (a Quectel EC25 answering AT commands, with a SIM and a network).
    modem = ModemSimulator("quectel_ec25")
    modem_port = dev / "serial" / "ttyUSB2"
    async with panel, modem, contextlib.AsyncExitStack() as cleanup:
        relink(modem_port, modem.path)
        cleanup.callback(modem_port.unlink, missing_ok=True)
        boards = [i for i in panel.modbus.device_ids() if _is_board(panel, i)]
        control = PanelControl(panel.modbus, boards, modem)
        cleanup.push_async_callback(control.close)
        control.watch_sms()
        control_url = None
        if boards and args.control_port:
            runner = await control.serve_http(args.control_port)
            cleanup.push_async_callback(runner.cleanup)
            control_url = f"http://127.0.0.1:{args.control_port}"
        site = None
        if args.remote:
            site = RemoteSite(dev, args.server_port, args.terminal_port)
            write_terminal_config(
                site.terminal_dir,
                modbus_port=panel.modbus_port,
                meter_port=panel.meter_port,
                modem_port=modem_port,
                devices=devices,
                listen_port=args.terminal_port,
                server_url=site.server_url,
            )
            for warning in site.warnings():
                print(f"develop: the terminal daemon warns: {warning}")
            cleanup.push_async_callback(site.stop)
            print(
                "develop: starting the SmartPower server and the terminal daemon "
                f"(state in {_shown(dev)}) …"
            )
            try:
                slip = await site.start()
            except (RuntimeError, ValueError, TimeoutError) as err:
                print(f"develop: {err}")
                return 1
        process = HomeAssistantProcess(config_dir, args.port)
        process.start()
        try:
            print(f"develop: starting Home Assistant (config {_shown(config_dir)}) …")
            await process.wait_until_serving(timeout=180)
            if site is not None:
                text = remote_instructions(
                    process.url,
                    site,
                    slip,
                    config_dir,
                    control_url=control_url,
                    controls_help=HELP,
                )
            else:
                text = _instructions(
                    process.url,
                    panel,
                    meter,
                    config_dir,
                    control_url=control_url,
                    board_ids=boards,
                    modem_port=modem_port,
                )
            print(text, flush=True)
            if boards and sys.stdin.isatty():
                control.read_stdin()
            waiter = asyncio.create_task(stop.wait())
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=1)
                ended = None
                if not process.running:
                    ended = f"Home Assistant exited:\n{process.log_tail(30)}"
                elif site is not None and (piece := site.exited()) is not None:
                    ended = f"{piece.name} exited:\n{piece.log_tail(30)}"
                if ended is not None:
                    print(f"develop: {ended}")
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
                    return 1
        finally:
            pieces = "the terminal daemon, the server and " if site is not None else ""
            print(f"develop: stopping Home Assistant, {pieces}the simulators …", flush=True)
            if sys.stdin.isatty():
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_reader(sys.stdin.fileno())
            process.stop()
    return 0


def _is_board(panel: SimulatedPanel, device_id: int) -> bool:
    try:
        panel.modbus.board(device_id)
    except KeyError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/develop", description=__doc__)
    parser.add_argument("--port", type=int, default=8123, help="HTTP port (default 8123)")
    parser.add_argument(
        "--dir",
        default=None,
        help="state folder (default .dev; with --remote .dev/remote, so that Home Assistant's "
        "serial lines of the local mode do not take the ports the terminal daemon reads)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=None,
        metavar="N",
        help="HTTP port of the panel control on 127.0.0.1 (default: HTTP port + 1; 0: none)",
    )
    parser.add_argument(
        "--device",
        action="append",
        metavar="ID:PROFILE",
        help=f"simulated Modbus device (repeat; default {' '.join(DEFAULT_DEVICES)})",
    )
    parser.add_argument(
        "--remote",
        action="store_true",
        help="the panel read by a terminal daemon that sends to a SmartPower server (both in "
        "their own processes, state in the state folder); Home Assistant pairs with it by the "
        "printed Modem No and auth code",
    )
    parser.add_argument(
        "--server-port",
        type=int,
        default=None,
        metavar="N",
        help="with --remote: the SmartPower server's port on 127.0.0.1 (default: HTTP port + 2)",
    )
    parser.add_argument(
        "--terminal-port",
        type=int,
        default=None,
        metavar="N",
        help="with --remote: the terminal daemon's local API on 127.0.0.1 (default: HTTP port + 3)",
    )
    args = parser.parse_args()
    if args.dir is None:
        args.dir = str(REPO / ".dev" / "remote" if args.remote else REPO / ".dev")
    if args.control_port is None:
        args.control_port = args.port + 1
    if args.server_port is None:
        args.server_port = args.port + 2
    if args.terminal_port is None:
        args.terminal_port = args.port + 3
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
