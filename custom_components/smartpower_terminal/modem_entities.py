"""The cellular modem's sensors: signal, registration, operator, access technology, SIM.

Each shows exactly what the last poll read; while the modem does not answer, all of them are
unavailable. LTE serving-cell figures (RSRP, RSRQ, SINR) are added once the modem has reported
one (a 2G module never does), disabled by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    SIGNAL_STRENGTH_DECIBELS,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from hardware_bridge import ModemStatus

from .modem_hub import ModemConfigEntry, ModemCoordinator, modem_device_info

__all__ = ["ModemEntity", "ModemSensor", "async_setup_modem_sensors"]

REGISTRATIONS = ["home", "roaming", "searching", "denied", "unknown"]
SIM_STATES = ["ready", "pin_required", "puk_required", "absent"]
# State values are lower case (translation keys); the names shown are "2G", "3G", "4G".
TECHNOLOGIES = {"2G": "2g", "3G": "3g", "4G": "4g"}


@dataclass(frozen=True, kw_only=True)
class ModemSensorDescription(SensorEntityDescription):
    value: Callable[[ModemStatus], str | int | float | None]


SENSORS: tuple[ModemSensorDescription, ...] = (
    ModemSensorDescription(
        key="signal_strength",
        translation_key="modem_signal_strength",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        value=lambda s: s.signal_dbm,
    ),
    ModemSensorDescription(
        key="registration",
        translation_key="modem_registration",
        device_class=SensorDeviceClass.ENUM,
        options=REGISTRATIONS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda s: s.registration,
    ),
    ModemSensorDescription(
        key="operator",
        translation_key="modem_operator",
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda s: s.operator,
    ),
    ModemSensorDescription(
        key="access_technology",
        translation_key="modem_access_technology",
        device_class=SensorDeviceClass.ENUM,
        options=list(TECHNOLOGIES.values()),
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda s: TECHNOLOGIES.get(s.access_technology or ""),
    ),
    ModemSensorDescription(
        key="sim_state",
        translation_key="modem_sim_state",
        device_class=SensorDeviceClass.ENUM,
        options=SIM_STATES,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda s: s.sim,
    ),
)

LTE_SENSORS: tuple[ModemSensorDescription, ...] = (
    ModemSensorDescription(
        key="rsrp",
        translation_key="modem_rsrp",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value=lambda s: s.rsrp_dbm,
    ),
    ModemSensorDescription(
        key="rsrq",
        translation_key="modem_rsrq",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value=lambda s: s.rsrq_db,
    ),
    # The vendors scale SINR differently and not all document it: shown as the module
    # printed it, without a unit, rather than converted by a guess.
    ModemSensorDescription(
        key="sinr",
        translation_key="modem_sinr",
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value=lambda s: s.sinr_raw,
    ),
)


def _offers_lte_figures(status: ModemStatus | None) -> bool:
    return status is not None and any(
        v is not None for v in (status.rsrp_dbm, status.rsrq_db, status.sinr_raw)
    )


class ModemEntity(CoordinatorEntity[ModemCoordinator]):
    """An entity of the modem's device; unavailable while the modem does not answer."""

    _attr_has_entity_name = True

    def __init__(self, entry: ModemConfigEntry, key: str) -> None:
        super().__init__(entry.runtime_data.coordinator)
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}_{key}"
        self._attr_device_info = modem_device_info(entry)

    @property
    def available(self) -> bool:
        return super().available and self.coordinator.data.status is not None


class ModemSensor(ModemEntity, SensorEntity):
    entity_description: ModemSensorDescription

    def __init__(self, entry: ModemConfigEntry, description: ModemSensorDescription) -> None:
        super().__init__(entry, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> str | int | float | None:
        status = self.coordinator.data.status
        return None if status is None else self.entity_description.value(status)


async def async_setup_modem_sensors(
    hass: HomeAssistant,
    entry: ModemConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    async_add_entities(ModemSensor(entry, d) for d in SENSORS)

    if _offers_lte_figures(coordinator.data.status):
        async_add_entities(ModemSensor(entry, d) for d in LTE_SENSORS)
        return

    @callback
    def add_lte_sensors() -> None:
        if _offers_lte_figures(coordinator.data.status) and not added:
            added.append(True)
            async_add_entities(ModemSensor(entry, d) for d in LTE_SENSORS)

    added: list[bool] = []
    entry.async_on_unload(coordinator.async_add_listener(add_lte_sensors))
