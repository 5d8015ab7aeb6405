"""Device profiles: frozen descriptions of a device model's registers (loaded from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = [
    "REGISTER_WIDTH",
    "Bit",
    "DataType",
    "Hole",
    "InitWrite",
    "IoPoint",
    "Point",
    "PollGroup",
    "Probe",
    "Profile",
    "ReadBack",
    "SerialDefaults",
    "WordOrder",
    "WriteCommand",
]

type WordOrder = Literal["big", "little"]
type PollGroup = Literal["fast", "slow", "io"]
"""``io`` is the relays and inputs only (points are ``fast`` or ``slow``)."""


class DataType(StrEnum):
    """Register encodings a profile may use."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT64 = "int64"
    UINT64 = "uint64"


REGISTER_WIDTH: dict[DataType, int] = {
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bit:
    """One bit of a bitfield register, exposed as a boolean value."""

    bit: int
    key: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One value of a device: where it lives and how to turn registers into a number."""

    key: str
    name: str
    address: int
    function_code: Literal[3, 4]
    type: DataType
    word_order: WordOrder
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    group: PollGroup = "fast"
    enabled_by_default: bool = True
    bits: tuple[Bit, ...] = ()
    scale_by: str | None = None
    invalid_raw: tuple[int, ...] = ()
    """Raw values the device uses for "no value" (e.g. 0xFFFF); decoded as None."""

    @property
    def width(self) -> int:
        """Registers the value occupies."""
        return REGISTER_WIDTH[self.type]

    @property
    def end(self) -> int:
        """First address after the value."""
        return self.address + self.width


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadBack:
    """Where a relay's or an input's state is read: a coil (FC01), a discrete input (FC02),
    or a register (FC03/FC04) — one bit of it, or its whole value compared with ``on_raw`` /
    ``off_raw`` (any other raw value is unavailable, never guessed)."""

    function_code: Literal[1, 2, 3, 4]
    address: int
    bit: int | None = None
    on_raw: int = 1
    off_raw: int = 0

    def state(self, raw: int) -> bool | None:
        """The on/off state in one coil/input bit (0/1) or one register word."""
        if self.function_code in (1, 2) or self.bit is not None:
            return bool((raw >> (self.bit or 0)) & 1)
        if raw == self.on_raw:
            return True
        if raw == self.off_raw:
            return False
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteCommand:
    """How a relay is switched: FC05 (coil, FF00/0000), FC0F (one coil of a multi-write),
    FC06 / FC10 (a holding register set to the board's ``on`` / ``off`` command value)."""

    function_code: Literal[5, 6, 15, 16]
    address: int
    on: int = 0xFF00
    off: int = 0x0000


@dataclass(frozen=True, slots=True, kw_only=True)
class IoPoint:
    """A relay (writable, with a read-back) or an input (read only), exposed as a boolean."""

    key: str
    name: str
    kind: Literal["relay", "input"]
    read: ReadBack
    write: WriteCommand | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InitWrite:
    """A register write sent once per device on first contact (e.g. a board's mode)."""

    function_code: Literal[6, 16]
    address: int
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hole:
    """Registers ``start..end`` (inclusive) that the device refuses to read."""

    function_code: Literal[3, 4]
    start: int
    end: int

    def overlaps(self, function_code: int, start: int, stop: int) -> bool:
        """True when ``start..stop-1`` with this function code touches the hole."""
        return function_code == self.function_code and start <= self.end and stop > self.start


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """A register read during a scan to recognise the model."""

    function_code: Literal[3, 4]
    address: int
    type: DataType
    word_order: WordOrder
    equals: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def width(self) -> int:
        return REGISTER_WIDTH[self.type]

    def matches(self, value: float | None) -> bool:
        """Does a decoded probe value identify the model?"""
        if value is None:
            return False
        if self.equals is not None and value != self.equals:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialDefaults:
    """Line settings the manufacturer ships the device with."""

    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A device model: metadata, read limits, identification and points."""

    id: str
    manufacturer: str
    model: str
    source: str
    """Where the profile came from (file path), for messages."""
    description: str = ""
    function_code: Literal[3, 4] = 3
    word_order: WordOrder | None = None
    max_registers_per_read: int = 125
    max_gap: int | None = None
    holes: tuple[Hole, ...] = ()
    probes: tuple[Probe, ...] = ()
    serial: SerialDefaults = field(default_factory=SerialDefaults)
    points: tuple[Point, ...] = ()
    io: tuple[IoPoint, ...] = ()
    """Relays and inputs (boolean, read with FC01/FC02 or a register; relays writable)."""
    bit_read_size: int = 1
    """Coil/input reads ask for at least this many bits (boards that accept only 8)."""
    init: tuple[InitWrite, ...] = ()
    """Writes the bus sends once per device before its first read or write."""
    # Lookups derived from ``points``, built once: callers ask for them in per-poll loops.
    _by_key: dict[str, Point] = field(init=False, repr=False, compare=False, hash=False)
    _value_keys: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)
    _io_by_key: dict[str, IoPoint] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_key: dict[str, Point] = {}
        keys: list[str] = []
        for point in self.points:
            by_key.setdefault(point.key, point)
            keys.append(point.key)
            keys.extend(bit.key for bit in point.bits)
        keys.extend(io.key for io in self.io)
        object.__setattr__(self, "_io_by_key", {io.key: io for io in self.io})
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_value_keys", tuple(keys))

    def point(self, key: str) -> Point:
        """The point with this key (KeyError if unknown)."""
        return self._by_key[key]

    def io_point(self, key: str) -> IoPoint:
        """The relay or input with this key (KeyError if unknown)."""
        return self._io_by_key[key]

    @property
    def relays(self) -> tuple[IoPoint, ...]:
        return tuple(io for io in self.io if io.kind == "relay")

    @property
    def inputs(self) -> tuple[IoPoint, ...]:
        return tuple(io for io in self.io if io.kind == "input")

    @property
    def value_keys(self) -> tuple[str, ...]:
        """Every key a reading can contain: points and their bits in file order, then relays
        and inputs."""
        return self._value_keys
