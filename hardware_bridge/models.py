"""Protocol-neutral data the terminal hands to its users (the daemon, Home Assistant).

A device (an IEC meter or a Modbus device on a line) describes what it can measure with
:class:`MeasurementSpec` and reports what it measured in a :class:`DeviceSnapshot`. Specs carry
Home Assistant hints as plain strings so this package never imports Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

__all__ = [
    "BillingPeriod",
    "DeviceInfo",
    "DeviceSnapshot",
    "LineProtocol",
    "MeasurementSpec",
    "PollGroup",
    "Value",
]

type Value = float | int | bool | str | datetime | date | None


class PollGroup(StrEnum):
    """How often a value is worth reading: instantaneous values fast, counters slow."""

    FAST = "fast"
    SLOW = "slow"
    IO = "io"
    """Relays and inputs: a contact must be seen within a second, at the cost of one short read."""


class LineProtocol(StrEnum):
    IEC62056 = "iec62056"
    MODBUS = "modbus"


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementSpec:
    """One value a device can report, with the hints an entity needs.

    ``kind`` says what the value is: a ``number`` (int or float, in ``unit``), a ``bool``, a
    ``text``, a ``timestamp`` (an aware datetime) or a ``date`` (a calendar day, no time).
    """

    key: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    kind: Literal["number", "bool", "text", "timestamp", "date"] = "number"
    group: PollGroup = PollGroup.FAST
    enabled_by_default: bool = True
    diagnostic: bool = False
    io: Literal["relay", "input"] | None = None
    """A relay (switched with ``LineTerminal.write``) or a dry-contact input; a ``bool``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    sw_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingPeriod:
    """Counters a meter stored when it closed a past billing period (OBIS ``X*N``).

    ``period`` 1 is the most recent; ``reset`` is when the meter closed it (OBIS ``0.1.2*N``,
    the meter's local time; ``None`` if the meter did not say), so its values are the
    counters at the start of the period that followed.
    """

    period: int
    reset: datetime | None
    values: Mapping[str, Value] = field(default_factory=dict)


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
    history: tuple[BillingPeriod, ...] = ()
    """Past billing periods a meter keeps, most recent first (empty for other devices)."""
    read_keys: frozenset[str] | None = None
    """The keys this poll actually read; the other ``values`` are carried over from earlier
    polls (another poll group). None means every value is fresh (a meter readout)."""
