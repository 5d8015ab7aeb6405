"""``modem`` and ``sms``: look at an AT modem, send an SMS through it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from hardware_bridge.cellular import (
    CellularError,
    LineError,
    Modem,
    ModemSettings,
    ModemStatus,
    NoResponseError,
    SmsError,
    parse_number,
)
from hardware_bridge.cli._args import text

__all__ = ["STATUS_KEYS", "register", "run_modem", "run_sms"]

EXIT_OK, EXIT_DEVICE, EXIT_INPUT = 0, 1, 2
STATUS_KEYS = (
    "sim",
    "registration",
    "operator",
    "access_technology",
    "signal_dbm",
    "rsrp_dbm",
    "rsrq_db",
    "imei",
    "model",
)
"""The ``modem --json`` object, in this order (other tools read it)."""
DEADLINE = 18.0
"""The whole ``modem`` run, so a silent port exits 1 within 20 s."""
MAX_SMS_TEXT = 255 * 67
"""At most 255 parts."""


def _phone_number(value: str) -> str:
    try:
        parse_number(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def _sms_text(value: str) -> str:
    if not value:
        raise argparse.ArgumentTypeError("expected a message text, not an empty one")
    if len(value) > MAX_SMS_TEXT:
        raise argparse.ArgumentTypeError(f"the text is longer than {MAX_SMS_TEXT} characters")
    try:
        value.encode("utf-16-be")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("the text is not valid Unicode") from None
    return value


def register(subparsers: Any) -> None:
    """Add ``modem`` and ``sms`` to the ``smartpower-bridge`` parser."""
    modem = subparsers.add_parser(
        "modem",
        help="show SIM, registration, operator and signal of an AT modem",
        description="Ask a SIMCom or Quectel modem for its SIM, network and signal state.",
    )
    modem.add_argument(
        "--port", required=True, type=text("a serial port path"), help="e.g. /dev/ttyUSB2"
    )
    modem.add_argument("--json", action="store_true", help="print one JSON object")
    modem.set_defaults(handler=run_modem)

    sms = subparsers.add_parser(
        "sms",
        help="send an SMS through an AT modem",
        description="Send an SMS in PDU mode (GSM 7-bit when it fits, else UCS-2; long texts"
        " are sent as concatenated parts) and print the message references.",
    )
    sms.add_argument(
        "--port", required=True, type=text("a serial port path"), help="e.g. /dev/ttyUSB2"
    )
    sms.add_argument(
        "--to", required=True, type=_phone_number, help="+90… (international) or national"
    )
    sms.add_argument("--text", required=True, type=_sms_text, help="the message")
    sms.set_defaults(handler=run_sms)


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return code


def status_dict(status: ModemStatus) -> dict[str, Any]:
    data = status.as_dict()
    return {key: data[key] for key in STATUS_KEYS}


async def _status(port: str) -> ModemStatus:
    async with Modem(ModemSettings(port=port)) as modem:
        await modem.probe()
        return await modem.status()


def run_modem(args: argparse.Namespace) -> int:
    try:
        status = asyncio.run(asyncio.wait_for(_status(args.port), DEADLINE))
    except TimeoutError:
        return _fail(EXIT_DEVICE, f"the modem on {args.port} stopped answering")
    except (LineError, NoResponseError) as err:
        return _fail(EXIT_DEVICE, str(err))
    except CellularError as err:
        return _fail(EXIT_DEVICE, f"modem on {args.port}: {err}")
    data = status_dict(status)
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return EXIT_OK
    for key, value in data.items():
        print(f"{key + ':':<19}{'-' if value is None else value}")
    return EXIT_OK


async def _send(port: str, number: str, message: str) -> tuple[int, ...]:
    async with Modem(ModemSettings(port=port)) as modem:
        await modem.probe()
        return await modem.send_sms(number, message)


def run_sms(args: argparse.Namespace) -> int:
    try:
        references = asyncio.run(_send(args.port, args.to, args.text))
    except ValueError as err:
        return _fail(EXIT_INPUT, str(err))
    except SmsError as err:
        done = f" (parts sent before: {', '.join(map(str, err.sent))})" if err.sent else ""
        return _fail(EXIT_DEVICE, f"{err}{done}")
    except CellularError as err:
        return _fail(EXIT_DEVICE, str(err))
    print(" ".join(str(reference) for reference in references))
    return EXIT_OK
