"""Binary sensors: compensation stages, status and alarm bits, reactive limit and penalty risk,
dry-contact inputs, and the terminal's mains power."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from hardware_bridge import MainsMonitor, MainsState, MeasurementSpec, PollGroup

from .const import (
    ATTR_BILLING_MONTH,
    ATTR_CAPACITIVE_LIMIT,
    ATTR_INDUCTIVE_LIMIT,
    ATTR_LAST_OUTAGE_DURATION,
    ATTR_LAST_OUTAGE_END,
    ATTR_LAST_OUTAGE_START,
    ATTR_OUTAGE_START,
    DOMAIN,
    MAINS_KEY,
)
from .coordinator import LineHub, SmartPowerCoordinator
from .data import SmartPowerConfigEntry
from .entity import SmartPowerEntity, async_add_device_entities, coordinator_for
from .gpio_entities import async_setup_gpio_binary_sensors
from .gpio_line import is_gpio_entry
from .io_entities import io_description_fields
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
from .watch import IoSettings, reactive_limits, reactive_over_limit

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
        if spec.kind == "bool" and spec.io is None and spec.key not in known
    ]
    for spec in specs:
        if spec.io == "input" and spec.key not in known:
            settings, fields = io_description_fields(spec, subentry)
            description = BinarySensorEntityDescription(
                device_class=(
                    BinarySensorDeviceClass(settings.device_class)
                    if settings.device_class
                    else None
                ),
                **fields,  # type: ignore[arg-type]
            )
            new.append(
                InputBinarySensor(coordinator_for(hub, spec.group), subentry, description, settings)
            )
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
    if is_gpio_entry(entry):
        await async_setup_gpio_binary_sensors(hass, entry, async_add_entities)  # type: ignore[arg-type]
        return
    async_add_device_entities(hass, entry, async_add_entities, _device_binary_sensors)
    hub = entry.runtime_data.hub
    if (monitor := hub.watch.mains) is not None and hub.watch.source is not None:
        device_key, input_key = hub.watch.source.device_key, hub.watch.source.input_key
        if input_key is not None:
            group = PollGroup.IO
        else:
            group = PollGroup.FAST if hub.profile_id(device_key) else PollGroup.SLOW
        coordinator = next((c for c in hub.coordinators if c.group is group), None)
        if coordinator is not None:
            async_add_entities([MainsBinarySensor(coordinator, monitor)])


class SmartPowerBinarySensor(SmartPowerEntity, BinarySensorEntity):
    @property
    def is_on(self) -> bool | None:
        value = self.hub.value(self.device_key, self.entity_description.key)
        return value if isinstance(value, bool) else None


class InputBinarySensor(SmartPowerBinarySensor):
    """A dry-contact input: on when the contact is closed (open when inverted in the form)."""

    def __init__(
        self,
        coordinator: SmartPowerCoordinator,
        subentry: ConfigSubentry,
        description: BinarySensorEntityDescription,
        settings: IoSettings,
    ) -> None:
        super().__init__(coordinator, subentry, description)
        self._inverted = settings.inverted

    @property
    def is_on(self) -> bool | None:
        closed = super().is_on
        return None if closed is None else closed != self._inverted


class ReactiveLimitBinarySensor(SmartPowerEntity, BinarySensorEntity):
    """On while this month's inductive or capacitive share is above its limit."""

    def _limits(self) -> tuple[float, float]:
        return reactive_limits(self.coordinator.config_entry.options)

    @property
    def is_on(self) -> bool | None:
        return reactive_over_limit(
            self.hub.reactive.ratios(self.device_key), self.coordinator.config_entry.options
        )

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


class MainsBinarySensor(
    CoordinatorEntity[SmartPowerCoordinator], BinarySensorEntity, RestoreEntity
):
    """The terminal's mains power: on while present, off during an outage.

    Unavailable while the source says nothing conclusive (a meter that stopped answering is
    not an outage). The current and the last outage are attributes; the last outage is kept
    across restarts until a newer one ends.
    """

    _attr_has_entity_name = True
    _attr_translation_key = MAINS_KEY
    _attr_device_class = BinarySensorDeviceClass.POWER
    _written: object = None

    def __init__(self, coordinator: SmartPowerCoordinator, monitor: MainsMonitor) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._monitor = monitor
        self._attr_unique_id = f"{entry.entry_id}_{MAINS_KEY}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})
        self._restored: dict[str, Any] = {}

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            self._restored = {
                key: last.attributes.get(key)
                for key in (ATTR_LAST_OUTAGE_START, ATTR_LAST_OUTAGE_END, ATTR_LAST_OUTAGE_DURATION)
            }

    @property
    def available(self) -> bool:
        return super().available and self._monitor.state is not MainsState.UNKNOWN

    @property
    def is_on(self) -> bool | None:
        state = self._monitor.state
        return None if state is MainsState.UNKNOWN else state is MainsState.PRESENT

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        current = self._monitor.current_outage
        last = self._monitor.last_outage
        duration = self._monitor.last_outage_duration
        if last is None and self._restored:
            return {ATTR_OUTAGE_START: current.started.isoformat() if current else None,
                    **self._restored}  # fmt: skip
        return {
            ATTR_OUTAGE_START: current.started.isoformat() if current else None,
            ATTR_LAST_OUTAGE_START: last.started.isoformat() if last else None,
            ATTR_LAST_OUTAGE_END: last.ended.isoformat() if last and last.ended else None,
            ATTR_LAST_OUTAGE_DURATION: duration.total_seconds() if duration else None,
        }

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = (self.available, self.is_on, self.extra_state_attributes)
        if shown == self._written:
            return
        self._written = shown
        self.async_write_ha_state()
