"""``init``: write a starter ``terminal.yaml`` from a bus scan and the serial ports found.

Every ``--port`` is scanned as a Modbus RTU line (:func:`~hardware_bridge.terminal.
scan_modbus_line`); each device that answers becomes an entry with the profile its probe
registers suggest. A device no profile matched, a port where nothing answered and the other
serial ports of the host are written as comments, to be completed by hand. The file written is
checked with the daemon's own loader before it is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from hardware_bridge.cli._args import MODBUS_BAUDRATES, baudrate, integer, seconds, text
from hardware_bridge.modbus import ProfileError, ScanHit

__all__ = ["register", "render_config", "run_init"]

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DEFAULT_STATE_DIR = "/var/lib/smartpower-bridge"


def register(subparsers: Any) -> None:
    init = subparsers.add_parser(
        "init",
        help="write a starter terminal.yaml from a bus scan",
        description="Scans each --port as a Modbus RTU line and writes a configuration with "
        "the devices found and the serial ports of this host.",
    )
    init.add_argument(
        "--port",
        action="append",
        required=True,
        type=text("a serial port"),
        help="a Modbus RTU line to scan, e.g. /dev/ttyUSB0 (repeat for several)",
    )
    init.add_argument("--output", "-o", required=True, type=text("a file name"), metavar="FILE")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    init.add_argument(
        "--baudrate", type=baudrate(MODBUS_BAUDRATES), default=9600, help="default 9600"
    )
    init.add_argument("--parity", choices=["N", "E", "O"], default="N", help="default N")
    init.add_argument("--first", type=integer(1, 247), default=1, help="first address (1)")
    init.add_argument("--last", type=integer(1, 247), default=247, help="last address (247)")
    init.add_argument(
        "--timeout", type=seconds(5.0), default=0.1, help="seconds per address (default 0.1)"
    )
    init.add_argument(
        "--state-dir", type=text("a directory"), default=DEFAULT_STATE_DIR, help="state directory"
    )
    init.add_argument("--profiles-dir", type=text("a directory"), help="your own profiles")
    init.set_defaults(handler=run_init)


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return code


def _serial_ports() -> list[str]:
    """The host's serial ports, by-id paths where there are some."""
    from serial.tools import list_ports  # noqa: PLC0415

    by_id = Path("/dev/serial/by-id")
    links: dict[str, str] = {}
    if by_id.is_dir():
        for link in sorted(by_id.iterdir()):
            links[os.path.realpath(link)] = str(link)
    return [links.get(os.path.realpath(p.device), p.device) for p in list_ports.comports()]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    args: argparse.Namespace, scans: dict[str, list[ScanHit] | str], ports: list[str]
) -> str:
    """The starter file's text: ``scans`` maps each port to its hits, or to why it failed."""
    out = [
        "# SmartPower terminal configuration, written by `smartpower-bridge init`.",
        "# Check it, then run: smartpower-bridge run --config THIS_FILE",
        "# (docs/terminal-daemon.md explains every field).",
        f"state_dir: {_quote(args.state_dir)}",
        'listen: "0.0.0.0:8470"',
        "# upstream:                       # none: LAN-only mode",
        "#   url: https://smartpower.example.net",
        "send_period: 15m",
    ]
    if args.profiles_dir:
        out.append(f"profiles_dir: {_quote(args.profiles_dir)}")
    out.append("lines:")
    written = 0
    used_names: set[str] = set()
    for index, (port, found) in enumerate(scans.items(), start=1):
        hits = [hit for hit in found if hit.suggested_profile_id] if isinstance(found, list) else []
        prefix = "" if hits else "# "
        if isinstance(found, str):
            out.append(f"# {port}: not scanned: {found}")
        elif not hits:
            out.append(f"# {port}: no device with a known profile answered")
        out += [
            f"{prefix}  - name: rs485_{index}",
            f"{prefix}    port: {_quote(port)}",
            f"{prefix}    protocol: modbus",
            f"{prefix}    baudrate: {args.baudrate}",
            f"{prefix}    parity: {args.parity}",
            f"{prefix}    poll_interval: 1m",
            f"{prefix}    slow_interval: 15m",
            f"{prefix}    devices:",
        ]
        for hit in found if isinstance(found, list) else []:
            if hit.suggested_profile_id is None:
                out.append(f"{prefix}      # address {hit.device_id} answered; no profile matched")
                continue
            name = f"{hit.suggested_profile_id}_{hit.device_id}"
            while name in used_names:
                name += "_"
            used_names.add(name)
            out += [
                f"{prefix}      - name: {name}",
                f"{prefix}        address: {hit.device_id}",
                f"{prefix}        profile: {hit.suggested_profile_id}",
            ]
            if len(hit.candidates) > 1:
                out.append(f"{prefix}        # also matches: {', '.join(hit.candidates[1:])}")
        written += bool(hits)
    out.append("# An IEC 62056-21 meter (optical head or RS-485), completed by hand:")
    out += [
        "#  - name: meter_line",
        "#    port: /dev/ttyUSB1",
        "#    protocol: iec62056",
        "#    poll_interval: 15m",
        "#    devices:",
        "#      - name: main_meter",
    ]
    out.append("# Serial ports of this host:")
    out += [f"#   {port}" for port in ports] or ["#   (none found)"]
    if not written:
        out.insert(0, "# NOTE: no device was found; complete `lines` before running.")
    return "\n".join(out) + "\n"


def run_init(args: argparse.Namespace) -> int:
    """Handler of ``init``."""
    from hardware_bridge.cli._modbus import load_user_catalogue  # noqa: PLC0415
    from hardware_bridge.modbus._client import quiet_pymodbus_logging  # noqa: PLC0415
    from hardware_bridge.serial_line import SerialSettings  # noqa: PLC0415
    from hardware_bridge.terminal import LineUnavailableError, scan_modbus_line  # noqa: PLC0415

    output = Path(args.output)
    if output.exists() and not args.force:
        return _fail(EXIT_INPUT, f"init: {output} exists (use --force to overwrite it)")
    if args.first > args.last:
        return _fail(EXIT_INPUT, f"init: --first {args.first} is after --last {args.last}")
    try:
        catalogue = load_user_catalogue(args.profiles_dir)
    except ProfileError as err:
        return _fail(EXIT_INPUT, f"init: {err}")
    quiet_pymodbus_logging()

    async def scan_all() -> dict[str, list[ScanHit] | str]:
        scans: dict[str, list[ScanHit] | str] = {}
        for port in dict.fromkeys(args.port):
            serial = SerialSettings(port=port, baudrate=args.baudrate, parity=args.parity)
            try:
                scans[port] = await scan_modbus_line(
                    serial, catalogue, first=args.first, last=args.last, timeout=args.timeout
                )
            except LineUnavailableError as err:
                scans[port] = str(err)
            found = scans[port]
            shown = found if isinstance(found, str) else f"{len(found)} devices answered"
            print(f"{port}: {shown}", file=sys.stderr)
        return scans

    scans = asyncio.run(scan_all())
    try:
        ports = _serial_ports()
    except OSError:
        ports = []
    text_out = render_config(args, scans, ports)
    if any(isinstance(found, list) and found for found in scans.values()):
        from hardware_bridge.daemon.config import ConfigError, load_config_text  # noqa: PLC0415

        try:
            load_config_text(text_out, source=str(output), catalogue=catalogue)
        except ConfigError as err:  # a device found that the file cannot express
            return _fail(EXIT_FAILED, f"init: the starter file would not load: {err}")
    try:
        output.write_text(text_out, encoding="utf-8")
    except OSError as err:
        return _fail(EXIT_FAILED, f"init: cannot write {output}: {err.strerror or err}")
    print(f"wrote {output}")
    if all(isinstance(found, str) for found in scans.values()):
        return EXIT_FAILED
    return EXIT_OK
