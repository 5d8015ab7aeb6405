"""Config entry migrations: entries and entities made by earlier releases keep their history.

1.1 → 1.2: entity unique ids were ``{entry unique id (the port)}_{subentry id}_{key}``; moving
the line to another adapter changed every one of them. They become
``{entry id}_{subentry id}_{key}`` (entity ids stay as they are). Diagnostic sensors whose
state changes on every poll are disabled unless a user enabled them: they filled the logbook
and cost a state write per poll.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN
from .coordinator import entity_unique_id
from .data import SmartPowerConfigEntry

__all__ = ["CURRENT_MINOR_VERSION", "CURRENT_VERSION", "async_migrate_entry"]

_LOGGER = logging.getLogger(__name__)

CURRENT_VERSION = 1
CURRENT_MINOR_VERSION = 2
# Enabled by default in 1.1, changing on every poll (see sensor.DIAGNOSTIC_SENSORS).
_TICKING_KEYS = ("last_read", "round_trip", "meter_time")


async def async_migrate_entry(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> bool:
    if entry.version > CURRENT_VERSION:
        _LOGGER.error("%s was saved by a newer release; it cannot be loaded", entry.title)
        return False
    if entry.minor_version < 2:
        await _async_migrate_unique_ids(hass, entry)
        hass.config_entries.async_update_entry(entry, minor_version=2)
        _LOGGER.debug("%s migrated to version 1.2", entry.title)
    return True


async def _async_migrate_unique_ids(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> None:
    registry = er.async_get(hass)
    prefixes = [f"{entry.unique_id}_"] if entry.unique_id else []
    prefixes.append(f"{entry.entry_id}_")

    def new_unique_id(unique_id: str) -> str | None:
        for subentry_id in entry.subentries:
            for prefix in prefixes:  # the port as it was when the entities were made
                if unique_id.startswith(f"{prefix}{subentry_id}_"):
                    return unique_id[len(prefix) :]
            # a port changed since (a reconfigured line): find the subentry id itself
            marker = f"_{subentry_id}_"
            if (at := unique_id.find(marker)) >= 0:
                return unique_id[at + 1 :]
        return None

    @callback
    def migrate(reg_entry: er.RegistryEntry) -> dict[str, Any] | None:
        rest = new_unique_id(reg_entry.unique_id)
        if rest is None:
            return None
        device_key, _, key = rest.partition("_")
        new = entity_unique_id(entry.entry_id, device_key, key)
        if new == reg_entry.unique_id:
            return None
        if registry.async_get_entity_id(reg_entry.domain, DOMAIN, new) is not None:
            _LOGGER.debug("%s: %s already exists, left as it is", reg_entry.entity_id, new)
            return None
        updates: dict[str, Any] = {"new_unique_id": new}
        if key in _TICKING_KEYS and reg_entry.disabled_by is None:
            updates["disabled_by"] = er.RegistryEntryDisabler.INTEGRATION
        return updates

    await er.async_migrate_entries(hass, entry.entry_id, migrate)
