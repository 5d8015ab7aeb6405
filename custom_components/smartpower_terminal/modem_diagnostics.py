"""Diagnostics of a modem entry: its configuration and last status, nothing that identifies it.

The IMEI (also the entry's unique id), the port (a by-id path carries the adapter's serial
number) and the recipients' phone numbers are redacted by key and scrubbed from every text.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data

from .const import CONF_PORT, CONF_RECIPIENTS
from .modem_hub import ModemConfigEntry

__all__ = ["modem_diagnostics"]

TO_REDACT = {CONF_PORT, CONF_RECIPIENTS, "imei", "serial_number", "unique_id"}


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def modem_diagnostics(entry: ModemConfigEntry) -> dict[str, Any]:
    coordinator = entry.runtime_data.coordinator
    reading = coordinator.data
    identity = coordinator.identity
    secrets = {
        str(entry.unique_id or ""),
        str(entry.data.get(CONF_PORT) or ""),
        str(identity.get("imei") or ""),
        *entry.runtime_data.recipients,
    }
    if reading.status is not None:
        secrets.add(str(reading.status.imei or ""))
    # the longest first: a number inside another is replaced as part of it
    ordered = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
    result = {
        "entry": {
            "title": entry.title,
            "data": dict(entry.data),
            "options": dict(entry.options),
        },
        "identity": dict(identity),
        "answering": coordinator.answering,
        "last_update_success": coordinator.last_update_success,
        "interval_seconds": coordinator.update_interval.total_seconds()
        if coordinator.update_interval is not None
        else None,
        "status": reading.status.as_dict() if reading.status is not None else None,
        "error": reading.error,
        "recipient_count": len(entry.runtime_data.recipients),
    }
    scrubbed: dict[str, Any] = _scrub(async_redact_data(result, TO_REDACT), ordered)
    return scrubbed
