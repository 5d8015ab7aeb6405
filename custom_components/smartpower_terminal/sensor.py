"""Sensors: measurements from profiles and OBIS readouts, reactive ratios, read diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.helpers.typing import StateType

from hardware_bridge import MeasurementSpec, PollGroup

from .const import ATTR_BILLING_MONTH
from .coordinator import LineHub
from .data import SmartPowerConfigEntry
from .entity import (
    SmartPowerEntity,
    async_add_device_entities,
    coordinator_for,
    primary_coordinator,
)
from .modem_entities import async_setup_modem_sensors
from .modem_hub import is_modem_entry
from .reactive import (
    ATTR_MONTH_END,
    ATTR_PROJECTION_METHOD,
    ATTR_RATE_WINDOW_HOURS,
    PROJECTION_METHOD,
    has_reactive_counters,
    month_start_attributes,
)
from .remote_const import SUBENTRY_REMOTE_DEVICE

PARALLEL_UPDATES = 0  # the coordinator does all I/O

type SensorValue = StateType | date | datetime


@dataclass(frozen=True, kw_only=True)
class SmartPowerSensorDescription(SensorEntityDescription):
    """``value_fn(hub, device_key)``; ``line_level`` entities stay available while the device
    is silent (they describe the reading itself)."""

    value_fn: Callable[[LineHub, str], SensorValue]
    line_level: bool = False


def _device_class(value: str | None) -> SensorDeviceClass | None:
    try:
        return SensorDeviceClass(value) if value else None
    except ValueError:  # e.g. reactive_energy, unknown to older Home Assistant releases
        return None


def _state_class(value: str | None) -> SensorStateClass | None:
    try:
        return SensorStateClass(value) if value else None
    except ValueError:
        return None


def _measurement_value(key: str, kind: str) -> Callable[[LineHub, str], SensorValue]:
    def value(hub: LineHub, device_key: str) -> SensorValue:
        raw = hub.value(device_key, key)
        if raw is None or isinstance(raw, bool):
            return None
        if kind == "timestamp":
            return raw if isinstance(raw, datetime) else None
        if kind == "date":
            return raw if isinstance(raw, date) and not isinstance(raw, datetime) else None
        if kind == "text":
            return str(raw)
        return raw if isinstance(raw, int | float) else None

    return value


_KIND_DEVICE_CLASSES = {
    "timestamp": SensorDeviceClass.TIMESTAMP,
    "date": SensorDeviceClass.DATE,
}

# Values that change on every readout (a meter's clock): as entities they would write a state
# and a logbook entry on every poll. Disabled by default; ``meter_time_drift`` shows the clock.
TICKING_KEYS = frozenset({"meter_time"})


@cache
def spec_description(spec: MeasurementSpec) -> SmartPowerSensorDescription:
    """An entity description from what the bridge says about one value.

    Shared by every device with the same spec (the same profile): a line of 247 devices
    would otherwise hold thousands of equal descriptions.
    """
    numeric = spec.kind == "number"
    return SmartPowerSensorDescription(
        key=spec.key,
        translation_key=spec.key,
        name=spec.name,
        native_unit_of_measurement=spec.unit if numeric else None,
        device_class=_KIND_DEVICE_CLASSES.get(spec.kind)
        or (_device_class(spec.device_class) if numeric else None),
        state_class=_state_class(spec.state_class) if numeric else None,
        suggested_display_precision=spec.precision if numeric else None,
        entity_registry_enabled_default=spec.enabled_by_default and spec.key not in TICKING_KEYS,
        entity_category=EntityCategory.DIAGNOSTIC if spec.diagnostic else None,
        value_fn=_measurement_value(spec.key, spec.kind),
    )


def _last_read(hub: LineHub, device_key: str) -> SensorValue:
    snapshot = hub.snapshot(device_key)
    return snapshot.last_success if snapshot else None


def _read_errors(hub: LineHub, device_key: str) -> SensorValue:
    snapshot = hub.snapshot(device_key)
    return snapshot.consecutive_failures if snapshot else None


def _round_trip(hub: LineHub, device_key: str) -> SensorValue:
    snapshot = hub.snapshot(device_key)
    if snapshot is None or snapshot.round_trip is None:
        return None
    return round(snapshot.round_trip * 1000, 1)


# ``last_read`` and ``round_trip`` change on every poll of every device: enabled, they would
# write a state (and, for the timestamp, a logbook entry) each time. Disabled by default.
DIAGNOSTIC_SENSORS: tuple[SmartPowerSensorDescription, ...] = (
    SmartPowerSensorDescription(
        key="last_read",
        translation_key="last_read",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_last_read,
        line_level=True,
    ),
    SmartPowerSensorDescription(
        key="read_errors",
        translation_key="read_errors",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_read_errors,
        line_level=True,
    ),
    SmartPowerSensorDescription(
        key="round_trip",
        translation_key="round_trip",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_round_trip,
    ),
)


# -- reactive ratios and their month-end projection --------------------------------------
def _ratio(side: str) -> Callable[[LineHub, str], SensorValue]:
    def value(hub: LineHub, device_key: str) -> SensorValue:
        ratios = hub.reactive.ratios(device_key)
        return getattr(ratios, side) if ratios else None

    return value


def _projected(side: str) -> Callable[[LineHub, str], SensorValue]:
    def value(hub: LineHub, device_key: str) -> SensorValue:
        ratios = hub.reactive.ratios(device_key)
        projection = ratios.projection if ratios else None
        return getattr(projection, side) if projection else None

    return value


def _month_start_attributes(hub: LineHub, device_key: str) -> dict[str, Any]:
    """Which month the ratio is for, and where its month-start counters came from."""
    ratios = hub.reactive.ratios(device_key)
    return {
        ATTR_BILLING_MONTH: ratios.month if ratios else None,
        **month_start_attributes(hub.reactive.baseline(device_key)),
    }


def _projection_attributes(hub: LineHub, device_key: str) -> dict[str, Any]:
    ratios = hub.reactive.ratios(device_key)
    projection = ratios.projection if ratios else None
    return {
        **_month_start_attributes(hub, device_key),
        ATTR_PROJECTION_METHOD: PROJECTION_METHOD,
        ATTR_RATE_WINDOW_HOURS: projection.window_hours if projection else None,
        ATTR_MONTH_END: projection.month_end.isoformat() if projection else None,
    }


@dataclass(frozen=True, kw_only=True)
class ReactiveSensorDescription(SmartPowerSensorDescription):
    attributes_fn: Callable[[LineHub, str], Mapping[str, Any]]


def _reactive_description(
    key: str, value_fn: Callable[[LineHub, str], SensorValue], projection: bool
) -> ReactiveSensorDescription:
    return ReactiveSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=value_fn,
        attributes_fn=_projection_attributes if projection else _month_start_attributes,
    )


REACTIVE_SENSORS: tuple[SmartPowerSensorDescription, ...] = (
    _reactive_description("reactive_inductive_ratio", _ratio("inductive"), False),
    _reactive_description("reactive_capacitive_ratio", _ratio("capacitive"), False),
    _reactive_description("reactive_inductive_projection", _projected("inductive"), True),
    _reactive_description("reactive_capacitive_projection", _projected("capacitive"), True),
)


def _device_sensors(
    hub: LineHub, subentry: ConfigSubentry, known: set[str]
) -> Iterable[SmartPowerSensor]:
    device_key = subentry.subentry_id
    specs = hub.specs(device_key)
    new: list[SmartPowerSensor] = []
    for spec in specs:
        if spec.kind != "bool" and spec.key not in known:
            coordinator = coordinator_for(hub, spec.group)
            cls = CounterSensor if spec.state_class == "total_increasing" else SmartPowerSensor
            new.append(cls(coordinator, subentry, spec_description(spec)))
    extra: list[SmartPowerSensorDescription] = []
    if specs or hub.snapshot(device_key) is not None:
        # a remote device's read errors and round trips happen on the terminal, unseen here
        remote = subentry.subentry_type == SUBENTRY_REMOTE_DEVICE
        extra.extend(d for d in DIAGNOSTIC_SENSORS if not remote or d.key == "last_read")
    if has_reactive_counters({s.key for s in specs}):
        extra.extend(REACTIVE_SENSORS)
    for description in extra:
        if description.key not in known:
            group = PollGroup.SLOW if description in REACTIVE_SENSORS else None
            coordinator = (
                coordinator_for(hub, group) if group else primary_coordinator(hub, subentry)
            )
            cls = ReactiveSensor if description in REACTIVE_SENSORS else SmartPowerSensor
            new.append(cls(coordinator, subentry, description))
    known.update(entity.entity_description.key for entity in new)
    return new


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if is_modem_entry(entry):
        await async_setup_modem_sensors(hass, entry, async_add_entities)  # type: ignore[arg-type]
        return
    async_add_device_entities(hass, entry, async_add_entities, _device_sensors)


class SmartPowerSensor(SmartPowerEntity, SensorEntity):
    entity_description: SmartPowerSensorDescription

    @property
    def available(self) -> bool:
        if self.entity_description.line_level:
            return self.coordinator.last_update_success and self.hub.line_ok
        return super().available

    @property
    def native_value(self) -> SensorValue:
        return self.entity_description.value_fn(self.hub, self.device_key)

    def shown(self) -> object:
        return (self.available, self.native_value, self.extra_state_attributes)


class CounterSensor(SmartPowerSensor, RestoreEntity):
    """An energy counter: its last state seeds the guard after a restart (see guard.py)."""


class ReactiveSensor(SmartPowerSensor):
    """A reactive ratio or its projection, with where its month start and rates come from."""

    entity_description: ReactiveSensorDescription

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return self.entity_description.attributes_fn(self.hub, self.device_key)
