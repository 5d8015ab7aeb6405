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
    "Point",
    "PollGroup",
    "Probe",
    "Profile",
    "SerialDefaults",
    "WordOrder",
]

type WordOrder = Literal["big", "little"]
type PollGroup = Literal["fast", "slow"]


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
    # Lookups derived from ``points``, built once: callers ask for them in per-poll loops.
    _by_key: dict[str, Point] = field(init=False, repr=False, compare=False, hash=False)
    _value_keys: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_key: dict[str, Point] = {}
        keys: list[str] = []
        for point in self.points:
            by_key.setdefault(point.key, point)
            keys.append(point.key)
            keys.extend(bit.key for bit in point.bits)
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_value_keys", tuple(keys))

    def point(self, key: str) -> Point:
        """The point with this key (KeyError if unknown)."""
        return self._by_key[key]

    @property
    def value_keys(self) -> tuple[str, ...]:
        """Every key a reading can contain: points and their bits, in file order."""
        return self._value_keys
