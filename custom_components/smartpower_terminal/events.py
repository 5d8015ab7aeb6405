"""Terminal events on Home Assistant's bus: what device triggers and alarm automations follow."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN

__all__ = ["EVENT_TERMINAL", "EVENT_TYPES", "async_fire_terminal_event"]

EVENT_TERMINAL: Final = f"{DOMAIN}_event"
EVENT_TYPES: Final = (
    "input_changed",
    "relay_changed",
    "mains_lost",
    "mains_restored",
    "device_offline",
    "device_online",
    "reactive_limit_exceeded",
    "compensation_alarm",
)


@callback
def async_fire_terminal_event(
    hass: HomeAssistant,
    *,
    device_id: str,
    event_type: str,
    key: str | None = None,
    entity_id: str | None = None,
    **details: str | int | float | bool | None,
) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown terminal event type {event_type!r}")
    data: dict[str, object] = {"device_id": device_id, "type": event_type}
    if key is not None:
        data["key"] = key
    if entity_id is not None:
        data["entity_id"] = entity_id
    data.update(details)
    hass.bus.async_fire(EVENT_TERMINAL, data)
