"""``simulate meter|modbus``: run simulated devices on a virtual serial line until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardware_bridge.cli._args import number, seconds, text
from hardware_bridge.cli._modbus import load_user_catalogue
from hardware_bridge.iec62056 import IecError, request_message
from hardware_bridge.modbus import ProfileError
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter, shipped_telegrams

if TYPE_CHECKING:
    from hardware_bridge.simulators.modbus_line import SimulatedDevice

__all__ = ["register"]

EXIT_OK, EXIT_INPUT = 0, 2
MAX_TELEGRAM_SIZE = 64 * 1024
"""Largest telegram file read (a readout is a few kilobytes)."""


def register(subparsers: Any) -> None:
    sim = subparsers.add_parser(
        "simulate",
        help="run simulated meters or Modbus devices on a virtual serial line",
        description="Prints the serial port to connect to, then serves until interrupted.",
    )
    kinds = sim.add_subparsers(dest="kind", required=True, metavar="KIND")

    meter = kinds.add_parser("meter", help="IEC 62056-21 meters (mode C)")
    meter.add_argument(
        "--meter",
        action="append",
        type=text("a telegram file or name, optionally @ADDRESS"),
        metavar="TELEGRAM[@ADDRESS]",
        help=f"a meter from a telegram file or one of {sorted(shipped_telegrams())}; "
        "repeat for several meters on one line (default: makel_c520_3p)",
    )
    meter.add_argument(
        "--baud-char", choices=list("0123456"), help="baud character to offer (0..6)"
    )
    meter.add_argument(
        "--time-scale",
        type=number(1e6, what="a speed-up"),
        default=60.0,
        help="meter clock speed-up (default 60)",
    )
    meter.set_defaults(handler=_run_meter)

    modbus = kinds.add_parser("modbus", help="Modbus RTU devices driven by profiles")
    modbus.add_argument(
        "--device",
        action="append",
        type=text("ID:PROFILE"),
        metavar="ID:PROFILE",
        help="e.g. 1:eastron_sdm630; repeat for several devices (default: 1:eastron_sdm630)",
    )
    modbus.add_argument(
        "--profiles-dir", type=text("a directory"), help="directory with user profiles"
    )
    modbus.add_argument(
        "--update-interval",
        type=seconds(3600),
        default=1.0,
        help="seconds per tick (default 1, up to 3600)",
    )
    modbus.set_defaults(handler=_run_modbus)


def _fail(message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return EXIT_INPUT


def _telegram_file(telegram: str) -> None:
    """A telegram given as a path must be a small regular file (a FIFO would block the read)."""
    if telegram in shipped_telegrams():
        return
    path = Path(telegram)
    if not path.is_file():
        known = ", ".join(sorted(shipped_telegrams()))
        raise ValueError(f"no such telegram file (or a shipped one: {known})")
    if path.stat().st_size > MAX_TELEGRAM_SIZE:
        raise ValueError(f"too large for a telegram (over {MAX_TELEGRAM_SIZE} bytes)")


def _meter(spec: str, args: argparse.Namespace) -> SimulatedMeter:
    telegram, _, address = spec.partition("@")
    if address:
        request_message(address)  # the address a client would send: printable, no / ? !
    _telegram_file(telegram)
    return SimulatedMeter(
        telegram, address=address or None, baud_char=args.baud_char, time_scale=args.time_scale
    )


def _meters(args: argparse.Namespace) -> list[SimulatedMeter]:
    meters = []
    for spec in args.meter or ["makel_c520_3p"]:
        telegram = spec.partition("@")[0]
        try:
            meters.append(_meter(spec, args))
        except (OSError, ValueError, KeyError, IecError) as exc:
            reason = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
            reason = reason.removeprefix(f"{Path(telegram)}: ").removeprefix(f"{telegram}: ")
            raise ValueError(f"{telegram}: {reason}") from None
    return meters


async def _serve_meters(meters: list[SimulatedMeter]) -> None:
    async with MeterSimulator(meters) as sim:
        for meter in meters:
            ident = meter.identification
            print(f"meter /{ident.manufacturer}{ident.baud_char}... address {meter.address}")
        print(f"port: {sim.path}", flush=True)
        await asyncio.Event().wait()


async def _serve_modbus(devices: list[SimulatedDevice], update_interval: float) -> None:
    from hardware_bridge.simulators.modbus_line import ModbusLineSimulator  # noqa: PLC0415

    async with ModbusLineSimulator(devices, update_interval=update_interval) as sim:
        for device in devices:
            print(f"device {device.device_id}: {device.profile.id}")
        print(f"port: {sim.path}", flush=True)
        await asyncio.Event().wait()


def _run_meter(args: argparse.Namespace) -> int:
    try:
        meters = _meters(args)
    except ValueError as exc:
        return _fail(f"simulate meter: {exc}")
    asyncio.run(_serve_meters(meters))
    return EXIT_OK


def _run_modbus(args: argparse.Namespace) -> int:
    # The Modbus simulator brings pymodbus' server and aiohttp (0.1 s): only when it runs.
    from hardware_bridge.simulators.modbus_line import devices_from_specs  # noqa: PLC0415

    try:
        catalogue = load_user_catalogue(args.profiles_dir)
        devices = devices_from_specs(args.device or ["1:eastron_sdm630"], catalogue)
        asyncio.run(_serve_modbus(devices, args.update_interval))
    except (ProfileError, ValueError) as exc:
        return _fail(f"simulate modbus: {exc}")
    return EXIT_OK
