"""Diagnostics download: configuration, profiles in use, last readings, error counters.

Users attach this file to public bug reports. Nothing in it may identify the installation: the
port (a ``/dev/serial/by-id`` path carries the adapter's serial number), meter serial numbers
and IEC addresses (usually the serial number), and secrets (auth codes, tokens) are redacted
by key, and their values are also scrubbed from every text (titles, error messages).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ADDRESS, CONF_PORT
from .data import SmartPowerConfigEntry
from .gpio_line import gpio_diagnostics, is_gpio_entry
from .modem_diagnostics import modem_diagnostics
from .modem_hub import is_modem_entry

TO_REDACT = {
    CONF_PORT,
    CONF_ADDRESS,
    "serial_number",
    "meter_serial",
    "unique_id",
    # network terminals: the modem's auth code ("Yetki Kodu") and the tokens it is traded for
    "auth_code",
    "yetki_kodu",
    "modem_no",
    "token",
    "access_token",
    "refresh_token",
    "password",
    "api_key",
}


def _secrets(entry: SmartPowerConfigEntry) -> set[str]:
    """Values that must not appear anywhere, not even inside a title or an error message."""
    hub = entry.runtime_data.hub
    found = {str(entry.data.get(CONF_PORT) or ""), str(entry.unique_id or "")}
    for subentry in entry.subentries.values():
        found.add(str(subentry.data.get(CONF_ADDRESS) or ""))
        found.add(str(subentry.unique_id or "") if subentry.subentry_type == "meter" else "")
    for device_key in hub.devices:
        snapshot = hub.snapshot(device_key)
        if snapshot is not None:
            found.add(str(snapshot.info.serial_number or ""))
            found.add(str(snapshot.values.get("meter_serial") or ""))
    # a short value (an address like "1") would scrub half the file: those go by key only
    return {s for s in found if len(s) >= 4}


def _scrub(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
    return value


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SmartPowerConfigEntry
) -> dict[str, Any]:
    if is_modem_entry(entry):
        return modem_diagnostics(entry)  # type: ignore[arg-type]
    if is_gpio_entry(entry):
        return gpio_diagnostics(entry)  # type: ignore[arg-type]
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
    result = {
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
    return _scrub(async_redact_data(result, TO_REDACT), _secrets(entry))
