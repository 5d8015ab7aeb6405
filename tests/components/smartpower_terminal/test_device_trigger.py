"""Device triggers: each device lists the triggers its values can fire, and a terminal event
runs an automation built on one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.core import Event, HomeAssistant, ServiceCall, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
    async_mock_service,
)

from custom_components.smartpower_terminal import device_trigger
from custom_components.smartpower_terminal.const import (
    CONF_MAINS_DETECTION,
    DOMAIN,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
)
from custom_components.smartpower_terminal.coordinator import (
    device_identifier,
    entity_unique_id,
)
from custom_components.smartpower_terminal.events import (
    EVENT_TERMINAL,
    EVENT_TYPES,
    async_fire_terminal_event,
)

try:  # HA 2026+ sends forms with its own schema engine
    from probatio import to_field_list as serialise_schema
except ImportError:  # HA 2025.x
    from voluptuous_serialize import convert as serialise_schema

FOLDER = Path(__file__).parents[3] / "custom_components" / "smartpower_terminal"
IO_MODULE = "01JIOMODULE0000000000000000"
COMPENSATION = "01JCOMPENSATION000000000000"
METER = "01JMETER0000000000000000000"


def _subentry(subentry_id: str, kind: str, title: str) -> ConfigSubentryDataWithId:
    return ConfigSubentryDataWithId(
        subentry_id=subentry_id, subentry_type=kind, title=title, data={}, unique_id=title
    )


def _line(hass: HomeAssistant, *, mains_detection: bool) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Panel line",
        data={"port": "/dev/ttyUSB0", "protocol": "modbus"},
        options={CONF_MAINS_DETECTION: mains_detection},
        subentries_data=[
            _subentry(IO_MODULE, SUBENTRY_MODBUS_DEVICE, "I/O module"),
            _subentry(COMPENSATION, SUBENTRY_MODBUS_DEVICE, "Compensation relay"),
            _subentry(METER, SUBENTRY_METER, "Meter"),
        ],
    )
    entry.add_to_hass(hass)
    return entry


def _device(hass: HomeAssistant, entry: MockConfigEntry, subentry_id: str | None) -> str:
    """Register the line's own device (None) or a subentry's device; its registry id."""
    registry = dr.async_get(hass)
    identifier = (
        (DOMAIN, entry.entry_id) if subentry_id is None else device_identifier(entry, subentry_id)
    )
    return registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={identifier}, name=str(identifier)
    ).id


def _entities(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    subentry_id: str,
    device_id: str,
    keys: dict[str, str],
) -> None:
    """Register entities of a device as our platforms do: ``key → platform domain``."""
    registry = er.async_get(hass)
    for key, domain in keys.items():
        registry.async_get_or_create(
            domain,
            DOMAIN,
            entity_unique_id(entry.entry_id, subentry_id, key),
            config_entry=entry,
            device_id=device_id,
        )


async def _triggers(hass: HomeAssistant, device_id: str) -> list[tuple[str, str | None]]:
    """(type, subtype) of the device's own triggers (not those of its switches, sensors)."""
    every = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device_id)
    found = [t for t in every if t["domain"] == DOMAIN]
    for trigger in found:
        assert trigger["platform"] == "device"
        assert trigger["device_id"] == device_id
    return [(t["type"], t.get("subtype")) for t in found]


@pytest.fixture
def line(hass: HomeAssistant) -> MockConfigEntry:
    return _line(hass, mains_detection=True)


async def test_each_device_offers_the_triggers_its_values_can_fire(
    hass: HomeAssistant, line: MockConfigEntry
) -> None:
    line_device = _device(hass, line, None)
    io_device = _device(hass, line, IO_MODULE)
    relay_device = _device(hass, line, COMPENSATION)
    meter_device = _device(hass, line, METER)
    _entities(
        hass,
        line,
        IO_MODULE,
        io_device,
        {
            "relay_2": "switch",
            "relay_1": "switch",
            "input_1": "binary_sensor",
            "input_2": "binary_sensor",
            "relay_10": "switch",
        },
    )
    _entities(
        hass,
        line,
        COMPENSATION,
        relay_device,
        {
            "cos_phi_total": "sensor",
            "stage_k1": "binary_sensor",
            "alarm_overvoltage": "binary_sensor",
            "alarm_output": "binary_sensor",
        },
    )
    _entities(
        hass,
        line,
        METER,
        meter_device,
        {
            "energy_import_total": "sensor",
            "reactive_limit_exceeded": "binary_sensor",
            "reactive_penalty_risk": "binary_sensor",
            "alarm_tamper": "binary_sensor",  # a meter is no compensation relay
        },
    )
    always = [("device_offline", None), ("device_online", None)]

    assert await _triggers(hass, line_device) == [
        *always,
        ("mains_lost", None),
        ("mains_restored", None),
    ]
    assert await _triggers(hass, io_device) == [
        *always,
        ("input_changed", "input_1"),
        ("input_changed", "input_2"),
        ("relay_changed", "relay_1"),
        ("relay_changed", "relay_2"),
        ("relay_changed", "relay_10"),
    ]
    assert await _triggers(hass, relay_device) == [
        *always,
        ("compensation_alarm", "alarm_output"),
        ("compensation_alarm", "alarm_overvoltage"),
    ]
    assert await _triggers(hass, meter_device) == [*always, ("reactive_limit_exceeded", None)]


async def test_mains_triggers_only_where_the_line_watches_the_mains(hass: HomeAssistant) -> None:
    without = _line(hass, mains_detection=False)
    assert await _triggers(hass, _device(hass, without, None)) == [
        ("device_offline", None),
        ("device_online", None),
    ]
    # set when the line was created, before options existed
    in_data = MockConfigEntry(domain=DOMAIN, data={CONF_MAINS_DETECTION: True})
    in_data.add_to_hass(hass)
    assert ("mains_lost", None) in await _triggers(hass, _device(hass, in_data, None))


async def test_a_value_seen_on_two_platforms_is_one_trigger(
    hass: HomeAssistant, line: MockConfigEntry
) -> None:
    device_id = _device(hass, line, IO_MODULE)
    _entities(hass, line, IO_MODULE, device_id, {"relay_1": "switch"})
    _entities(hass, line, IO_MODULE, device_id, {"relay_1": "binary_sensor"})
    # another integration's entity on our device offers nothing of ours
    er.async_get(hass).async_get_or_create(
        "switch", "other", f"{line.entry_id}_{IO_MODULE}_relay_5", device_id=device_id
    )
    assert (await _triggers(hass, device_id))[2:] == [("relay_changed", "relay_1")]


async def test_devices_of_other_integrations_offer_nothing(hass: HomeAssistant) -> None:
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device_id = (
        dr.async_get(hass)
        .async_get_or_create(config_entry_id=other.entry_id, identifiers={("other", "x")})
        .id
    )
    assert await device_trigger.async_get_triggers(hass, device_id) == []
    assert await device_trigger.async_get_triggers(hass, "no-such-device") == []
    # an identifier of ours naming no line and no subentry
    assert not device_trigger._is_modbus_device(hass, "nothing_here")
    assert not device_trigger._line_has_mains_detection(hass, other.entry_id)


async def test_relays_and_inputs_can_wait_for_one_direction(hass: HomeAssistant) -> None:
    for trigger_type in ("relay_changed", "input_changed"):
        capabilities = await device_trigger.async_get_trigger_capabilities(
            hass, {"type": trigger_type}
        )
        (field,) = serialise_schema(capabilities["extra_fields"])
        assert field["name"] == "state"
        assert field["optional"]
        assert [o[0] if isinstance(o, list | tuple) else o for o in field["options"]] == [
            "on",
            "off",
        ]
    assert await device_trigger.async_get_trigger_capabilities(hass, {"type": "mains_lost"}) == {}


def _automation(device_id: str, trigger_type: str, **extra: str) -> dict[str, Any]:
    return {
        "alias": f"{trigger_type} {extra}",
        "triggers": [
            {
                "trigger": "device",
                "domain": DOMAIN,
                "device_id": device_id,
                "type": trigger_type,
                **extra,
            }
        ],
        "actions": [
            {
                "action": "test.automation",
                "data": {
                    "what": "{{ trigger.event.data.type }} "
                    "{{ trigger.event.data.key | default('-') }}",
                    "name": "{{ trigger.event.data.name }}",
                },
            }
        ],
    }


async def test_a_terminal_event_runs_the_automation_of_its_trigger(
    hass: HomeAssistant, line: MockConfigEntry
) -> None:
    calls: list[ServiceCall] = async_mock_service(hass, "test", "automation")
    io_device = _device(hass, line, IO_MODULE)
    line_device = _device(hass, line, None)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                _automation(io_device, "input_changed", subtype="input_1"),
                _automation(io_device, "relay_changed", subtype="relay_2", state="on"),
                _automation(line_device, "mains_lost"),
            ]
        },
    )

    def fire(device_id: str, event_type: str, **kwargs: Any) -> None:
        calls.clear()
        async_fire_terminal_event(hass, device_id=device_id, event_type=event_type, **kwargs)

    async def runs() -> list[str]:
        await hass.async_block_till_done()
        return [f"{c.data['what']} / {c.data['name']}" for c in calls]

    fire(io_device, "input_changed", key="input_1", state=True, name="Tank low")
    assert await runs() == ["input_changed input_1 / Tank low"]
    fire(io_device, "input_changed", key="input_2", state=True, name="Door")
    assert await runs() == []  # another input
    fire(line_device, "input_changed", key="input_1", state=True, name="Tank low")
    assert await runs() == []  # another device's input 1

    fire(io_device, "relay_changed", key="relay_2", state=False, name="Pump")
    assert await runs() == []  # only a switch to on was asked for
    fire(io_device, "relay_changed", key="relay_2", state=True, name="Pump", entity_id="switch.p")
    assert await runs() == ["relay_changed relay_2 / Pump"]

    fire(line_device, "mains_lost", name="Panel line")
    assert await runs() == ["mains_lost - / Panel line"]
    fire(line_device, "mains_restored", name="Panel line")
    assert await runs() == []


async def test_the_event_carries_what_happened(hass: HomeAssistant) -> None:
    seen: list[dict[str, Any]] = []

    @callback  # in the event loop, in order (a plain function runs in the executor)
    def record(event: Event) -> None:
        seen.append(dict(event.data))

    hass.bus.async_listen(EVENT_TERMINAL, record)
    async_fire_terminal_event(
        hass,
        device_id="abc",
        event_type="compensation_alarm",
        key="alarm_overvoltage",
        entity_id="binary_sensor.overvoltage",
        state=True,
        name="Overvoltage",
    )
    async_fire_terminal_event(hass, device_id="abc", event_type="device_offline")
    await hass.async_block_till_done()
    assert seen == [
        {
            "device_id": "abc",
            "type": "compensation_alarm",
            "key": "alarm_overvoltage",
            "entity_id": "binary_sensor.overvoltage",
            "state": True,
            "name": "Overvoltage",
        },
        {"device_id": "abc", "type": "device_offline"},
    ]


async def test_an_unknown_event_type_is_a_programming_error(hass: HomeAssistant) -> None:
    seen: list[Any] = []
    hass.bus.async_listen(EVENT_TERMINAL, seen.append)
    with pytest.raises(ValueError, match=r"'input_change'.*input_changed"):
        async_fire_terminal_event(hass, device_id="abc", event_type="input_change")
    with pytest.raises(ValueError, match="may not replace type"):
        async_fire_terminal_event(hass, device_id="abc", event_type="mains_lost", type="x")
    await hass.async_block_till_done()
    assert seen == []


def _section(name: str) -> dict[str, dict[str, str]]:
    data = json.loads((FOLDER / name).read_text(encoding="utf-8"))
    section: dict[str, dict[str, str]] = data["device_automation"]
    return section


@pytest.mark.parametrize("language", ["en", "tr"])
def test_every_trigger_is_named_in_english_and_turkish(language: str) -> None:
    texts = _section(f"translations/{language}.json")
    english = _section("translations/en.json")
    assert _section("strings.json") == english
    assert set(texts["trigger_type"]) == set(EVENT_TYPES)
    for group in ("trigger_type", "trigger_subtype", "extra_fields"):
        assert set(texts[group]) == set(english[group]), group
        for key, text in texts[group].items():
            assert text.strip(), (group, key)
            placeholders = set(re.findall(r"\{(\w+)\}", text))
            assert placeholders == set(re.findall(r"\{(\w+)\}", english[group][key])), key
    # every relay, input and alarm the shipped profiles have is named
    profiles = Path(__file__).parents[3] / "hardware_bridge" / "profiles"
    keys = {
        key
        for path in profiles.glob("*.yaml")
        for key in re.findall(r"key: ((?:relay|input|alarm)_\w+)", path.read_text("utf-8"))
    }
    assert keys <= set(texts["trigger_subtype"])
