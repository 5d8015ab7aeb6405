"""Protocol-neutral data the terminal hands to its users (the daemon, Home Assistant).

A device (an IEC meter or a Modbus device on a line) describes what it can measure with
:class:`MeasurementSpec` and reports what it measured in a :class:`DeviceSnapshot`. Specs carry
Home Assistant hints as plain strings so this package never imports Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

__all__ = [
    "DeviceInfo",
    "DeviceSnapshot",
    "LineProtocol",
    "MeasurementSpec",
    "PollGroup",
    "Value",
]

type Value = float | int | bool | str | datetime | None


class PollGroup(StrEnum):
    """How often a value is worth reading: instantaneous values fast, counters slow."""

    FAST = "fast"
    SLOW = "slow"


class LineProtocol(StrEnum):
    IEC62056 = "iec62056"
    MODBUS = "modbus"


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementSpec:
    """One value a device can report, with the hints an entity needs."""

    key: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    kind: Literal["number", "bool", "text", "timestamp"] = "number"
    group: PollGroup = PollGroup.FAST
    enabled_by_default: bool = True
    diagnostic: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    sw_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSnapshot:
    """What one device answered in its last poll; ``available`` False means no value is trusted."""

    device_key: str
    available: bool
    values: Mapping[str, Value] = field(default_factory=dict)
    info: DeviceInfo = field(default_factory=DeviceInfo)
    last_success: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    requests: int = 0
    round_trip: float | None = None
    read_keys: frozenset[str] | None = None
    """The keys this poll actually read; the other ``values`` are carried over from earlier
    polls (another poll group). None means every value is fresh (a meter readout)."""
