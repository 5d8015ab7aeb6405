"""The shipped blueprints load in Home Assistant and do what they promise: driven here by the
states of stand-in entities, a recording pump switch, and time moved on by the minute."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import automation
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.smartpower_terminal.const import DOMAIN
from custom_components.smartpower_terminal.events import async_fire_terminal_event

BLUEPRINTS = Path(__file__).parents[3] / "blueprints" / "automation" / "smartpower_terminal"

TANK_LOW = "binary_sensor.tank_low"
TANK_HIGH = "binary_sensor.tank_high"
WELL_DRY = "binary_sensor.well_dry"
MAINS = "binary_sensor.terminal_a_mains"
PUMP = "switch.terminal_b_relay_1"
SMS = "notify.modem_sms"
PHONE = "notify.mobile_app_phone"
NAMES = {TANK_LOW: "Tank", PUMP: "Well pump"}


class _Tools(yaml.SafeLoader):
    """Reads a blueprint's ``!input`` tags as plain strings, to look at its syntax."""


_Tools.add_constructor("!input", lambda loader, node: f"!input {node.value}")


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_Tools)
    return data


@pytest.fixture(autouse=True)
async def blueprint_folder(hass: HomeAssistant, tmp_path: Path) -> AsyncIterator[None]:
    """A config folder of its own, with our blueprints where users put them; afterwards the
    automation is turned off, which ends the timers of its triggers."""
    config_dir = hass.config.config_dir
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "smartpower_terminal")
    yield
    if hass.services.has_service(automation.DOMAIN, "turn_off"):
        await hass.services.async_call(
            automation.DOMAIN, "turn_off", {"entity_id": "all"}, blocking=True
        )
    hass.config.config_dir = config_dir


async def _automate(hass: HomeAssistant, blueprint: str, inputs: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "id": "under_test",
                "alias": "under test",
                "use_blueprint": {"path": f"smartpower_terminal/{blueprint}", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get("automation.under_test")
    assert state is not None
    assert state.state == "on", state.attributes


class Switches:
    """switch.turn_on/turn_off that record each call and switch the entity like a relay."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.calls: list[tuple[str, str]] = []
        for service in ("turn_on", "turn_off"):
            hass.services.async_register("switch", service, self._handle)

    @callback
    def _handle(self, call: ServiceCall) -> None:
        entity_ids = call.data["entity_id"]
        for entity_id in [entity_ids] if isinstance(entity_ids, str) else entity_ids:
            self.calls.append((call.service, entity_id))
            old = self.hass.states.get(entity_id)
            state = call.service.removeprefix("turn_")
            self.hass.states.async_set(entity_id, state, old.attributes if old else None)


class Notifications:
    """notify.send_message to notify entities and a legacy notify action, both recorded."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.to_entities = async_mock_service(hass, "notify", "send_message")
        self.to_phone = async_mock_service(hass, "notify", "mobile_app_phone")

    def messages(self) -> list[str]:
        """Each message once, after checking that both targets got it with a title."""
        assert len(self.to_entities) == len(self.to_phone)
        for sent, phoned in zip(self.to_entities, self.to_phone, strict=True):
            assert sent.data["entity_id"] == [SMS]
            assert sent.data["message"] == phoned.data["message"]
            assert sent.data["title"] == phoned.data["title"]
        return [call.data["message"] for call in self.to_phone]


@pytest.fixture
def switches(hass: HomeAssistant) -> Switches:
    return Switches(hass)


@pytest.fixture
def notifications(hass: HomeAssistant) -> Notifications:
    return Notifications(hass)


def test_every_blueprint_uses_the_current_syntax() -> None:
    paths = sorted(BLUEPRINTS.glob("*.yaml"))
    assert [p.name for p in paths] == [
        "alarm_notify.yaml",
        "reactive_limit_alert.yaml",
        "relay_schedule.yaml",
        "well_tank_pump.yaml",
    ]
    for path in paths:
        data = _read(path)
        assert {"triggers", "actions"} <= data.keys(), path.name
        assert not {"trigger", "action", "condition"} & data.keys(), path.name
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(- )?(platform|service):", text, re.MULTILINE), path.name


# --- well–tank pump ---------------------------------------------------------------------------

PUMP_INPUTS = {
    "tank_low": TANK_LOW,
    "tank_high": TANK_HIGH,
    "pump_switch": PUMP,
    "well_dry": WELL_DRY,
    "mains_sensor": MAINS,
    "min_on_time": 2,
    "min_off_time": 5,
    "max_runtime": 60,
    "fill_timeout": 30,
    "notify_entities": [SMS],
    "notify_service": PHONE,
}


class Tank:
    """The pump automation over stand-in floats, well, mains and pump relay."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer

    async def set(self, entity_id: str, state: str) -> None:
        name = NAMES.get(entity_id)
        self.hass.states.async_set(entity_id, state, {"friendly_name": name} if name else {})
        await self.settle()

    async def settle(self) -> None:
        """Until the pump's own state change has started its timers, at this time."""
        for _ in range(3):
            await self.hass.async_block_till_done()

    async def wait(self, minutes: float) -> None:
        """Let time pass a second at a time near each minute, as the clock would."""
        self.freezer.tick(timedelta(minutes=minutes))
        async_fire_time_changed(self.hass)
        await self.settle()


@pytest.fixture
async def tank(hass: HomeAssistant, freezer: FrozenDateTimeFactory, switches: Switches) -> Tank:
    """Tank half full, well wet, mains present, pump off and rested; the automation on."""
    freezer.move_to("2026-06-01 08:00:00+00:00")
    tank = Tank(hass, freezer)
    for entity_id, state in (
        (TANK_LOW, "off"),
        (TANK_HIGH, "off"),
        (WELL_DRY, "off"),
        (MAINS, "on"),
        (PUMP, "off"),
    ):
        await tank.set(entity_id, state)
    await _automate(hass, "well_tank_pump.yaml", PUMP_INPUTS)
    await tank.wait(10)
    assert switches.calls == []
    return tank


async def test_pump_starts_when_the_tank_is_low_and_stops_when_it_is_full(
    tank: Tank, switches: Switches, notifications: Notifications
) -> None:
    await tank.set(TANK_LOW, "on")
    assert switches.calls == [("turn_on", PUMP)]
    await tank.wait(3)
    await tank.set(TANK_LOW, "off")  # the water passed the low mark
    await tank.wait(10)
    assert switches.calls == [("turn_on", PUMP)]
    await tank.set(TANK_HIGH, "on")
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    # water is drawn: the high float opens, later the low float closes again
    await tank.set(TANK_HIGH, "off")
    await tank.wait(20)
    await tank.set(TANK_LOW, "on")
    assert switches.calls[2:] == [("turn_on", PUMP)]
    assert notifications.messages() == []


async def test_one_float_alone_starts_and_stops_the_pump(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, switches: Switches
) -> None:
    hass.states.async_set(TANK_LOW, "off")
    hass.states.async_set(PUMP, "off")
    await _automate(
        hass, "well_tank_pump.yaml", {"tank_low": TANK_LOW, "pump_switch": PUMP, "min_off_time": 0}
    )
    tank = Tank(hass, freezer)
    await tank.wait(1)
    await tank.set(TANK_LOW, "on")
    await tank.wait(5)
    await tank.set(TANK_LOW, "off")
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]


async def test_pump_runs_its_minimum_time_before_a_full_tank_stops_it(
    tank: Tank, switches: Switches
) -> None:
    await tank.set(TANK_LOW, "on")
    await tank.wait(0.5)
    await tank.set(TANK_LOW, "off")
    await tank.set(TANK_HIGH, "on")  # a wave on the surface
    assert switches.calls == [("turn_on", PUMP)]
    await tank.wait(1)
    assert switches.calls == [("turn_on", PUMP)]
    await tank.wait(0.5)  # two minutes on
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]


async def test_pump_rests_its_minimum_time_before_starting_again(
    tank: Tank, switches: Switches
) -> None:
    await tank.set(TANK_LOW, "on")
    await tank.wait(2)
    await tank.set(TANK_LOW, "off")
    await tank.set(TANK_HIGH, "on")
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    # a big draw empties the tank at once
    await tank.set(TANK_HIGH, "off")
    await tank.set(TANK_LOW, "on")
    await tank.wait(4)
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    await tank.wait(1)  # five minutes off
    assert switches.calls[2:] == [("turn_on", PUMP)]


class RemoteRelay:
    """switch.turn_on/turn_off as a remote terminal's relay shows them: the command pending
    (an attribute) until :meth:`confirm`, at the terminal's next contact."""

    def __init__(self, hass: HomeAssistant, tank: Tank) -> None:
        self.hass = hass
        self.tank = tank
        self.calls: list[str] = []
        for service in ("turn_on", "turn_off"):
            hass.services.async_register("switch", service, self._handle)

    @callback
    def _handle(self, call: ServiceCall) -> None:
        self.calls.append(call.service)
        shown = self.hass.states.get(PUMP)
        assert shown is not None
        self.hass.states.async_set(PUMP, shown.state, {"command": "pending"})

    async def confirm(self) -> None:
        self.hass.states.async_set(PUMP, self.calls[-1].removeprefix("turn_"), {})
        await self.tank.settle()


async def test_a_stop_confirmed_after_the_tank_emptied_again_does_not_leave_it_empty(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The tank fills and empties again before the terminal confirms the pump's stop: once the
    pump has rested, it starts again (the float moved after the stop was asked)."""
    freezer.move_to("2026-06-01 08:00:00+00:00")
    tank = Tank(hass, freezer)
    relay = RemoteRelay(hass, tank)
    await tank.set(TANK_LOW, "off")
    await tank.set(PUMP, "off")
    inputs = {"tank_low": TANK_LOW, "pump_switch": PUMP, "min_on_time": 0, "min_off_time": 5}
    await _automate(hass, "well_tank_pump.yaml", inputs)
    await tank.wait(10)
    await tank.set(TANK_LOW, "on")
    assert relay.calls == ["turn_on"]
    await tank.wait(2)
    await relay.confirm()
    await tank.wait(30)
    await tank.set(TANK_LOW, "off")  # full
    assert relay.calls == ["turn_on", "turn_off"]
    await tank.wait(10)
    await tank.set(TANK_LOW, "on")  # drawn down while the stop waits for the terminal
    await tank.wait(5)
    await relay.confirm()
    await tank.wait(4)
    assert relay.calls == ["turn_on", "turn_off"]
    await tank.wait(1)  # five minutes off
    assert relay.calls == ["turn_on", "turn_off", "turn_on"]


async def test_a_remote_pump_stopped_by_hand_stays_off_until_the_float_moves(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A stop asked by hand, confirmed later, holds although the float moved while the pump
    ran: only a change after the stop was asked starts it again."""
    freezer.move_to("2026-06-01 08:00:00+00:00")
    tank = Tank(hass, freezer)
    relay = RemoteRelay(hass, tank)
    await tank.set(TANK_LOW, "off")
    await tank.set(PUMP, "off")
    inputs = {"tank_low": TANK_LOW, "pump_switch": PUMP, "min_on_time": 5, "min_off_time": 5}
    await _automate(hass, "well_tank_pump.yaml", inputs)
    await tank.wait(10)
    await tank.set(TANK_LOW, "on")
    await tank.wait(1)
    await relay.confirm()
    await tank.set(TANK_LOW, "off")  # a wave, within the minimum on time
    await tank.set(TANK_LOW, "on")
    await tank.wait(20)
    await hass.services.async_call("switch", "turn_off", {"entity_id": PUMP}, blocking=True)
    await tank.wait(3)
    await relay.confirm()
    await tank.wait(60)
    assert relay.calls == ["turn_on", "turn_off"]
    await tank.set(TANK_LOW, "off")
    await tank.set(TANK_LOW, "on")
    assert relay.calls == ["turn_on", "turn_off", "turn_on"]


async def test_pump_stops_after_its_longest_run_and_tells_why(
    tank: Tank, switches: Switches, notifications: Notifications
) -> None:
    await tank.set(TANK_LOW, "on")  # and stays on: the pump does not lift water
    await tank.wait(29)
    assert notifications.messages() == []
    await tank.wait(1)
    assert notifications.messages() == ["Tank is not full after 30 min of pumping (Well pump)."]
    await tank.wait(30)
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    assert notifications.messages()[1:] == [
        "Well pump stopped after its longest run of 60 min and Tank is still not full."
    ]
    # it does not start again on its own: the float has not moved since
    await tank.wait(60)
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    await tank.set(TANK_LOW, "off")
    await tank.set(TANK_LOW, "on")
    assert switches.calls[2:] == [("turn_on", PUMP)]


async def test_a_fill_time_as_long_as_the_longest_run_sends_one_message(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    switches: Switches,
    notifications: Notifications,
) -> None:
    tank = Tank(hass, freezer)
    await tank.set(TANK_LOW, "off")
    await tank.set(PUMP, "off")
    await _automate(
        hass,
        "well_tank_pump.yaml",
        {**PUMP_INPUTS, "tank_high": [], "max_runtime": 45, "fill_timeout": 45},
    )
    await tank.wait(10)
    await tank.set(TANK_LOW, "on")
    await tank.wait(45)
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    assert notifications.messages() == [
        "Well pump stopped after its longest run of 45 min and Tank is still not full."
    ]


async def test_a_dry_well_stops_the_pump_at_once_and_a_wet_one_starts_it_again(
    tank: Tank, switches: Switches
) -> None:
    await tank.set(TANK_LOW, "on")
    await tank.wait(0.5)
    await tank.set(WELL_DRY, "on")
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    await tank.wait(10)
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    await tank.set(WELL_DRY, "off")
    assert switches.calls[2:] == [("turn_on", PUMP)]


async def test_mains_loss_stops_the_pump_and_its_return_starts_it(
    tank: Tank, switches: Switches
) -> None:
    await tank.set(TANK_LOW, "on")
    await tank.wait(0.5)
    await tank.set(MAINS, "off")
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    await tank.wait(2)
    await tank.set(MAINS, "on")  # back within the rest time: wait for it
    assert switches.calls == [("turn_on", PUMP), ("turn_off", PUMP)]
    await tank.wait(3)
    assert switches.calls[2:] == [("turn_on", PUMP)]


async def test_a_tank_waiting_for_water_is_reported(
    tank: Tank, switches: Switches, notifications: Notifications
) -> None:
    await tank.set(WELL_DRY, "on")
    await tank.set(TANK_LOW, "on")
    await tank.wait(30)
    assert switches.calls == []
    assert notifications.messages() == [
        "Tank has needed water for 30 min and Well pump is off (the well is dry)."
    ]


# --- relay schedule ---------------------------------------------------------------------------


async def test_relays_follow_the_schedule(hass: HomeAssistant, switches: Switches) -> None:
    hass.states.async_set("schedule.irrigation", "off")
    await _automate(
        hass,
        "relay_schedule.yaml",
        {"schedule": "schedule.irrigation", "relays": ["switch.valve_1", "switch.valve_2"]},
    )
    hass.states.async_set("schedule.irrigation", "on")
    await hass.async_block_till_done()
    assert switches.calls == [("turn_on", "switch.valve_1"), ("turn_on", "switch.valve_2")]
    hass.states.async_set("schedule.irrigation", "off")
    await hass.async_block_till_done()
    assert switches.calls[2:] == [("turn_off", "switch.valve_1"), ("turn_off", "switch.valve_2")]
    hass.states.async_set("schedule.irrigation", "unavailable")
    await hass.async_block_till_done()
    assert len(switches.calls) == 4
    # reloaded in the middle of a block: the relays are brought back to the schedule
    hass.states.async_set("schedule.irrigation", "on")
    await hass.async_block_till_done()
    hass.states.async_set("switch.valve_2", "off")
    hass.bus.async_fire("automation_reloaded")
    await hass.async_block_till_done()
    assert switches.calls[6:] == [("turn_on", "switch.valve_1"), ("turn_on", "switch.valve_2")]


# --- alarms -----------------------------------------------------------------------------------


def _device(hass: HomeAssistant, name: str) -> str:
    entry = MockConfigEntry(domain=DOMAIN, title=name)
    entry.add_to_hass(hass)
    registry = dr.async_get(hass)
    return registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, entry.entry_id)}, name=name
    ).id


async def test_terminal_alarms_are_sent_naming_device_and_event(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, notifications: Notifications
) -> None:
    freezer.move_to("2026-06-01 08:15:00+00:00")
    await hass.config.async_set_time_zone("UTC")
    panel = _device(hass, "Panel line")
    relay = _device(hass, "Compensation relay")
    other = _device(hass, "Workshop line")
    await _automate(
        hass,
        "alarm_notify.yaml",
        {
            "event_types": ["mains_lost", "compensation_alarm", "input_changed"],
            "devices": [panel, relay],
            "notify_entities": [SMS],
            "notify_service": PHONE,
        },
    )

    async def fire(device_id: str, event_type: str, **details: Any) -> None:
        async_fire_terminal_event(hass, device_id=device_id, event_type=event_type, **details)
        await hass.async_block_till_done()

    await fire(panel, "mains_lost")
    await fire(panel, "mains_restored")  # not chosen
    await fire(other, "mains_lost")  # not a chosen device
    await fire(relay, "compensation_alarm", key="alarm_overvoltage", name="Overvoltage", state=True)
    await fire(relay, "compensation_alarm", key="alarm_overvoltage", state=False)
    await fire(panel, "input_changed", key="input_1", name="Tank low", state=True)
    assert notifications.messages() == [
        "Panel line: mains supply lost (2026-06-01 08:15)",
        "Compensation relay: compensation alarm Overvoltage raised (2026-06-01 08:15)",
        "Compensation relay: compensation alarm alarm_overvoltage cleared (2026-06-01 08:15)",
        "Panel line: Tank low closed (2026-06-01 08:15)",
    ]
    assert notifications.to_phone[0].data["title"] == "SmartPower: Panel line"


@pytest.mark.parametrize(
    ("event_type", "details", "text"),
    [
        ("mains_restored", {}, "mains supply restored"),
        ("device_offline", {}, "stopped answering"),
        ("device_online", {}, "answers again"),
        ("reactive_limit_exceeded", {"name": "Inductive"}, "reactive energy limit exceeded"),
        ("relay_changed", {"key": "relay_2", "state": False}, "relay_2 off"),
        ("relay_changed", {"key": "relay_2", "state": True}, "relay_2 on"),
        ("relay_changed", {"key": "relay_2"}, "relay_2 switched"),
        ("input_changed", {"key": "input_2", "state": False}, "input_2 opened"),
        ("input_changed", {"key": "input_2"}, "input_2 changed"),
    ],
)
async def test_every_event_reads_as_a_sentence(
    hass: HomeAssistant,
    notifications: Notifications,
    event_type: str,
    details: dict[str, Any],
    text: str,
) -> None:
    device = _device(hass, "Panel line")
    await _automate(
        hass,
        "alarm_notify.yaml",
        {"event_types": [event_type], "notify_entities": [SMS], "notify_service": PHONE},
    )
    async_fire_terminal_event(hass, device_id=device, event_type=event_type, **details)
    await hass.async_block_till_done()
    (message,) = notifications.messages()
    assert message.startswith(f"Panel line: {text}"), message


async def test_a_reactive_limit_that_stays_exceeded_is_reported(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, notifications: Notifications
) -> None:
    sensor = "binary_sensor.main_meter_reactive_limit_exceeded"
    hass.states.async_set(sensor, "off", {"friendly_name": "Main meter reactive limit"})
    await _automate(
        hass,
        "reactive_limit_alert.yaml",
        {"limit_sensor": sensor, "notify_entities": [SMS], "notify_service": PHONE},
    )
    hass.states.async_set(sensor, "on", {"friendly_name": "Main meter reactive limit"})
    await hass.async_block_till_done()
    freezer.tick(timedelta(minutes=14))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert notifications.messages() == []
    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    (message,) = notifications.messages()
    assert message.startswith("Main meter reactive limit: the reactive share")
