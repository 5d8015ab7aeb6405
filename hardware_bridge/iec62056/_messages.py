"""Messages the reading side sends (IEC 62056-21 clause 6.3), and the block check character.

* request        ``/ ? [address] ! CR LF``
* option select  ``ACK V Z Y CR LF`` — V protocol control (``0`` normal), Z baud character,
  Y mode: ``0`` readout, ``1`` programming, ``2`` binary; TEDAŞ adds ``6`` short readout,
  ``7`` history, ``8`` warnings, ``9`` outage records.
* break          ``SOH B 0 ETX BCC``
* password       ``SOH P 1 STX (password) ETX BCC``
"""

from __future__ import annotations

import re
from enum import StrEnum

from hardware_bridge.iec62056._errors import LocalProtocolError
from hardware_bridge.iec62056._ident import BAUD_CHARS_MODE_B, BAUD_CHARS_MODE_C

__all__ = [
    "ACK",
    "CR_LF",
    "EOT",
    "ETX",
    "NAK",
    "SOH",
    "STX",
    "OptionMode",
    "bcc",
    "break_message",
    "makel_address",
    "option_select",
    "password_message",
    "request_message",
    "vendor_address",
]

SOH, STX, ETX, EOT, ACK, NAK = b"\x01", b"\x02", b"\x03", b"\x04", b"\x06", b"\x15"
CR_LF = b"\r\n"

_ADDRESS = re.compile(r"[\x20-\x7e]{0,32}")


class OptionMode(StrEnum):
    """The ``Y`` character of the option select message."""

    READOUT = "0"
    PROGRAMMING = "1"
    BINARY = "2"
    SHORT_READOUT = "6"
    HISTORY = "7"
    WARNINGS = "8"
    OUTAGES = "9"


def bcc(data: bytes | bytearray) -> int:
    """Block check character: XOR of ``data`` (the bytes after STX/SOH, ETX included), 7-bit."""
    value = 0
    for byte in data:
        value ^= byte
    return value & 0x7F


def request_message(address: str = "") -> bytes:
    """Sign-on request; ``address`` as given (e.g. ``MSY80099921``) or empty for any meter."""
    if not _ADDRESS.fullmatch(address) or any(ch in "/!?" for ch in address):
        raise LocalProtocolError(f"device address {address!r} is not printable ASCII without /?!")
    return f"/?{address}!".encode("ascii") + CR_LF


def vendor_address(manufacturer: str, serial: str | int) -> str:
    """Address as manufacturer flag code + serial number (TEDAŞ: ``MKS123456789``)."""
    code = manufacturer.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise LocalProtocolError(f"manufacturer flag code must be three letters, not {code!r}")
    number = str(serial).strip()
    if not number.isdigit():
        raise LocalProtocolError(f"serial number must be digits, not {number!r}")
    return f"{code}{number}"


def makel_address(serial: str | int) -> str:
    """Makel meters are addressed as ``MSY`` + serial, e.g. ``MSY80099921``."""
    return vendor_address("MSY", serial)


def option_select(
    baud_char: str, mode: OptionMode | str = OptionMode.READOUT, protocol: str = "0"
) -> bytes:
    """``ACK V Z Y CR LF``."""
    if baud_char not in BAUD_CHARS_MODE_C and baud_char not in BAUD_CHARS_MODE_B:
        raise LocalProtocolError(f"baud character {baud_char!r} is not a mode B/C character")
    y = str(mode)
    if len(y) != 1 or not y.isdigit():
        raise LocalProtocolError(f"mode character {y!r} must be one digit")
    if len(protocol) != 1 or not protocol.isdigit():
        raise LocalProtocolError(f"protocol character {protocol!r} must be one digit")
    return ACK + f"{protocol}{baud_char}{y}".encode("ascii") + CR_LF


def _soh_message(command: bytes, body: bytes | None) -> bytes:
    payload = command + (STX + body if body is not None else b"") + ETX
    return SOH + payload + bytes([bcc(payload)])


def break_message() -> bytes:
    """``SOH B0 ETX BCC``: end the session; the meter falls back to 300 baud."""
    return _soh_message(b"B0", None)


def password_message(password: str, level: int = 1) -> bytes:
    """``SOH P<level> STX (password) ETX BCC`` (P1 plain password, P2 encrypted)."""
    if level not in (1, 2):
        raise LocalProtocolError("password level must be 1 or 2")
    if not _ADDRESS.fullmatch(password) or any(ch in "()" for ch in password):
        raise LocalProtocolError("password must be printable ASCII without parentheses")
    return _soh_message(f"P{level}".encode("ascii"), f"({password})".encode("ascii"))
