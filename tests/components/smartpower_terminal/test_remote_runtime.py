"""A remote terminal's devices and entities, built from its description and fed by the server:
live readings from the event stream, /latest as the fallback, stale data unavailable, relays
switched by commands the terminal confirms."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_get_device_automations,
)

from custom_components.smartpower_terminal import remote_hub
from custom_components.smartpower_terminal.const import CONF_PROTOCOL, DOMAIN
from custom_components.smartpower_terminal.coordinator import entity_unique_id, split_unique_id
from custom_components.smartpower_terminal.events import EVENT_TERMINAL
from custom_components.smartpower_terminal.remote_const import CONF_MODEM_NO, PROTOCOL_REMOTE
from custom_components.smartpower_terminal.remote_hub import command_issue_id, silent_issue_id
from hardware_bridge import CommandStatus, PointDescription, Reading

from .fake_smartpower import MODEM_NO, FakeSmartPower, sample_description, serve
from .runtime_helpers import device_with

pytestmark = pytest.mark.usefixtures("socket_enabled")

TOKEN = "spt_4f9c1e0b7a2d4c8e9f3a6b5d1c7e2f80"
ENERGY = "sensor.main_meter_imported_energy"
RELAY = "switch.terminal_pump"
INPUT = "binary_sensor.terminal_tank_full"


def _reading(device: str, key: str, value: object, unit: str | None, age: float = 10) -> Reading:
    return Reading(
        device=device,
        key=key,
        value=value,  # type: ignore[arg-type]
        unit=unit,
        time=datetime.now(UTC) - timedelta(seconds=age),
    )


@pytest.fixture
async def server() -> AsyncIterator[FakeSmartPower]:
    async with serve(FakeSmartPower(tokens={TOKEN})) as fake:
        fake.upload(
            _reading("meter1", "energy_import_total", 1234.5, "kWh"),
            _reading("terminal", "relay_1", False, None),
            _reading("terminal", "input_1", True, None),
            live=False,
        )
        yield fake


async def _set_up(hass: HomeAssistant, server: FakeSmartPower) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"SmartPower terminal {MODEM_NO}",
        unique_id=MODEM_NO,
        data={
            CONF_PROTOCOL: PROTOCOL_REMOTE,
            CONF_URL: server.url,
            CONF_MODEM_NO: MODEM_NO,
            CONF_TOKEN: TOKEN,
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _next_state(hass: HomeAssistant, entity_id: str) -> asyncio.Future[State]:
    """A future for the entity's next state change (wait on it, not on a sleep)."""
    future: asyncio.Future[State] = hass.loop.create_future()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if not future.done() and event.data["new_state"] is not None:
            future.set_result(event.data["new_state"])

    unsub = async_track_state_change_event(hass, entity_id, changed)
    future.add_done_callback(lambda _: unsub())
    return future


async def test_the_same_entities_as_a_local_line_from_the_description(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = await _set_up(hass, server)
    assert entry.state is ConfigEntryState.LOADED
    energy = hass.states.get(ENERGY)
    assert energy is not None
    assert float(energy.state) == 1234.5
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert energy.attributes["state_class"] == "total_increasing"
    assert hass.states.get(RELAY).state == STATE_OFF
    assert hass.states.get(INPUT).state == STATE_ON

    terminal = device_with(hass, (DOMAIN, entry.entry_id), entry)
    meter = device_with(hass, (DOMAIN, f"{entry.entry_id}_meter1"), entry)
    assert terminal is not None
    assert meter is not None
    assert meter.via_device_id == terminal.id
    assert meter.manufacturer == "MKL"
    registry = er.async_get(hass)
    assert registry.async_get(ENERGY).config_subentry_id is None

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_readings_arrive_live_from_the_event_stream(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    fetched = server.latest_requests
    changed = await _next_state(hass, ENERGY)
    server.upload(_reading("meter1", "energy_import_total", 1236.0, "kWh", age=1))
    state = await asyncio.wait_for(changed, 10)
    assert float(state.state) == 1236.0
    assert server.latest_requests <= fetched + 1  # the stream carried it, not a poll


async def test_data_older_than_two_send_periods_is_unavailable_with_the_reason_logged_once(
    hass: HomeAssistant, server: FakeSmartPower, caplog: pytest.LogCaptureFixture
) -> None:
    server.readings.clear()
    server.upload(
        _reading("meter1", "energy_import_total", 1234.5, "kWh", age=2 * 900 + 60), live=False
    )
    entry = await _set_up(hass, server)
    assert hass.states.get(ENERGY).state == STATE_UNAVAILABLE
    hub = entry.runtime_data.hub
    for coordinator in hub.coordinators:
        await coordinator.async_refresh()
    assert caplog.text.count("Main meter: unavailable") == 1
    assert "older than two send periods" in caplog.text


async def test_a_reading_in_another_unit_than_described_is_not_shown(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.upload(_reading("meter1", "energy_import_total", 1234500, "Wh"), live=False)
    await _set_up(hass, server)
    assert hass.states.get(ENERGY).state not in ("1234500", "1234500.0")


async def test_a_relay_shows_the_confirmed_state_and_its_pending_command(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    await hass.services.async_call("switch", "turn_on", {"entity_id": RELAY}, blocking=True)
    (command,) = server.commands.values()
    assert (command.device, command.key, command.state) == ("terminal", "relay_1", True)
    state = hass.states.get(RELAY)
    assert state.state == STATE_OFF  # nothing confirmed yet
    assert state.attributes["command"] == "pending"

    changed = await _next_state(hass, RELAY)
    server.settle(command.id, CommandStatus.SUCCEEDED, at=datetime.now(UTC), confirmed_state=True)
    state = await asyncio.wait_for(changed, 10)
    assert state.state == STATE_ON
    assert "command" not in state.attributes


async def test_a_command_the_terminal_did_not_carry_out_is_a_repair(
    hass: HomeAssistant, server: FakeSmartPower, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    await hass.services.async_call("switch", "turn_on", {"entity_id": RELAY}, blocking=True)
    (command,) = server.commands.values()
    server.settle(command.id, CommandStatus.FAILED, at=datetime.now(UTC), message="relay stuck")
    issue_id = command_issue_id(entry.entry_id, "terminal", "relay_1")
    for _ in range(100):
        if ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None:
            break
        await asyncio.sleep(0.05)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["error"] == "relay stuck"
    assert hass.states.get(RELAY).state == STATE_OFF
    assert "command" not in hass.states.get(RELAY).attributes
    assert "relay stuck" in caplog.text
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_command_that_expired_on_the_server_is_a_repair_saying_so(
    hass: HomeAssistant, server: FakeSmartPower, caplog: pytest.LogCaptureFixture
) -> None:
    """The terminal did not fetch the command in time: the server never hands it over, and
    the repair says the relay was not switched because the command expired."""
    entry = await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    await hass.services.async_call("switch", "turn_on", {"entity_id": RELAY}, blocking=True)
    (command,) = server.commands.values()
    assert hass.states.get(RELAY).attributes["command"] == "pending"
    server.settle(
        command.id,
        CommandStatus.EXPIRED,
        at=datetime.now(UTC),
        message="The terminal did not fetch the command before it expired.",
    )
    issue_id = command_issue_id(entry.entry_id, "terminal", "relay_1")
    for _ in range(100):
        if ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None:
            break
        await asyncio.sleep(0.05)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "remote_command_expired"
    assert issue.translation_placeholders["state"] == "on"
    assert hass.states.get(RELAY).state == STATE_OFF
    assert "command" not in hass.states.get(RELAY).attributes  # no longer pending
    assert "expired, so it was not carried out" in caplog.text


async def test_a_command_not_done_a_send_period_after_the_next_contact_fails(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = await _set_up(hass, server)
    server.end_streams()  # polled from here
    await hass.services.async_call("switch", "turn_on", {"entity_id": RELAY}, blocking=True)
    (command,) = server.commands.values()
    server.upload(
        Reading(
            device="terminal",
            key="input_1",
            value=True,
            unit=None,
            time=command.created + timedelta(seconds=901),
        ),
        live=False,
    )
    hub = entry.runtime_data.hub
    hub.terminal.live = False
    await hub.terminal.open()  # the fallback poll is due
    await entry.runtime_data.io.async_refresh()
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, command_issue_id(entry.entry_id, "terminal", "relay_1")
    )
    assert issue is not None
    assert hass.states.get(RELAY).state == STATE_OFF


async def test_a_command_the_server_refuses_is_an_error(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    await _set_up(hass, server)
    server.revoke_all()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("switch", "turn_on", {"entity_id": RELAY}, blocking=True)
    assert err.value.translation_key == "remote_command_refused"


async def test_a_token_refused_while_running_starts_reauth(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = await _set_up(hass, server)
    server.revoke_all()
    server.end_streams()
    for _ in range(100):
        if hass.config_entries.flow.async_progress_by_handler(DOMAIN):
            break
        await asyncio.sleep(0.05)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert entry.state is ConfigEntryState.LOADED


async def test_a_server_that_stops_answering_makes_entities_unavailable(
    hass: HomeAssistant,
) -> None:
    async with serve(FakeSmartPower(tokens={TOKEN})) as fake:
        fake.upload(_reading("meter1", "energy_import_total", 1234.5, "kWh"), live=False)
        entry = await _set_up(hass, fake)
        assert float(hass.states.get(ENERGY).state) == 1234.5
    data = entry.runtime_data
    data.hub.terminal.live = False
    await data.hub.terminal.open()
    await data.fast.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(ENERGY).state == STATE_UNAVAILABLE
    assert "does not answer" in str(data.fast.last_exception)


async def test_the_event_stream_skips_what_it_does_not_use_and_reconnects(
    hass: HomeAssistant, server: FakeSmartPower, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_hub, "RECONNECT_INITIAL", 0.01)
    await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    server.push("alarm", {"kind": "mains_lost", "time": datetime.now(UTC).isoformat()})
    server.push("reading", {"device": "meter1"})  # not a reading
    server.stream_opened.clear()
    server.end_streams()  # the server restarts
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    changed = await _next_state(hass, ENERGY)
    server.upload(_reading("meter1", "energy_import_total", 1240.0, "kWh", age=1))
    state = await asyncio.wait_for(changed, 10)
    assert float(state.state) == 1240.0


async def test_a_remote_input_fires_the_same_event_and_device_trigger(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    device = device_with(hass, (DOMAIN, f"{entry.entry_id}_terminal"), entry)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    offered = {(t["type"], t.get("subtype")) for t in triggers}
    assert {("input_changed", "input_1"), ("relay_changed", "relay_1")} <= offered
    assert ("device_offline", None) in offered
    events = async_capture_events(hass, EVENT_TERMINAL)
    changed = await _next_state(hass, INPUT)
    server.upload(_reading("terminal", "input_1", False, None, age=1))
    await asyncio.wait_for(changed, 10)
    (event,) = [e for e in events if e.data["key"] == "input_1"]
    assert event.data["device_id"] == device.id
    assert event.data["name"] == "Terminal"


async def test_an_input_change_sent_as_an_alarm_is_the_input_s_new_state(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    """A terminal records an I/O change as an event: the stream carries it as an alarm."""
    await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    assert hass.states.get(INPUT).state == "on"
    fetched = server.latest_requests
    changed = await _next_state(hass, INPUT)
    at = datetime.now(UTC).replace(microsecond=0)
    alarm = {"kind": "io_alarm", "time": at.isoformat(), "device": "terminal", "key": "input_1"}
    server.push("alarm", {**alarm, "value": False})
    state = await asyncio.wait_for(changed, 10)
    assert state.state == "off"
    assert server.latest_requests <= fetched + 1  # the stream carried it, not a poll


async def test_a_terminal_silent_for_a_day_is_a_repair_until_it_sends_again(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.readings.clear()
    server.upload(
        _reading("meter1", "energy_import_total", 1234.5, "kWh", age=86400 + 60), live=False
    )
    entry = await _set_up(hass, server)
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, silent_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_placeholders["terminal"] == "Pump station"
    assert (
        issues.async_get_issue(DOMAIN, f"device_unreachable_{entry.entry_id}_meter1") is None
    )  # one issue for the terminal, not one per device

    await asyncio.wait_for(server.stream_opened.wait(), 10)
    changed = await _next_state(hass, ENERGY)
    server.upload(_reading("meter1", "energy_import_total", 1240.0, "kWh", age=1))
    await asyncio.wait_for(changed, 10)
    assert issues.async_get_issue(DOMAIN, silent_issue_id(entry.entry_id)) is None


async def test_a_terminal_that_never_sent_is_not_called_silent_at_once(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.readings.clear()
    entry = await _set_up(hass, server)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(ENERGY).state == STATE_UNAVAILABLE
    assert ir.async_get(hass).async_get_issue(DOMAIN, silent_issue_id(entry.entry_id)) is None


async def test_a_terminal_with_meters_only_is_watched_for_silence_too(hass: HomeAssistant) -> None:
    description = sample_description()
    meters_only = dataclasses.replace(description, devices=description.devices[:1])
    async with serve(FakeSmartPower(tokens={TOKEN}, description=meters_only)) as fake:
        fake.upload(
            _reading("meter1", "energy_import_total", 1234.5, "kWh", age=86400 + 60), live=False
        )
        entry = await _set_up(hass, fake)
        issues = ir.async_get(hass)
        assert issues.async_get_issue(DOMAIN, silent_issue_id(entry.entry_id)) is not None
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert issues.async_get_issue(DOMAIN, silent_issue_id(entry.entry_id)) is None
        fake.stream_opened.clear()
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert issues.async_get_issue(DOMAIN, silent_issue_id(entry.entry_id)) is not None
        await asyncio.wait_for(fake.stream_opened.wait(), 10)
        changed = await _next_state(hass, ENERGY)
        fake.upload(_reading("meter1", "energy_import_total", 1240.0, "kWh", age=1))
        await asyncio.wait_for(changed, 10)
        assert issues.async_get_issue(DOMAIN, silent_issue_id(entry.entry_id)) is None
        assert hass.states.get(RELAY) is None


async def test_a_terminal_set_up_anew_brings_its_new_values(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    meter, terminal = server.description.devices
    power = PointDescription(key="power_total", name="Power", unit="kW", device_class="power")
    server.description = dataclasses.replace(
        server.description,
        devices=(dataclasses.replace(meter, points=(*meter.points, power)), terminal),
    )
    unique_id = entity_unique_id(entry.entry_id, "meter1", "power_total")
    registry = er.async_get(hass)
    server.upload(_reading("meter1", "power_total", 3.25, "kW", age=1))
    for _ in range(200):
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
        state = hass.states.get(entity_id) if entity_id is not None else None
        if state is not None and state.state == "3.25":
            break
        await asyncio.sleep(0.05)
    assert entity_id is not None
    assert hass.states.get(entity_id).state == "3.25"


async def test_an_unknown_value_with_an_unchanged_description_changes_nothing(
    hass: HomeAssistant, server: FakeSmartPower, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await _set_up(hass, server)
    await asyncio.wait_for(server.stream_opened.wait(), 10)
    asked = server.description_requests
    server.upload(_reading("meter1", "not_described", 1.0, None, age=1))
    for _ in range(200):
        if server.description_requests > asked:
            break
        await asyncio.sleep(0.05)
    assert server.description_requests == asked + 1
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert "setting it up anew" not in caplog.text


def test_a_unique_id_splits_at_the_terminal_s_own_device_keys() -> None:
    """A remote terminal's device keys are the names its config gives, underscores and all."""
    keys = ("io", "io_board", "analyser")
    for device, key in (("io_board", "relay_1"), ("analyser", "current_l1"), ("io", "x_1")):
        assert split_unique_id(entity_unique_id("ENTRY", device, key), keys) == (device, key)
    # a local line's subentry ids are ULIDs, without an underscore
    assert split_unique_id(entity_unique_id("ENTRY", "01JSUB", "energy_import_total")) == (
        "01JSUB",
        "energy_import_total",
    )
