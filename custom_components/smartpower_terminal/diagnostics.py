"""Diagnostics download: configuration, profiles in use, last readings, error counters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .data import SmartPowerConfigEntry

# Nothing secret is stored yet; network terminals will add the modem's auth code and tokens.
TO_REDACT = {"auth_code", "yetki_kodu", "token", "access_token", "password", "api_key"}


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SmartPowerConfigEntry
) -> dict[str, Any]:
    data = entry.runtime_data
    hub = data.hub
    devices: dict[str, Any] = {}
    for device_key, subentry in hub.devices.items():
        snapshot = hub.snapshot(device_key)
        baseline = hub.reactive.baseline(device_key)
        devices[device_key] = {
            "title": subentry.title,
            "type": subentry.subentry_type,
            "data": async_redact_data(dict(subentry.data), TO_REDACT),
            "profile": hub.profile_id(device_key),
            "specs": len(hub.specs(device_key)),
            "snapshot": _jsonable(asdict(snapshot)) if snapshot is not None else None,
            "shown_values": _jsonable(hub.values(device_key)),
            "reactive_baseline": asdict(baseline) if baseline is not None else None,
        }
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "line": {
            "ok": hub.line_ok,
            "error": hub.line_error,
            "coordinators": {
                c.group.value: {
                    "last_update_success": c.last_update_success,
                    "interval_seconds": c.update_interval.total_seconds()
                    if c.update_interval
                    else None,
                }
                for c in data.coordinators
            },
            "energy_readings_rejected": hub.guard.rejected,
        },
        "profiles_in_use": sorted({p for k in hub.devices if (p := hub.profile_id(k)) is not None}),
        "profile_errors": [str(e) for e in data.catalogue.errors],
        "devices": devices,
    }
