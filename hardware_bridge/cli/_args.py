"""Argument types for ``smartpower-bridge``: text in, a checked value out, or one clear line.

Each factory returns a callable for argparse's ``type=``. A rejected value raises
:class:`argparse.ArgumentTypeError`, which the parser prints as
``smartpower-bridge COMMAND: argument --timeout: …`` and exits with 2 (bad input), before any
port is opened. Numbers are read as plain ASCII decimals: Python's own ``int``/``float``
would also take ``nan``, ``inf``, ``1_0`` and other scripts' digits.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Iterable

__all__ = [
    "IEC_BAUDRATES",
    "MODBUS_BAUDRATES",
    "baudrate",
    "integer",
    "number",
    "seconds",
    "text",
]

MODBUS_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
IEC_BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200)
"""The mode C rates (baud characters 0..6) of IEC 62056-21."""

_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]{1,12}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][+-]?[0-9]{1,3})?"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TEXT = 4096


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def integer(
    low: int | None = None, high: int | None = None, what: str = "a whole number"
) -> Callable[[str], int]:
    """A decimal integer, in ``low..high`` when given (else the command checks the range)."""
    shown = what if low is None or high is None else f"{what} {low}..{high}"

    def parse(value: str) -> int:
        number = int(value) if _INTEGER.fullmatch(value) else None
        if (
            number is None
            or (low is not None and number < low)
            or (high is not None and number > high)
        ):
            raise argparse.ArgumentTypeError(f"expected {shown}, not {_quoted(value)}")
        return number

    parse.__name__ = "integer"
    return parse


def number(
    maximum: float, *, minimum: float = 0.0, zero: bool = False, what: str = "a number"
) -> Callable[[str], float]:
    """A finite number above ``minimum`` (or equal to it when ``zero``), at most ``maximum``.

    ``nan`` compares false with every limit and ``inf`` waits for ever on a silent line, so
    both are refused like any other text that is not a decimal number.
    """
    span = f"from {minimum:g} to {maximum:g}" if zero else f"above {minimum:g}, at most {maximum:g}"

    def parse(value: str) -> float:
        parsed = float(value) if _DECIMAL.fullmatch(value) else math.nan
        above = parsed >= minimum if zero else parsed > minimum
        if not (math.isfinite(parsed) and above and parsed <= maximum):
            raise argparse.ArgumentTypeError(f"expected {what} {span}, not {_quoted(value)}")
        return parsed

    parse.__name__ = "number"
    return parse


def seconds(maximum: float, *, minimum: float = 0.0, zero: bool = False) -> Callable[[str], float]:
    """A duration: :func:`number` in seconds."""
    return number(maximum, minimum=minimum, zero=zero, what="seconds")


def baudrate(rates: Iterable[int], *, allow_zero: str | None = None) -> Callable[[str], int]:
    """One of the given rates; ``allow_zero`` names what 0 means when it is allowed."""
    allowed = tuple(rates)
    shown = ", ".join(str(rate) for rate in allowed)
    if allow_zero is not None:
        shown += f" or 0 ({allow_zero})"

    def parse(value: str) -> int:
        number = int(value) if _INTEGER.fullmatch(value) else -1
        if number not in allowed and not (number == 0 and allow_zero is not None):
            raise argparse.ArgumentTypeError(f"expected one of {shown}, not {_quoted(value)}")
        return number

    parse.__name__ = "baudrate"
    return parse


def text(what: str = "text", *, empty: bool = False) -> Callable[[str], str]:
    """Text such as a port, a path or an id: no NUL or control characters, bounded length.

    It must also be something a command line can carry (bytes the file system can take):
    a lone surrogate such as ``"\\ud800"`` passed to ``main()`` would fail on ``open``.
    """

    def parse(value: str) -> str:
        if (not value and not empty) or len(value) > _MAX_TEXT or _CONTROL.search(value):
            raise argparse.ArgumentTypeError(f"expected {what}, not {_quoted(value)}")
        try:
            os.fsencode(value)
        except UnicodeEncodeError:
            raise argparse.ArgumentTypeError(f"expected {what}, not {_quoted(value)}") from None
        return value

    parse.__name__ = "text"
    return parse
