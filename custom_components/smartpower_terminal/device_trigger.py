"""Device triggers: a terminal's inputs, relays, mains and alarms in the automation editor.

Each trigger is an event trigger on ``smartpower_terminal_event`` (see events.py) filtered by the
device, the event type and, for a value of the device, its key as the subtype. What a device
offers follows from the entities it has in the entity registry, so a device shows only triggers
that can fire: an I/O module lists its own relays and inputs, a compensation relay its alarms.
"""

from __future__ import annotations

import re
from typing import Any, Final

import voluptuous as vol
from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import CONF_MAINS_DETECTION, DOMAIN, SUBENTRY_MODBUS_DEVICE
from .coordinator import split_unique_id
from .events import ATTR_DEVICE_ID, ATTR_KEY, ATTR_TYPE, EVENT_TERMINAL, EVENT_TYPES

__all__ = [
    "TRIGGER_SCHEMA",
    "async_attach_trigger",
    "async_get_trigger_capabilities",
    "async_get_triggers",
]

CONF_SUBTYPE: Final = "subtype"
CONF_STATE: Final = "state"  # optional: only a change to on (closed) or to off (open)
STATES: Final = {"on": True, "off": False}

# Value keys → the event type a change of that value fires; the key itself is the subtype.
_KEYED_TYPES: Final = (
    (re.compile(r"relay_\d+"), "relay_changed"),
    (re.compile(r"input_\d+"), "input_changed"),
)
_SWITCHING_TYPES: Final = ("relay_changed", "input_changed")
_ALARM_PREFIX: Final = "alarm_"
_REACTIVE_LIMIT_KEY: Final = "reactive_limit_exceeded"

TRIGGER_SCHEMA: Final = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In(EVENT_TYPES),
        vol.Optional(CONF_SUBTYPE): cv.string,
        vol.Optional(CONF_STATE): vol.In(tuple(STATES)),
    }
)


def _trigger(device_id: str, trigger_type: str, subtype: str | None = None) -> dict[str, str]:
    trigger = {
        CONF_PLATFORM: "device",
        CONF_DOMAIN: DOMAIN,
        CONF_DEVICE_ID: device_id,
        CONF_TYPE: trigger_type,
    }
    if subtype is not None:
        trigger[CONF_SUBTYPE] = subtype
    return trigger


@callback
def _value_triggers(device_id: str, key: str, on_modbus_device: bool) -> list[dict[str, str]]:
    """The triggers one value of a device offers (none for most measurements)."""
    for pattern, trigger_type in _KEYED_TYPES:
        if pattern.fullmatch(key):
            return [_trigger(device_id, trigger_type, key)]
    if key.startswith(_ALARM_PREFIX) and on_modbus_device:
        return [_trigger(device_id, "compensation_alarm", key)]
    if key == _REACTIVE_LIMIT_KEY:
        return [_trigger(device_id, "reactive_limit_exceeded")]
    return []


def _natural(text: str) -> list[str | int]:
    """Sort key putting relay_2 before relay_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


@callback
def _is_modbus_device(hass: HomeAssistant, identifier: str) -> bool:
    """Whether our identifier ``{entry_id}_{subentry_id}`` names a Modbus device subentry."""
    entry_id, _, subentry_id = identifier.partition("_")
    entry = hass.config_entries.async_get_entry(entry_id)
    subentry = entry.subentries.get(subentry_id) if entry is not None else None
    return subentry is not None and subentry.subentry_type == SUBENTRY_MODBUS_DEVICE


@callback
def _line_has_mains_detection(hass: HomeAssistant, identifier: str) -> bool:
    """Whether ``identifier`` is a line's own device (its entry id) that watches the mains."""
    entry = hass.config_entries.async_get_entry(identifier)
    if entry is None or entry.domain != DOMAIN:
        return False
    return bool(entry.options.get(CONF_MAINS_DETECTION, entry.data.get(CONF_MAINS_DETECTION)))


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """The triggers a SmartPower device offers, from what it has in the entity registry."""
    device = dr.async_get(hass).async_get(device_id)
    identifiers = (
        [value for domain, value in device.identifiers if domain == DOMAIN] if device else []
    )
    if not identifiers:
        return []
    triggers = [_trigger(device_id, "device_offline"), _trigger(device_id, "device_online")]
    if any(_line_has_mains_detection(hass, identifier) for identifier in identifiers):
        triggers += [_trigger(device_id, "mains_lost"), _trigger(device_id, "mains_restored")]
    on_modbus_device = any(_is_modbus_device(hass, identifier) for identifier in identifiers)
    # ``{entry_id}_{device key}``; a remote terminal's device keys may hold underscores
    device_keys = [identifier.partition("_")[2] for identifier in identifiers if "_" in identifier]
    seen: set[tuple[str, str | None]] = set()
    entries = er.async_entries_for_device(er.async_get(hass), device_id)
    for reg_entry in sorted(entries, key=lambda e: _natural(e.unique_id)):
        if reg_entry.platform != DOMAIN:
            continue
        _device_key, key = split_unique_id(reg_entry.unique_id, device_keys)
        for trigger in _value_triggers(device_id, key, on_modbus_device):
            found = (trigger[CONF_TYPE], trigger.get(CONF_SUBTYPE))
            if found not in seen:
                seen.add(found)
                triggers.append(trigger)
    return triggers


async def async_get_trigger_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """A relay or input trigger can wait for one direction only (on or off)."""
    if config[CONF_TYPE] not in _SWITCHING_TYPES:
        return {}
    return {"extra_fields": vol.Schema({vol.Optional(CONF_STATE): vol.In(tuple(STATES))})}


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for this device's terminal events of the trigger's type (and subtype)."""
    event_data: dict[str, Any] = {
        ATTR_DEVICE_ID: config[CONF_DEVICE_ID],
        ATTR_TYPE: config[CONF_TYPE],
    }
    if CONF_SUBTYPE in config:
        event_data[ATTR_KEY] = config[CONF_SUBTYPE]
    if CONF_STATE in config:
        event_data[CONF_STATE] = STATES[config[CONF_STATE]]
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_TERMINAL,
            CONF_EVENT_DATA: event_data,
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
