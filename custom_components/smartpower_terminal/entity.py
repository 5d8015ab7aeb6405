"""Base entity, device info, and adding entities per device (subentry) as their specs appear."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from hardware_bridge import PollGroup

from .const import (
    CONF_TERMINAL_MODEL,
    DOMAIN,
    MANUFACTURER_ADAPTER,
    MANUFACTURER_TERMINAL,
    SUBENTRY_METER,
)
from .coordinator import LineHub, SmartPowerCoordinator, device_identifier, entity_unique_id
from .data import SmartPowerConfigEntry

__all__ = ["SmartPowerEntity", "async_add_device_entities", "line_device_info"]


def line_device_info(entry: SmartPowerConfigEntry) -> DeviceInfo:
    """The terminal (one per serial line)."""
    model = str(entry.data.get(CONF_TERMINAL_MODEL, "adapter"))
    is_terminal = model.startswith("ht_")
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer=MANUFACTURER_TERMINAL if is_terminal else MANUFACTURER_ADAPTER,
        model=model.upper().replace("_", " ") if is_terminal else "USB serial adapter",
        model_id=model,
    )


# Newer releases link a device to its hub by registry id (``via_device`` is deprecated there).
_VIA_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__


def subentry_device_info(hub: LineHub, subentry: ConfigSubentry) -> DeviceInfo:
    """The device of a subentry; one dict shared by all its entities while nothing changed."""
    snapshot = hub.snapshot(subentry.subentry_id)
    info = snapshot.info if snapshot is not None else None
    if info is None or (info.manufacturer is None and info.model is None):
        info = hub.device_info(subentry.subentry_id)
    cached = hub.entity_device_infos.get(subentry.subentry_id)
    if cached is not None and cached[0] == (info, hub.line_device_id, subentry.title):
        return cached[1]
    device_info = DeviceInfo(
        identifiers={device_identifier(hub.entry, subentry.subentry_id)},
        name=str(subentry.data.get(CONF_NAME) or subentry.title),
        manufacturer=info.manufacturer if info else None,
        model=info.model if info else None,
        serial_number=info.serial_number if info else None,
        sw_version=info.sw_version if info else None,
    )
    if not _VIA_DEVICE_ID or hub.line_device_id is None:
        device_info["via_device"] = (DOMAIN, hub.entry.entry_id)
    else:
        device_info["via_device_id"] = hub.line_device_id  # type: ignore[typeddict-unknown-key]
    hub.entity_device_infos[subentry.subentry_id] = (
        (info, hub.line_device_id, subentry.title),
        device_info,
    )
    return device_info


_UNWRITTEN = object()


class SmartPowerEntity(CoordinatorEntity[SmartPowerCoordinator]):
    """An entity of one device on the line; available only while that device answers.

    A refresh writes its state only when what it shows changed: a line of 247 devices has
    thousands of entities, and most values are steady from one poll to the next.
    """

    _attr_has_entity_name = True
    _written: object = _UNWRITTEN

    def __init__(
        self,
        coordinator: SmartPowerCoordinator,
        subentry: ConfigSubentry,
        description: EntityDescription,
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.hub = coordinator.hub
        self.device_key = subentry.subentry_id
        self._attr_unique_id = entity_unique_id(
            coordinator.config_entry.entry_id, subentry.subentry_id, description.key
        )
        self._attr_device_info = subentry_device_info(self.hub, subentry)

    @property
    def available(self) -> bool:
        return super().available and self.hub.available(self.device_key)

    def shown(self) -> object:
        """What a state write would show; the write is skipped while this is unchanged."""
        return (self.available, self.state, self.extra_state_attributes)

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = self.shown()
        if shown == self._written:
            return
        self._written = shown
        self.async_write_ha_state()


type EntityFactory = Callable[[LineHub, ConfigSubentry, set[str]], Iterable[Entity]]
"""Builds the entities of one device whose keys are not in the given set (it adds them)."""


def coordinator_for(hub: LineHub, group: PollGroup) -> SmartPowerCoordinator:
    return next(c for c in hub.coordinators if c.group is group)


def primary_coordinator(hub: LineHub, subentry: ConfigSubentry) -> SmartPowerCoordinator:
    """Meters are read in the slow cycle only; Modbus devices are seen every fast cycle."""
    group = PollGroup.SLOW if subentry.subentry_type == SUBENTRY_METER else PollGroup.FAST
    return coordinator_for(hub, group)


@callback
def async_add_device_entities(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    factory: EntityFactory,
) -> None:
    """Add each device's entities now, and new ones when a later readout brings new keys."""
    hub = entry.runtime_data.hub
    known: dict[str, set[str]] = {}
    seen_version = -1

    @callback
    def add_new() -> None:
        nonlocal seen_version
        if hub.specs_version == seen_version:  # no device's set of values changed
            return
        seen_version = hub.specs_version
        for subentry_id, subentry in hub.devices.items():
            seen = known.setdefault(subentry_id, set())
            if entities := list(factory(hub, subentry, seen)):
                # a remote terminal's devices come from its description, not subentries
                own = subentry_id if subentry_id in entry.subentries else None
                async_add_entities(entities, config_subentry_id=own)

    add_new()
    for coordinator in hub.coordinators:
        entry.async_on_unload(coordinator.async_add_listener(add_new))
