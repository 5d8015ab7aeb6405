"""Switches: the relays of Modbus I/O boards (shown with the line's I/O support on).

A switch shows the state read back from the board, never the state asked for: a write the
board did not confirm raises an error that says so, and the switch shows what was read back
(or unknown when the board did not answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.components.switch import (
    SwitchDeviceClass,
    SwitchEntity,
    SwitchEntityDescription,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import LineHub
from .data import SmartPowerConfigEntry
from .entity import SmartPowerEntity, async_add_device_entities, coordinator_for
from .gpio_entities import async_setup_gpio_switches
from .gpio_line import is_gpio_entry
from .io_entities import io_description_fields

ATTR_COMMAND = "command"
PARALLEL_UPDATES = 1  # one write at a time per platform; the terminal serialises the bus anyway


def _device_switches(
    hub: LineHub, subentry: ConfigSubentry, known: set[str]
) -> Iterable[SwitchEntity]:
    new: list[SwitchEntity] = []
    for spec in hub.specs(subentry.subentry_id):
        if spec.io != "relay" or spec.key in known:
            continue
        _settings, fields = io_description_fields(spec, subentry)
        description = SwitchEntityDescription(
            device_class=SwitchDeviceClass.SWITCH,
            **fields,  # type: ignore[arg-type]
        )
        new.append(RelaySwitch(coordinator_for(hub, spec.group), subentry, description))
        known.add(spec.key)
    return new


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if is_gpio_entry(entry):
        await async_setup_gpio_switches(hass, entry, async_add_entities)  # type: ignore[arg-type]
        return
    async_add_device_entities(hass, entry, async_add_entities, _device_switches)


class RelaySwitch(SmartPowerEntity, SwitchEntity):
    """A relay output; on/off are confirmed by reading the relay back."""

    @property
    def is_on(self) -> bool | None:
        value = self.hub.value(self.device_key, self.entity_description.key)
        return value if isinstance(value, bool) else None

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """A remote relay's command the terminal has not carried out yet."""
        state = self.hub.relay_command(self.device_key, self.entity_description.key)
        return {ATTR_COMMAND: state} if state is not None else None

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self.hub.async_switch(self.device_key, self.entity_description.key, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self.hub.async_switch(self.device_key, self.entity_description.key, False)
