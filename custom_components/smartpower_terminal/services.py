"""The ``read_now`` action: read a line (or the line of one device) at once."""

from __future__ import annotations

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, SERVICE_READ_NOW
from .data import SmartPowerConfigEntry

__all__ = ["async_setup_services"]

READ_NOW_SCHEMA = vol.Schema({vol.Optional(ATTR_DEVICE_ID): cv.string})


def _entries_for(hass: HomeAssistant, device_id: str | None) -> list[SmartPowerConfigEntry]:
    entries: list[SmartPowerConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    if device_id is not None:
        device = dr.async_get(hass).async_get(device_id)
        if device is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="device_not_found",
                translation_placeholders={"device_id": device_id},
            )
        # newer releases: one owning entry per device (config_entries is deprecated there)
        owner = getattr(device, "config_entry_id", None)
        owners = {owner} if owner is not None else set(device.config_entries)
        entries = [e for e in entries if e.entry_id in owners]
        if not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="device_not_ours",
                translation_placeholders={"device": device.name_by_user or device.name or ""},
            )
    loaded = [e for e in entries if e.state is ConfigEntryState.LOADED]
    if not loaded:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    return loaded


async def _async_read_now(call: ServiceCall) -> None:
    for entry in _entries_for(call.hass, call.data.get(ATTR_DEVICE_ID)):
        data = entry.runtime_data
        for coordinator in data.coordinators:
            await coordinator.async_refresh()
            if not coordinator.last_update_success:
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="read_failed",
                    translation_placeholders={
                        "line": entry.title,
                        "error": data.hub.line_error or str(coordinator.last_exception),
                    },
                )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    hass.services.async_register(DOMAIN, SERVICE_READ_NOW, _async_read_now, READ_NOW_SCHEMA)
