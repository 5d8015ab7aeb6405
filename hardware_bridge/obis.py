"""OBIS code → measurement, with the meanings used on Turkish meters.

Source: TEDAŞ-MLZ/2017-062.B clause 102 and Annex C (the codes a Turkish meter reads out),
and IEC 62056-61 value groups C.D.E for the rest. Keys are stable snake_case names (they end
up in unique ids). Device and state classes are plain strings that match Home Assistant's.

Addresses are matched on C.D.E: ``1-0:1.8.0*255`` and ``1.8.0`` are the same value; ``*N``
with N ≠ 255 is billing period N (history) — exposed in :attr:`MeterValues.history`, never
taken for the current value. Codes not in the table are kept in :attr:`MeterValues.extras`.

On a consumer meter inductive reactive energy is 5.8.0 and capacitive 8.8.0. Bidirectional
meters also count 6.8.0 (capacitive, export side) and 7.8.0 (inductive, export side).

Every code has a kind, and its value arrives typed (Annex C gives each code's format):

* ``number`` — a float in the definition's unit (``1.8.0(000070.677*kWh)`` → 70.677);
* ``integer`` — a count (``0.1.0(42)``, demand resets → 42);
* ``flag`` — a state read through the definition's ``flags`` table (``96.6.1``: 0 weak, 1 full);
* ``date`` — a calendar day (``96.1.3(18-11-27)`` → 2018-11-27);
* ``timestamp`` — an event time in the meter's zone (``96.71(23-05-23,12:08)``);
* ``time`` — the meter's time of day, normalised to ``hh:mm:ss``;
* ``text`` — kept as sent (serial number, firmware, status word).

A value that does not fit its kind is ``None``, and so is an all-zero date or time stamp: the
meter's way of saying the event has not happened (see :mod:`hardware_bridge.meter_clock`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Literal

from hardware_bridge.iec62056 import DataSet
from hardware_bridge.meter_clock import parse_meter_date, parse_meter_stamp, parse_meter_time

__all__ = [
    "OBIS_TABLE",
    "Measurement",
    "MeterValues",
    "ObisDefinition",
    "ObisValue",
    "lookup",
    "map_datasets",
    "normalise_code",
    "parse_integer",
    "parse_number",
]

type Kind = Literal["number", "integer", "flag", "date", "timestamp", "time", "text"]
type ObisValue = float | int | bool | str | date | datetime | None

_PREFIX = re.compile(r"^[0-9]{1,3}-[0-9]{1,3}:")
_SUFFIX = re.compile(r"\*([0-9]{1,3})$")
_CURRENT = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class ObisDefinition:
    """What one code means: key, kind, unit the value is converted to, and HA hints.

    ``precision`` is the number of decimals worth showing where the meter's resolution is
    known (TEDAŞ Annex C formats: ``123456.789`` kWh, ``123.456`` kW); ``flags`` maps the sent
    text of a ``flag`` to its state.
    """

    key: str
    name: str
    kind: Kind = "number"
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    flags: Mapping[str, bool] | None = None


def _energy(key: str, name: str) -> ObisDefinition:
    return ObisDefinition(
        key=key,
        name=name,
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
        precision=3,
    )


def _reactive(key: str, name: str) -> ObisDefinition:
    return ObisDefinition(
        key=key,
        name=name,
        unit="kvarh",
        device_class="reactive_energy",
        state_class="total_increasing",
        precision=3,
    )


def _measure(
    key: str, name: str, unit: str | None, device_class: str, precision: int | None = None
) -> ObisDefinition:
    return ObisDefinition(
        key=key,
        name=name,
        unit=unit,
        device_class=device_class,
        state_class="measurement",
        precision=precision,
    )


def _text(key: str, name: str) -> ObisDefinition:
    return ObisDefinition(key=key, name=name, kind="text")


def _date(key: str, name: str) -> ObisDefinition:
    return ObisDefinition(key=key, name=name, kind="date", device_class="date")


def _stamp(key: str, name: str) -> ObisDefinition:
    return ObisDefinition(key=key, name=name, kind="timestamp", device_class="timestamp")


_TARIFFS = {"1": "t1", "2": "t2", "3": "t3", "4": "t4"}

OBIS_TABLE: Mapping[str, ObisDefinition] = {
    "0.0.0": _text("meter_serial", "Meter serial number"),
    "C.1.0": _text("meter_serial", "Meter serial number"),
    "96.1.0": _text("meter_serial", "Meter serial number"),
    "0.2.0": _text("firmware_version", "Firmware version"),
    "0.9.1": ObisDefinition(key="meter_time", name="Meter time", kind="time"),
    "0.9.2": _date("meter_date", "Meter date"),
    "0.1.0": ObisDefinition(
        key="billing_period_count", name="Billing period resets", kind="integer"
    ),
    "1.8.0": _energy("energy_import_total", "Active energy import"),
    **{
        f"1.8.{t}": _energy(f"energy_import_{k}", f"Active energy import {k.upper()}")
        for t, k in _TARIFFS.items()
    },
    "2.8.0": _energy("energy_export_total", "Active energy export"),
    **{
        f"2.8.{t}": _energy(f"energy_export_{k}", f"Active energy export {k.upper()}")
        for t, k in _TARIFFS.items()
    },
    "5.8.0": _reactive("reactive_inductive_total", "Inductive reactive energy"),
    "8.8.0": _reactive("reactive_capacitive_total", "Capacitive reactive energy"),
    "6.8.0": _reactive("reactive_capacitive_export_total", "Capacitive reactive, export side"),
    "7.8.0": _reactive("reactive_inductive_export_total", "Inductive reactive, export side"),
    "1.6.0": _measure(
        "max_demand", "Maximum demand (timestamp in the second value)", "kW", "power", 3
    ),
    "2.6.0": _measure("max_demand_export", "Maximum demand export", "kW", "power", 3),
    "1.7.0": _measure("power_import", "Active power import", "kW", "power", 3),
    "2.7.0": _measure("power_export", "Active power export", "kW", "power", 3),
    "32.7.0": _measure("voltage_l1", "Voltage L1", "V", "voltage"),
    "52.7.0": _measure("voltage_l2", "Voltage L2", "V", "voltage"),
    "72.7.0": _measure("voltage_l3", "Voltage L3", "V", "voltage"),
    "31.7.0": _measure("current_l1", "Current L1", "A", "current"),
    "51.7.0": _measure("current_l2", "Current L2", "A", "current"),
    "71.7.0": _measure("current_l3", "Current L3", "A", "current"),
    "13.7.0": _measure("power_factor", "Power factor", None, "power_factor"),
    "33.7.0": _measure("power_factor_l1", "Power factor L1", None, "power_factor"),
    "53.7.0": _measure("power_factor_l2", "Power factor L2", None, "power_factor"),
    "73.7.0": _measure("power_factor_l3", "Power factor L3", None, "power_factor"),
    "14.7.0": _measure("frequency", "Frequency", "Hz", "frequency", 1),  # Annex C: 12.3
    "34.7.0": _measure("frequency_l1", "Frequency L1", "Hz", "frequency", 1),
    "96.1.3": _date("production_date", "Production date"),
    "96.2.5": _date("calibration_date", "Calibration date"),
    # Annex C: "Pil Durum Kodu" 0 = weak, 1 = full. On = low, as Home Assistant's battery class.
    "96.6.1": ObisDefinition(
        key="battery_low",
        name="Battery low",
        kind="flag",
        device_class="battery",
        flags={"0": True, "1": False},
    ),
    "96.70": _stamp("top_cover_opened", "Top cover last opened"),
    "96.71": _stamp("terminal_cover_opened", "Terminal cover last opened"),
    "F.F": _text("status_word", "Error/status word"),
    "F.F.0": _text("status_word", "Error/status word"),
}

# Unit as sent (lower case) → (unit we report, factor).
_UNITS: Mapping[str, tuple[str, float]] = {
    "wh": ("kWh", 0.001),
    "kwh": ("kWh", 1.0),
    "mwh": ("kWh", 1000.0),
    "varh": ("kvarh", 0.001),
    "kvarh": ("kvarh", 1.0),
    "mvarh": ("kvarh", 1000.0),
    "w": ("kW", 0.001),
    "kw": ("kW", 1.0),
    "mw": ("kW", 1000.0),
    "var": ("kvar", 0.001),
    "kvar": ("kvar", 1.0),
    "v": ("V", 1.0),
    "kv": ("V", 1000.0),
    "a": ("A", 1.0),
    "hz": ("Hz", 1.0),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One value read from a meter, typed by its definition's kind.

    ``value`` is ``None`` when the text does not fit the kind (not a number where a number was
    due, an all-zero date) — never a made-up 0 or date. ``timestamp`` is the second value
    group as sent, where the meter sends one (maximum demand). ``period`` is the billing
    period of a history value.
    """

    key: str | None
    code: str
    value: ObisValue
    unit: str | None
    device_class: str | None
    state_class: str | None
    timestamp: str | None = None
    period: int | None = None
    dataset: DataSet


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterValues:
    """Current measurements by key, billing-period history, and everything not in the table."""

    measurements: Mapping[str, Measurement]
    history: tuple[Measurement, ...]
    extras: tuple[DataSet, ...]

    def value(self, key: str) -> ObisValue:
        measurement = self.measurements.get(key)
        return None if measurement is None else measurement.value

    def sent(self, key: str) -> str | None:
        """The first value group of ``key`` as the meter sent it (before typing)."""
        measurement = self.measurements.get(key)
        if measurement is None or not measurement.dataset.values:
            return None
        return measurement.dataset.values[0].value


def normalise_code(address: str) -> tuple[str, int | None]:
    """``1-0:1.8.0*255`` → ``("1.8.0", None)``; ``1.8.0*2`` → ``("1.8.0", 2)``."""
    code = _PREFIX.sub("", address.strip())
    period: int | None = None
    match = _SUFFIX.search(code)
    if match is not None:
        code = code[: match.start()]
        number = int(match.group(1))
        period = None if number == _CURRENT else number
    return code, period


def lookup(address: str) -> ObisDefinition | None:
    """The definition for an address (any form), or ``None`` if the code is unknown."""
    return OBIS_TABLE.get(normalise_code(address)[0])


def parse_number(text: str) -> float | None:
    """``"+000.8"`` → 0.8, ``"- 001.67"`` → -1.67, ``"abc"`` → ``None``."""
    cleaned = text.replace(" ", "")
    if not cleaned or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", cleaned):
        return None
    return float(cleaned)


def parse_integer(text: str) -> int | None:
    """``"42"`` → 42, ``"007"`` → 7; anything but digits (``"4.5"``, ``""``) → ``None``."""
    cleaned = text.strip()
    return int(cleaned) if re.fullmatch(r"[+-]?\d+", cleaned) else None


def _number(
    definition: ObisDefinition, text: str, sent_unit: str | None
) -> tuple[float | None, str | None]:
    number = parse_number(text)
    unit = definition.unit
    if number is not None and sent_unit is not None:
        converted = _UNITS.get(sent_unit.lower())
        if converted is not None:
            unit, factor = converted
            number *= factor
        else:
            unit = sent_unit
    return number, unit


def _typed(definition: ObisDefinition, text: str, tz: tzinfo) -> ObisValue:
    match definition.kind:
        case "integer":
            return parse_integer(text)
        case "flag":
            return (definition.flags or {}).get(text.strip())
        case "date":
            return parse_meter_date(text)
        case "timestamp":
            return parse_meter_stamp(text, tz)
        case "time":
            return parse_meter_time(text)
        case _:
            return text


def _measurement(
    definition: ObisDefinition, dataset: DataSet, code: str, period: int | None, tz: tzinfo
) -> Measurement:
    first = dataset.values[0] if dataset.values else None
    timestamp = dataset.values[1].value if len(dataset.values) > 1 else None
    value: ObisValue = None
    unit: str | None = definition.unit
    if first is not None and definition.kind == "number":
        value, unit = _number(definition, first.value, first.unit)
    elif first is not None:
        value = _typed(definition, first.value, tz)
        unit = first.unit if definition.kind == "text" else definition.unit
    return Measurement(
        key=definition.key,
        code=code,
        value=value,
        unit=unit,
        device_class=definition.device_class,
        state_class=definition.state_class,
        timestamp=timestamp,
        period=period,
        dataset=dataset,
    )


def map_datasets(datasets: Iterable[DataSet], tz: tzinfo | None = None) -> MeterValues:
    """Turn a readout's data sets into measurements; unknown codes go to ``extras``.

    ``tz`` is the zone the meter's clock keeps, for its time stamps (default: the host's).
    """
    zone = tz or datetime.now().astimezone().tzinfo or UTC
    measurements: dict[str, Measurement] = {}
    history: list[Measurement] = []
    extras: list[DataSet] = []
    for dataset in datasets:
        code, period = normalise_code(dataset.address)
        definition = OBIS_TABLE.get(code)
        if definition is None:
            extras.append(dataset)
            continue
        measurement = _measurement(definition, dataset, code, period, zone)
        if period is not None:
            history.append(measurement)
        elif definition.key in measurements:
            extras.append(dataset)  # a second code for the same key: keep it, raw
        else:
            measurements[definition.key] = measurement
    return MeterValues(measurements=measurements, history=tuple(history), extras=tuple(extras))
