"""Binary sensors for the GPIO inputs (IN1/IN2) and switches for the GPIO relays (C1/C2)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .gpio_line import GpioData, gpio_device_info, gpio_unique_id

__all__ = ["async_setup_gpio_binary_sensors", "async_setup_gpio_switches"]


class _GpioEntity(Entity):
    """An entity of one GPIO line, updated when an edge arrives or a relay was switched."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: ConfigEntry[GpioData], key: str, kind: str) -> None:
        self._data = entry.runtime_data
        self._key = key
        self._attr_unique_id = gpio_unique_id(entry.entry_id, key)
        self._attr_device_info = gpio_device_info(entry)
        self._attr_translation_key = kind
        self._attr_translation_placeholders = {"number": key.rpartition("_")[2]}
        self._shown: object = None

    async def async_added_to_hass(self) -> None:
        self._data.listeners.append(self._changed)
        self.async_on_remove(lambda: self._data.listeners.remove(self._changed))

    @callback
    def _changed(self) -> None:
        shown = (self.available, getattr(self, "is_on", None))
        if shown != self._shown:
            self._shown = shown
            self.async_write_ha_state()


class GpioInputSensor(_GpioEntity, BinarySensorEntity):
    """On while the input is active (contact closed, after active-low)."""

    @property
    def available(self) -> bool:
        return self._data.backend.inputs[self._key].state.active is not None

    @property
    def is_on(self) -> bool | None:
        return self._data.backend.inputs[self._key].state.active


class GpioRelaySwitch(_GpioEntity, SwitchEntity):
    """A relay on an output line; the state shown is the line read back."""

    _attr_device_class = SwitchDeviceClass.SWITCH

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[GpioData], key: str) -> None:
        super().__init__(entry, key, "relay")
        self._entry_id = entry.entry_id
        self._hass = hass

    @property
    def available(self) -> bool:
        return self._data.relay_state(self._key) is not None

    @property
    def is_on(self) -> bool | None:
        return self._data.relay_state(self._key)

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._data.async_switch(self._hass, self._entry_id, self._key, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._data.async_switch(self._hass, self._entry_id, self._key, False)


async def async_setup_gpio_binary_sensors(
    hass: HomeAssistant,
    entry: ConfigEntry[GpioData],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(
        GpioInputSensor(entry, key, "input") for key in entry.runtime_data.backend.inputs
    )


async def async_setup_gpio_switches(
    hass: HomeAssistant,
    entry: ConfigEntry[GpioData],
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(
        GpioRelaySwitch(hass, entry, key) for key in entry.runtime_data.backend.relays
    )
