"""Binary sensors: compensation stages, status and alarm bits, reactive limit and penalty risk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from hardware_bridge import MeasurementSpec, PollGroup

from .const import (
    ATTR_BILLING_MONTH,
    ATTR_CAPACITIVE_LIMIT,
    ATTR_INDUCTIVE_LIMIT,
    CONF_CAPACITIVE_LIMIT,
    CONF_INDUCTIVE_LIMIT,
    DEFAULT_CAPACITIVE_LIMIT,
    DEFAULT_INDUCTIVE_LIMIT,
)
from .coordinator import LineHub
from .data import SmartPowerConfigEntry
from .entity import SmartPowerEntity, async_add_device_entities, coordinator_for
from .reactive import (
    ATTR_MONTH_END,
    ATTR_PROJECTED_CAPACITIVE,
    ATTR_PROJECTED_INDUCTIVE,
    ATTR_PROJECTION_METHOD,
    ATTR_RATE_WINDOW_HOURS,
    PROJECTION_METHOD,
    has_reactive_counters,
    month_start_attributes,
)

PARALLEL_UPDATES = 0  # the coordinator does all I/O

REACTIVE_LIMIT = BinarySensorEntityDescription(
    key="reactive_limit_exceeded",
    translation_key="reactive_limit_exceeded",
    device_class=BinarySensorDeviceClass.PROBLEM,
)
PENALTY_RISK = BinarySensorEntityDescription(
    key="reactive_penalty_risk",
    translation_key="reactive_penalty_risk",
    device_class=BinarySensorDeviceClass.PROBLEM,
)


def spec_description(spec: MeasurementSpec) -> BinarySensorEntityDescription:
    return BinarySensorEntityDescription(
        key=spec.key,
        translation_key=spec.key,
        name=spec.name,
        device_class=BinarySensorDeviceClass.PROBLEM if spec.key.startswith("alarm_") else None,
        entity_registry_enabled_default=spec.enabled_by_default,
    )


def _device_binary_sensors(
    hub: LineHub, subentry: ConfigSubentry, known: set[str]
) -> Iterable[BinarySensorEntity]:
    specs = hub.specs(subentry.subentry_id)
    new: list[BinarySensorEntity] = [
        SmartPowerBinarySensor(coordinator_for(hub, spec.group), subentry, spec_description(spec))
        for spec in specs
        if spec.kind == "bool" and spec.key not in known
    ]
    if has_reactive_counters({s.key for s in specs}):
        slow = coordinator_for(hub, PollGroup.SLOW)
        if REACTIVE_LIMIT.key not in known:
            new.append(ReactiveLimitBinarySensor(slow, subentry, REACTIVE_LIMIT))
        if PENALTY_RISK.key not in known:
            new.append(PenaltyRiskBinarySensor(slow, subentry, PENALTY_RISK))
    known.update(entity.entity_description.key for entity in new)
    return new


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_device_entities(hass, entry, async_add_entities, _device_binary_sensors)


class SmartPowerBinarySensor(SmartPowerEntity, BinarySensorEntity):
    @property
    def is_on(self) -> bool | None:
        value = self.hub.value(self.device_key, self.entity_description.key)
        return value if isinstance(value, bool) else None


class ReactiveLimitBinarySensor(SmartPowerEntity, BinarySensorEntity):
    """On while this month's inductive or capacitive share is above its limit."""

    def _limits(self) -> tuple[float, float]:
        options = self.coordinator.config_entry.options
        return (
            float(options.get(CONF_INDUCTIVE_LIMIT, DEFAULT_INDUCTIVE_LIMIT)),
            float(options.get(CONF_CAPACITIVE_LIMIT, DEFAULT_CAPACITIVE_LIMIT)),
        )

    @property
    def is_on(self) -> bool | None:
        ratios = self.hub.reactive.ratios(self.device_key)
        if ratios is None or ratios.inductive is None or ratios.capacitive is None:
            return None
        inductive_limit, capacitive_limit = self._limits()
        return ratios.inductive > inductive_limit or ratios.capacitive > capacitive_limit

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        inductive_limit, capacitive_limit = self._limits()
        ratios = self.hub.reactive.ratios(self.device_key)
        return {
            ATTR_INDUCTIVE_LIMIT: inductive_limit,
            ATTR_CAPACITIVE_LIMIT: capacitive_limit,
            ATTR_BILLING_MONTH: ratios.month if ratios else None,
            **month_start_attributes(self.hub.reactive.baseline(self.device_key)),
        }


class PenaltyRiskBinarySensor(ReactiveLimitBinarySensor):
    """On while a month-end projection of a ratio is above its limit (act before the bill)."""

    @property
    def is_on(self) -> bool | None:
        ratios = self.hub.reactive.ratios(self.device_key)
        projection = ratios.projection if ratios else None
        if projection is None:
            return None
        inductive_limit, capacitive_limit = self._limits()
        return projection.inductive > inductive_limit or projection.capacitive > capacitive_limit

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        ratios = self.hub.reactive.ratios(self.device_key)
        projection = ratios.projection if ratios else None
        return {
            **super().extra_state_attributes,
            ATTR_PROJECTED_INDUCTIVE: projection.inductive if projection else None,
            ATTR_PROJECTED_CAPACITIVE: projection.capacitive if projection else None,
            ATTR_PROJECTION_METHOD: PROJECTION_METHOD,
            ATTR_RATE_WINDOW_HOURS: projection.window_hours if projection else None,
            ATTR_MONTH_END: projection.month_end.isoformat() if projection else None,
        }
