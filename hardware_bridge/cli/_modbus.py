"""``modbus-read``, ``modbus-write`` and ``scan``: read one Modbus RTU device with a profile,
switch one of its relays (confirmed by reading it back), find devices."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hardware_bridge.cli._args import (
    MODBUS_BAUDRATES,
    baudrate,
    integer,
    seconds,
    text,
)
from hardware_bridge.modbus import (
    ModbusBus,
    ModbusConnectionError,
    ModbusWriteError,
    Profile,
    ProfileCatalogue,
    ProfileError,
    SerialDefaults,
    load_catalogue,
)
from hardware_bridge.modbus._client import quiet_pymodbus_logging
from hardware_bridge.serial_line import SerialSettings

__all__ = ["load_user_catalogue", "register", "run_modbus_read", "run_modbus_write", "run_scan"]

EXIT_OK, EXIT_DEVICE, EXIT_INPUT = 0, 1, 2
MAX_TIMEOUT = 60.0
"""Longest response timeout accepted, in seconds (a Modbus RTU answer takes milliseconds)."""
MAX_RETRIES = 10
MAX_WRITE_TIMEOUT = 1.5
MAX_WRITE_RETRIES = 2
"""A write answers within 10 s whatever the options: init, write and read-back each take at
most (1 + retries) × timeout plus a drain of one timeout after each failure."""

_PORT = text("a serial port path")


def register(subparsers: Any) -> None:
    """Add ``modbus-read`` and ``scan`` to the ``smartpower-bridge`` parser."""
    read = subparsers.add_parser(
        "modbus-read",
        help="read a Modbus RTU device with a profile",
        description="Read every value of a profile from one device (fewest requests).",
    )
    read.add_argument("--port", required=True, type=_PORT, help="serial port, e.g. /dev/ttyUSB0")
    read.add_argument("--device-id", required=True, type=integer(), help="Modbus address 1..247")
    read.add_argument(
        "--profile",
        required=True,
        type=text("a profile id"),
        help="profile id, e.g. eastron_sdm630",
    )
    _line_options(read, baud_default=None)
    read.add_argument(
        "--keys",
        type=text("value keys", empty=True),
        help="comma-separated value keys (default: all)",
    )
    _request_options(read, max_timeout=MAX_TIMEOUT, max_retries=MAX_RETRIES)
    read.set_defaults(handler=run_modbus_read)

    write = subparsers.add_parser(
        "modbus-write",
        help="switch a relay of a Modbus RTU device and read it back",
        description="Write one relay (on/off), read its state back and print it; exit 1 if "
        "the device does not answer, refuses, or reads back another state.",
    )
    write.add_argument("--port", required=True, type=_PORT, help="serial port, e.g. /dev/ttyUSB0")
    write.add_argument("--device-id", required=True, type=integer(), help="Modbus address 1..247")
    write.add_argument(
        "--profile", required=True, type=text("a profile id"), help="e.g. waveshare_relay_8ch"
    )
    write.add_argument("--key", required=True, type=text("a relay key"), help="e.g. relay_1")
    write.add_argument("--value", required=True, type=_switch_state, help="on, off, 1 or 0")
    _line_options(write, baud_default=None)
    _request_options(write, max_timeout=MAX_WRITE_TIMEOUT, max_retries=MAX_WRITE_RETRIES)
    write.set_defaults(handler=run_modbus_write)

    scan = subparsers.add_parser(
        "scan",
        help="find Modbus RTU devices on a line and suggest profiles",
        description="Ask every address (1..247) once; suggest a profile from probe registers.",
    )
    scan.add_argument("--port", required=True, type=_PORT, help="serial port, e.g. /dev/ttyUSB0")
    _line_options(scan, baud_default=9600)
    scan.add_argument("--first", type=integer(), default=1, help="first address (default 1)")
    scan.add_argument("--last", type=integer(), default=247, help="last address (default 247)")
    scan.add_argument(
        "--timeout",
        type=seconds(MAX_TIMEOUT),
        default=0.1,
        help=f"response timeout, s (up to {MAX_TIMEOUT:g})",
    )
    scan.add_argument("--json", action="store_true", help="print a JSON list")
    scan.set_defaults(handler=run_scan)


def _switch_state(value: str) -> bool:
    """``on``/``off`` (any case), or the number 1/0."""
    word = value.strip().lower()
    if word in ("on", "off"):
        return word == "on"
    try:
        return bool(integer(0, 1)(value))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected on, off, 1 or 0, not {value[:40]!r}") from None


def _request_options(
    parser: argparse.ArgumentParser, *, max_timeout: float, max_retries: int
) -> None:
    """``--timeout`` and ``--retries`` (bounded: a command gives up in bounded time), ``--json``."""
    parser.add_argument(
        "--timeout",
        type=seconds(max_timeout),
        default=0.5,
        help=f"response timeout, s (up to {max_timeout:g})",
    )
    parser.add_argument(
        "--retries",
        type=integer(0, max_retries, "a count"),
        default=1,
        help=f"retries per request (0..{max_retries})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _line_options(parser: argparse.ArgumentParser, *, baud_default: int | None) -> None:
    shown = "the profile's" if baud_default is None else str(baud_default)
    parser.add_argument(
        "--baudrate",
        type=baudrate(MODBUS_BAUDRATES),
        default=baud_default,
        help=f"{', '.join(map(str, MODBUS_BAUDRATES))}; default {shown}",
    )
    parser.add_argument("--parity", choices=["N", "E", "O"], help="N, E or O")
    parser.add_argument("--stopbits", type=integer(1, 2), help="1 or 2")
    parser.add_argument(
        "--profiles-dir", type=text("a directory"), help="directory with your own profile files"
    )


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return code


def load_user_catalogue(profiles_dir: str | None) -> ProfileCatalogue:
    """Shipped profiles plus ``profiles_dir``'s; a directory that is not there is an error."""
    catalogue = load_catalogue(profiles_dir)
    if profiles_dir is not None:
        for error in catalogue.errors:
            if str(error.source) == str(profiles_dir):
                raise error
    return catalogue


def _settings(args: argparse.Namespace, profile: Profile | None) -> SerialSettings:
    """Line settings: what was given, else the profile's, else 9600 8N1."""
    defaults = profile.serial if profile is not None else SerialDefaults()
    return SerialSettings(
        port=args.port,
        baudrate=defaults.baudrate if args.baudrate is None else args.baudrate,
        parity=defaults.parity if args.parity is None else args.parity,
        stopbits=defaults.stopbits if args.stopbits is None else args.stopbits,
    )


def _on_bus(
    settings: SerialSettings,
    use: Callable[[ModbusBus], Awaitable[int]],
    *,
    timeout: float | None = None,
    retries: int = 0,
) -> int:
    """Open the line, run ``use`` on it, close it; the exit code (a port that does not open is
    a device-side failure, said in one line)."""

    async def run() -> int:
        bus = (
            ModbusBus(settings, retries=retries)
            if timeout is None
            else ModbusBus(settings, timeout=timeout, retries=retries)
        )
        try:
            await bus.open()
        except ModbusConnectionError as exc:
            return _fail(EXIT_DEVICE, str(exc))
        try:
            return await use(bus)
        finally:
            await bus.close()

    return asyncio.run(run())


def run_modbus_read(args: argparse.Namespace) -> int:
    """Handler of ``modbus-read``; returns the exit code."""
    if not 1 <= args.device_id <= 247:  # a number, else the parser said so
        return _fail(EXIT_INPUT, f"--device-id must be 1..247, not {args.device_id}")
    if args.timeout <= 0 or args.retries < 0:
        return _fail(EXIT_INPUT, "--timeout must be > 0 and --retries >= 0")
    try:
        profile = load_user_catalogue(args.profiles_dir).get(args.profile)
    except ProfileError as exc:
        return _fail(EXIT_INPUT, str(exc))
    keys = [k.strip() for k in args.keys.split(",") if k.strip()] if args.keys else None
    if keys is not None:
        unknown = sorted(set(keys) - set(profile.value_keys))
        if unknown:
            return _fail(EXIT_INPUT, f"{profile.id} has no value {', '.join(unknown)}")
    try:
        settings = _settings(args, profile)
    except ValueError as exc:
        return _fail(EXIT_INPUT, str(exc))
    quiet_pymodbus_logging()

    async def read(bus: ModbusBus) -> int:
        reading = await bus.read_device(args.device_id, profile, keys)
        if not reading.available:
            reason = reading.errors[0].message if reading.errors else "no values"
            reason = reason.removeprefix(f"device {args.device_id}: ")
            return _fail(EXIT_DEVICE, f"device {args.device_id} on {args.port}: {reason}")
        if args.json:
            print(
                json.dumps(
                    {
                        "device_id": args.device_id,
                        "profile": profile.id,
                        "values": dict(reading.values),
                        "requests": reading.requests,
                    }
                )
            )
        else:
            _print_reading(profile, reading.values, reading.requests)
        return EXIT_OK

    return _on_bus(settings, read, timeout=args.timeout, retries=args.retries)


def _print_reading(profile: Profile, values: Any, requests: int) -> None:
    units = {p.key: p.unit or "" for p in profile.points}
    precision = {p.key: p.precision for p in profile.points}
    for key, value in values.items():
        if isinstance(value, float) and precision.get(key) is not None:
            shown = f"{value:.{precision[key]}f}"
        else:
            shown = "unavailable" if value is None else str(value)
        print(f"{key}: {shown} {units.get(key, '')}".rstrip())
    print(f"({requests} request{'s' if requests != 1 else ''})")


def run_scan(args: argparse.Namespace) -> int:
    """Handler of ``scan``; returns the exit code."""
    if not 1 <= args.first <= args.last <= 247:
        return _fail(EXIT_INPUT, "--first/--last must satisfy 1 <= first <= last <= 247")
    if args.timeout <= 0:
        return _fail(EXIT_INPUT, "--timeout must be > 0")
    try:
        catalogue = load_user_catalogue(args.profiles_dir)
        settings = _settings(args, None)
    except (ProfileError, ValueError) as exc:
        return _fail(EXIT_INPUT, str(exc))
    quiet_pymodbus_logging()

    async def scan(bus: ModbusBus) -> int:
        hits = await bus.scan(range(args.first, args.last + 1), catalogue, timeout=args.timeout)
        if args.json:
            rows = [
                {
                    "device_id": h.device_id,
                    "suggested_profile": h.suggested_profile_id,
                    "candidates": list(h.candidates),
                }
                for h in hits
            ]
            print(json.dumps(rows))
        else:
            for hit in hits:
                print(f"device {hit.device_id}: {hit.suggested_profile_id or 'unknown model'}")
        if not hits:
            return _fail(EXIT_DEVICE, f"no device answered on {args.port}")
        return EXIT_OK

    return _on_bus(settings, scan)


def run_modbus_write(args: argparse.Namespace) -> int:
    """Handler of ``modbus-write``; returns the exit code."""
    if not 1 <= args.device_id <= 247:
        return _fail(EXIT_INPUT, f"--device-id must be 1..247, not {args.device_id}")
    try:
        profile = load_user_catalogue(args.profiles_dir).get(args.profile)
    except ProfileError as exc:
        return _fail(EXIT_INPUT, str(exc))
    try:
        point = profile.io_point(args.key)
    except KeyError:
        relays = ", ".join(r.key for r in profile.relays) or "none"
        return _fail(EXIT_INPUT, f"{profile.id} has no relay {args.key} (relays: {relays})")
    if point.write is None:
        return _fail(EXIT_INPUT, f"{args.key} of {profile.id} is an input, not a relay")
    try:
        settings = _settings(args, profile)
    except ValueError as exc:
        return _fail(EXIT_INPUT, str(exc))
    quiet_pymodbus_logging()

    async def write(bus: ModbusBus) -> int:
        try:
            state = await bus.write_point(args.device_id, profile, args.key, args.value)
        except (ModbusWriteError, ModbusConnectionError) as exc:
            return _fail(EXIT_DEVICE, f"{args.port}: {exc}")
        if args.json:
            print(json.dumps({"key": args.key, "value": state, "confirmed": True}))
        else:
            print(f"{args.key}: {'on' if state else 'off'} (confirmed)")
        return EXIT_OK

    return _on_bus(settings, write, timeout=args.timeout, retries=args.retries)
