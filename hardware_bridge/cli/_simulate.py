"""``simulate meter|modbus``: run simulated devices on a virtual serial line until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from hardware_bridge.modbus import ProfileError, load_catalogue
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter, shipped_telegrams
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, devices_from_specs

__all__ = ["register"]


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
        metavar="TELEGRAM[@ADDRESS]",
        help=f"a meter from a telegram file or one of {sorted(shipped_telegrams())}; "
        "repeat for several meters on one line (default: makel_c520_3p)",
    )
    meter.add_argument("--baud-char", help="baud character to offer (0..6)")
    meter.add_argument("--time-scale", type=float, default=60.0, help="meter clock speed-up")
    meter.set_defaults(handler=_run_meter)

    modbus = kinds.add_parser("modbus", help="Modbus RTU devices driven by profiles")
    modbus.add_argument(
        "--device",
        action="append",
        metavar="ID:PROFILE",
        help="e.g. 1:eastron_sdm630; repeat for several devices (default: 1:eastron_sdm630)",
    )
    modbus.add_argument("--profiles-dir", help="directory with user profiles")
    modbus.add_argument("--update-interval", type=float, default=1.0, help="seconds per tick")
    modbus.set_defaults(handler=_run_modbus)


def _meters(args: argparse.Namespace) -> list[SimulatedMeter]:
    meters = []
    for spec in args.meter or ["makel_c520_3p"]:
        telegram, _, address = spec.partition("@")
        meters.append(
            SimulatedMeter(
                telegram,
                address=address or None,
                baud_char=args.baud_char,
                time_scale=args.time_scale,
            )
        )
    return meters


async def _serve_meters(meters: list[SimulatedMeter]) -> None:
    async with MeterSimulator(meters) as sim:
        for meter in meters:
            ident = meter.identification
            print(f"meter /{ident.manufacturer}{ident.baud_char}... address {meter.address}")
        print(f"port: {sim.path}", flush=True)
        await asyncio.Event().wait()


async def _serve_modbus(args: argparse.Namespace) -> None:
    devices = devices_from_specs(
        args.device or ["1:eastron_sdm630"], load_catalogue(args.profiles_dir)
    )
    async with ModbusLineSimulator(devices, update_interval=args.update_interval) as sim:
        for device in devices:
            print(f"device {device.device_id}: {device.profile.id}")
        print(f"port: {sim.path}", flush=True)
        await asyncio.Event().wait()


def _run_meter(args: argparse.Namespace) -> int:
    try:
        meters = _meters(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"simulate meter: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve_meters(meters))
    return 0


def _run_modbus(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve_modbus(args))
    except (ProfileError, ValueError) as exc:
        print(f"simulate modbus: {exc}", file=sys.stderr)
        return 2
    return 0
