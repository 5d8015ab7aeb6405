"""Terminal events on the bus: what device triggers, blueprints and automations listen to.

A terminal's inputs and relays change, its mains supply fails and returns, devices on its line
go silent and come back, a compensation relay raises an alarm: each is fired once, when it
happens, as a ``smartpower_terminal_event`` naming the Home Assistant device it belongs to.

Event data: ``device_id`` (device registry id), ``type`` (one of EVENT_TYPES), ``key`` (the
value key, ``input_1``, ``relay_2``, ``alarm_overvoltage``: the device trigger's subtype),
``entity_id`` of the value's entity when it has one, and details. Input, relay and alarm events
carry ``state`` (True: closed / on / raised); ``name`` is what a message shows for the value.
Device triggers (device_trigger.py) and the shipped blueprints filter on these fields.
"""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback

__all__ = [
    "ATTR_DEVICE_ID",
    "ATTR_ENTITY_ID",
    "ATTR_KEY",
    "ATTR_TYPE",
    "EVENT_TERMINAL",
    "EVENT_TYPES",
    "async_fire_terminal_event",
]

EVENT_TERMINAL: Final = "smartpower_terminal_event"
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

ATTR_DEVICE_ID: Final = "device_id"
ATTR_TYPE: Final = "type"
ATTR_KEY: Final = "key"  # the value key (input_1, relay_2, alarm_overvoltage): a trigger subtype
ATTR_ENTITY_ID: Final = "entity_id"


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
    """Fire one terminal event for the device with registry id ``device_id``.

    ``details`` travel in the event data as they are (``state=True``, ``name="Input 1"``).
    An unknown ``event_type`` is a programming error: nothing could ever trigger on it.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(
            f"Unknown SmartPower terminal event type {event_type!r}; "
            f"expected one of {', '.join(EVENT_TYPES)}"
        )
    reserved = {ATTR_DEVICE_ID, ATTR_TYPE, ATTR_KEY, ATTR_ENTITY_ID} & details.keys()
    if reserved:
        raise ValueError(f"Event details may not replace {', '.join(sorted(reserved))}")
    data: dict[str, str | int | float | bool | None] = {
        ATTR_DEVICE_ID: device_id,
        ATTR_TYPE: event_type,
    }
    if key is not None:
        data[ATTR_KEY] = key
    if entity_id is not None:
        data[ATTR_ENTITY_ID] = entity_id
    data.update(details)
    hass.bus.async_fire(EVENT_TERMINAL, data)
