"""Serial line settings shared by every protocol that runs over a serial port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Parity", "SerialSettings", "char_time"]

type Parity = Literal["N", "E", "O"]

_VALID_BAUDS = frozenset({300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200})


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialSettings:
    """How to open one serial line (a USB adapter, an optical head, an RS-485 bus)."""

    port: str
    baudrate: int = 9600
    bytesize: Literal[7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("serial port must not be empty")
        if self.baudrate not in _VALID_BAUDS:
            raise ValueError(f"unsupported baud rate {self.baudrate}")
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be N, E or O, not {self.parity!r}")

    @property
    def char_bits(self) -> int:
        """Bits on the wire per character: start + data + parity + stop."""
        return 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits


def char_time(settings: SerialSettings) -> float:
    """Seconds one character occupies on the wire."""
    return settings.char_bits / settings.baudrate
