"""``iec-parse`` and ``read-meter``: IEC 62056-21 readouts from a file or a live meter."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from hardware_bridge.cli._args import IEC_BAUDRATES, baudrate, integer, seconds, text
from hardware_bridge.iec62056 import (
    DEFAULT_MAX_READOUT_SIZE,
    ClientSettings,
    IecError,
    LocalProtocolError,
    MeterClient,
    NotAReadoutError,
    OptionMode,
    Readout,
    parse_readout,
    readout_to_dict,
)

__all__ = ["register", "render_table", "run_iec_parse", "run_read_meter"]

EXIT_OK, EXIT_DEVICE, EXIT_INPUT = 0, 1, 2
_MODES = {"full": OptionMode.READOUT, "short": OptionMode.SHORT_READOUT}


def register(subparsers: Any) -> None:
    """Add ``iec-parse`` and ``read-meter`` to the ``smartpower-bridge`` parser."""
    parse = subparsers.add_parser(
        "iec-parse",
        help="parse a captured IEC 62056-21 readout",
        description="Parse a captured readout (ident line, STX/ETX/BCC and CR all optional).",
    )
    parse.add_argument("file", metavar="FILE", type=text("a file"), help="the captured telegram")
    parse.add_argument("--json", action="store_true", help="print one JSON object")
    parse.set_defaults(handler=run_iec_parse)

    read = subparsers.add_parser(
        "read-meter",
        help="read an IEC 62056-21 meter (mode C)",
        description="Sign on at 300 baud, negotiate mode C and print the readout.",
    )
    read.add_argument(
        "--port",
        required=True,
        type=text("a serial port path"),
        help="serial port, e.g. /dev/ttyUSB0",
    )
    read.add_argument(
        "--address",
        default="",
        type=text("an address", empty=True),
        help="device address sent as /?ADDRESS!",
    )
    read.add_argument("--mode", choices=sorted(_MODES), default="full", help="full or short")
    read.add_argument(
        "--max-baud", type=baudrate(IEC_BAUDRATES), default=19200, help="fastest rate to accept"
    )
    read.add_argument(
        "--fallback-baud",
        type=baudrate(IEC_BAUDRATES, allow_zero="no retry"),
        default=300,
        help="rate for the retry (0: no retry)",
    )
    read.add_argument("--timeout", type=seconds(60), default=1.5, help="reaction timeout, s")
    read.add_argument(
        "--switch-delay", type=seconds(10, zero=True), default=0.3, help="pause before switch, s"
    )
    read.add_argument("--wake-up", action="store_true", help="send NULs first (battery meters)")
    read.add_argument("--lenient", action="store_true", help="accept a readout with a bad BCC")
    read.add_argument(
        "--max-readout-size",
        type=integer(64, 1 << 24, "a size in bytes"),
        default=DEFAULT_MAX_READOUT_SIZE,
        help="longest plausible readout in bytes; with the baud rate it bounds the session time",
    )
    read.add_argument("--json", action="store_true", help="print one JSON object")
    read.set_defaults(handler=run_read_meter)


MAX_CAPTURE_SIZE = 16 << 20
"""A captured readout larger than this is not a meter's (real ones are a few kB)."""


def _read_capture(path: Path) -> bytes:
    """At most one byte more than :data:`MAX_CAPTURE_SIZE`, from a regular file only (a FIFO
    or ``/dev/zero`` given as FILE would otherwise block or fill the memory)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file: {path}")
        return file.read(MAX_CAPTURE_SIZE + 1)


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return code


def render_table(data: dict[str, Any]) -> str:
    """A readable table of a readout dict (the JSON shape)."""
    lines: list[str] = []
    ident = data.get("identification")
    if ident is not None:
        tag = ident["tag"] or ""
        lines.append(
            f"meter: {ident['manufacturer']} {ident['ident']}  baud char {ident['baud']} {tag}"
        )
    if "baud" in data:
        lines.append(f"baud:  {data['baud']}")
    bcc = {True: "ok", False: "MISMATCH", None: "not present"}[data["bcc_ok"]]
    lines.append(f"bcc:   {bcc}")
    if data.get("complete") is False:
        lines.append(f"end:   MISSING ({data.get('incomplete_reason')})")
    width = max((len(ds["address"]) for ds in data["datasets"]), default=0)
    for dataset in data["datasets"]:
        values = "  ".join(
            f"{v['value']} {v['unit']}" if v["unit"] else v["value"] for v in dataset["values"]
        )
        lines.append(f"{dataset['address']:<{width}}  {values}")
    return "\n".join(lines)


def _print(data: dict[str, Any], as_json: bool) -> None:
    print(json.dumps(data, ensure_ascii=False) if as_json else render_table(data))


def run_iec_parse(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        raw = _read_capture(path)
    except OSError as err:
        return _fail(EXIT_INPUT, f"cannot read {path}: {err.strerror or err}")
    if len(raw) > MAX_CAPTURE_SIZE:
        return _fail(EXIT_INPUT, f"{path} is larger than {MAX_CAPTURE_SIZE >> 20} MiB")
    try:
        readout: Readout = parse_readout(raw)
    except NotAReadoutError as err:
        return _fail(EXIT_INPUT, f"{path} is not an IEC 62056-21 readout: {err}")
    _print(readout_to_dict(readout), args.json)
    return EXIT_OK


def run_read_meter(args: argparse.Namespace) -> int:
    """Read a meter; a readout cut short is printed (marked incomplete) and exits 1."""
    try:
        settings = ClientSettings(
            port=args.port,
            address=args.address,
            mode=_MODES[args.mode],
            max_baud=args.max_baud,
            fallback_baud=args.fallback_baud or None,
            reaction_timeout=args.timeout,
            switch_delay=args.switch_delay,
            wake_up=args.wake_up,
            strict_bcc=not args.lenient,
            max_readout_size=args.max_readout_size,
        )
    except ValueError as err:
        return _fail(EXIT_INPUT, str(err))
    try:
        reading = asyncio.run(MeterClient(settings).read())
    except LocalProtocolError as err:
        return _fail(EXIT_INPUT, str(err))
    except IecError as err:
        return _fail(EXIT_DEVICE, f"{args.port}: {err}")
    _print(reading.to_dict(), args.json)
    if reading.incomplete_reason is not None:
        return _fail(EXIT_DEVICE, f"{args.port}: {reading.incomplete_reason}")
    return EXIT_OK
