"""Relays and inputs of Modbus I/O boards in Home Assistant: switches that report only what the
board confirmed, inputs, terminal events, a relay's longest on-time, and mains loss."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, mock_restore_cache

from custom_components.smartpower_terminal.const import (
    CONF_CAPACITIVE_LIMIT,
    CONF_INDUCTIVE_LIMIT,
    CONF_IO,
    CONF_IO_SUPPORT,
    CONF_MAINS_DETECTION,
    CONF_MAINS_SOURCE,
    DOMAIN,
    IO_DEVICE_CLASS,
    IO_INVERTED,
    IO_MAX_ON,
    IO_NAME,
)
from custom_components.smartpower_terminal.reactive import ReactiveRatios
from custom_components.smartpower_terminal.watch import LineWatch
from hardware_bridge.simulators.modbus_line import Fault

from .runtime_helpers import (
    entity_id,
    get_device,
    modbus_entry,
    modbus_line,
    modbus_subentry,
    runtime_setup,
    setup_entry,
    terminal_events,
    unload,
)

__all__ = ["runtime_setup"]

BOARD = "waveshare_relay_8ch_d"


def io_entry(
    port: str,
    devices: Iterable[tuple[str, int, str]],
    io: dict[str, dict[str, Any]] | None = None,
    *,
    data: dict[str, Any] | None = None,
    **options: Any,
) -> MockConfigEntry:
    """A Modbus line with I/O support on; ``io`` holds each device's relay/input settings."""
    line = modbus_entry(port, [], **{CONF_IO_SUPPORT: True, **options})
    subentries = []
    for key, device_id, profile in devices:
        subentry = modbus_subentry(key, device_id, profile)
        if io and key in io:
            subentry["data"][CONF_IO] = io[key]
        subentries.append(subentry)
    return MockConfigEntry(
        domain=line.domain,
        title=line.title,
        unique_id=line.unique_id,
        data={**line.data, **(data or {})},
        options=dict(line.options),
        subentries_data=subentries,
        version=1,
    )


class Clock:
    """The hub's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = dt_util.utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@asynccontextmanager
async def board_line(
    hass: HomeAssistant, tmp_path: Path, entry_factory: Any, devices: list[tuple[int, str]]
) -> AsyncIterator[tuple[Any, MockConfigEntry, Clock]]:
    async with modbus_line(tmp_path / "ttyUSB0", devices) as line:
        entry = entry_factory(str(line.port))
        await setup_entry(hass, entry)
        clock = Clock()
        entry.runtime_data.hub.clock = clock
        try:
            yield line, entry, clock
        finally:
            await unload(hass, entry)


async def poll_io(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.io.async_refresh()
    await hass.async_block_till_done()


async def test_relays_and_inputs_appear_only_with_io_support(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(3, BOARD)]) as line:
        entry = modbus_entry(str(line.port), [("board", 3, BOARD)])
        await setup_entry(hass, entry)
        assert entry.runtime_data.io is None
        assert not hass.states.async_entity_ids(SWITCH_DOMAIN)
        assert line.sim.requests_seen(3) == 0  # nothing of the board is read or written
        await unload(hass, entry)


async def test_switch_reports_what_the_board_confirmed(hass: HomeAssistant, tmp_path: Path) -> None:
    def factory(port: str) -> MockConfigEntry:
        return io_entry(port, [("board", 3, BOARD)], {"board": {"relay_2": {IO_NAME: "Pump"}}})

    async with board_line(hass, tmp_path, factory, [(3, BOARD)]) as (line, entry, _clock):
        board = line.sim.board(3)
        relay_1 = entity_id(hass, entry, "board", "relay_1", "switch")
        pump = entity_id(hass, entry, "board", "relay_2", "switch")
        assert hass.states.get(relay_1).name.endswith("Relay 1")
        assert hass.states.get(pump).name.endswith("Pump")
        assert hass.states.get(relay_1).state == STATE_OFF
        seen = terminal_events(hass)

        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: pump}, blocking=True
        )
        assert board.relays[1] is True
        assert hass.states.get(pump).state == STATE_ON
        assert [e["type"] for e in seen] == ["relay_changed"]
        assert seen[0]["key"] == "relay_2"
        assert seen[0]["state"] is True
        assert seen[0]["entity_id"] == pump
        assert seen[0]["device_id"] == get_device(hass, entry, "board").id

        # the board's own logic keeps relay 1 off: the write is answered, the relay stays
        board.held[1] = False
        with pytest.raises(HomeAssistantError, match="not confirmed on"):
            await hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: relay_1}, blocking=True
            )
        assert hass.states.get(relay_1).state == STATE_OFF  # what was read back

        line.sim.set_fault(3, Fault.SILENT)
        with pytest.raises(HomeAssistantError, match="did not answer"):
            await hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: pump}, blocking=True
            )
        assert hass.states.get(pump).state == STATE_UNKNOWN  # never the state asked for
        assert board.relays[1] is True


async def test_inputs_follow_the_board_with_inversion_and_device_class(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    io = {
        "board": {
            "input_1": {IO_NAME: "Tank low", IO_DEVICE_CLASS: "moisture", IO_INVERTED: True},
            "input_2": {IO_NAME: "", IO_DEVICE_CLASS: "none", IO_INVERTED: False},
        }
    }

    def factory(port: str) -> MockConfigEntry:
        return io_entry(port, [("board", 3, BOARD)], io)

    async with board_line(hass, tmp_path, factory, [(3, BOARD)]) as (line, entry, _clock):
        board = line.sim.board(3)
        tank = entity_id(hass, entry, "board", "input_1", "binary_sensor")
        plain = entity_id(hass, entry, "board", "input_2", "binary_sensor")
        assert hass.states.get(tank).attributes["device_class"] == "moisture"
        assert "device_class" not in hass.states.get(plain).attributes
        assert hass.states.get(plain).name.endswith("Input 2")
        assert hass.states.get(tank).state == STATE_ON  # open contact, inverted
        assert hass.states.get(plain).state == STATE_OFF
        seen = terminal_events(hass)

        board.set_input(1, True)
        board.set_input(2, True)
        await poll_io(hass, entry)
        assert hass.states.get(tank).state == STATE_OFF
        assert hass.states.get(plain).state == STATE_ON
        changed = {e["key"]: e["state"] for e in seen if e["type"] == "input_changed"}
        assert changed == {"input_1": False, "input_2": True}

        await poll_io(hass, entry)  # nothing changed: no event
        assert len([e for e in seen if e["type"] == "input_changed"]) == 2


async def test_relay_switched_elsewhere_and_device_offline_are_events(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    def factory(port: str) -> MockConfigEntry:
        return io_entry(port, [("board", 3, BOARD)])

    async with board_line(hass, tmp_path, factory, [(3, BOARD)]) as (line, entry, _clock):
        seen = terminal_events(hass)
        line.sim.board(3).relays[4] = True  # another master, or the board's front button
        await poll_io(hass, entry)
        assert hass.states.get(entity_id(hass, entry, "board", "relay_5", "switch")).state == "on"
        assert [(e["type"], e.get("key")) for e in seen] == [("relay_changed", "relay_5")]
        assert "reason" not in seen[0]

        line.sim.set_fault(3, Fault.SILENT)
        await poll_io(hass, entry)
        await poll_io(hass, entry)
        line.sim.set_fault(3, Fault.NONE)
        entry.runtime_data.hub.terminal._bus._health.clear()  # no back-off wait in the test
        await poll_io(hass, entry)
        assert [e["type"] for e in seen[1:]] == ["device_offline", "device_online"]
        relay = entity_id(hass, entry, "board", "relay_5", "switch")
        assert hass.states.get(relay).state == STATE_ON


async def test_a_relay_on_longer_than_its_limit_is_switched_off(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def factory(port: str) -> MockConfigEntry:
        return io_entry(port, [("board", 3, BOARD)], {"board": {"relay_1": {IO_MAX_ON: 30}}})

    async with board_line(hass, tmp_path, factory, [(3, BOARD)]) as (line, entry, clock):
        board = line.sim.board(3)
        relay = entity_id(hass, entry, "board", "relay_1", "switch")
        seen = terminal_events(hass)
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: relay}, blocking=True
        )
        clock.advance(29 * 60)
        await poll_io(hass, entry)
        assert board.relays[0] is True
        clock.advance(60)
        await poll_io(hass, entry)
        assert board.relays[0] is False
        assert hass.states.get(relay).state == STATE_OFF
        assert seen[-1]["type"] == "relay_changed"
        assert seen[-1]["reason"] == "max_on"
        assert seen[-1]["state"] is False
        assert "longest on-time: switching it off" in caplog.text

        # a board that does not take the command: tried at every poll, logged once
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: relay}, blocking=True
        )
        board.held[1] = True
        clock.advance(31 * 60)
        caplog.clear()
        for _ in range(3):
            await poll_io(hass, entry)
        assert caplog.text.count("longest on-time") == 1
        assert caplog.text.count("not confirmed off") == 1
        board.held.clear()
        await poll_io(hass, entry)
        assert board.relays[0] is False


async def test_mains_from_an_input_keeps_the_outage(hass: HomeAssistant, tmp_path: Path) -> None:
    def factory(port: str) -> MockConfigEntry:
        return io_entry(
            port,
            [("board", 3, BOARD)],
            data={CONF_MAINS_DETECTION: True},
            **{CONF_MAINS_SOURCE: "board:input_8"},
        )

    async with board_line(hass, tmp_path, factory, [(3, BOARD)]) as (line, entry, clock):
        board = line.sim.board(3)
        board.set_input(8, True)
        await poll_io(hass, entry)
        mains = next(
            e for e in hass.states.async_entity_ids("binary_sensor") if e.endswith("mains_power")
        )
        assert hass.states.get(mains).state == STATE_ON
        assert hass.states.get(mains).attributes["device_class"] == "power"
        seen = terminal_events(hass)

        board.set_input(8, False)
        for _ in range(4):  # a loss is taken once it held for 5 s
            clock.advance(2)
            await poll_io(hass, entry)
        state = hass.states.get(mains)
        assert state.state == STATE_OFF
        assert state.attributes["outage_start"] is not None
        assert [e["type"] for e in seen if e["type"].startswith("mains")] == ["mains_lost"]
        lost = next(e for e in seen if e["type"] == "mains_lost")
        assert lost["device_id"] == get_device(hass, entry).id
        assert lost["entity_id"] == mains

        clock.advance(600)
        board.set_input(8, True)
        for _ in range(7):  # and mains is back once it held for 10 s
            clock.advance(2)
            await poll_io(hass, entry)
        state = hass.states.get(mains)
        assert state.state == STATE_ON
        assert state.attributes["outage_start"] is None
        assert 600 <= state.attributes["last_outage_duration"] <= 620
        assert [e["type"] for e in seen if e["type"].startswith("mains")] == [
            "mains_lost",
            "mains_restored",
        ]


async def test_mains_from_phase_voltages_and_a_silent_analyser_is_no_outage(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    def factory(port: str) -> MockConfigEntry:
        return io_entry(
            port,
            [("analyser", 1, "eastron_sdm630")],
            data={CONF_MAINS_DETECTION: True},
            **{CONF_MAINS_SOURCE: "analyser"},
        )

    async with board_line(hass, tmp_path, factory, [(1, "eastron_sdm630")]) as (
        line,
        entry,
        clock,
    ):
        fast = entry.runtime_data.fast
        mains = next(
            e for e in hass.states.async_entity_ids("binary_sensor") if e.endswith("mains_power")
        )
        assert hass.states.get(mains).state == STATE_ON
        seen = terminal_events(hass)
        line.sim.mains_outage(line.sim.time + 1, line.sim.time + 3600)
        for _ in range(3):
            line.sim.advance(5)
            clock.advance(5)
            await fast.async_refresh()
            await hass.async_block_till_done()
        assert hass.states.get(mains).state == STATE_OFF
        assert [e["type"] for e in seen] == ["mains_lost"]
        power = hass.states.get(entity_id(hass, entry, "analyser", "power_active_total"))
        assert float(power.state) == 0.0  # the analyser on its auxiliary supply sees no load

        line.sim.set_fault(1, Fault.SILENT)
        for _ in range(3):
            clock.advance(60)
            await fast.async_refresh()
            await hass.async_block_till_done()
        assert hass.states.get(mains).state == STATE_UNAVAILABLE  # unknown, not "off" nor "on"
        assert [e["type"] for e in seen] == ["mains_lost", "device_offline"]


async def test_a_compensation_alarm_raised_is_an_event(hass: HomeAssistant, tmp_path: Path) -> None:
    """Mains lost on the relay's measuring inputs: no current, the relay raises its alarm."""

    def factory(port: str) -> MockConfigEntry:
        return io_entry(port, [("relay", 2, "generic_compensation_relay")])

    async with board_line(hass, tmp_path, factory, [(2, "generic_compensation_relay")]) as (
        line,
        entry,
        _clock,
    ):
        fast = entry.runtime_data.fast
        alarm = entity_id(hass, entry, "relay", "alarm_current_low", "binary_sensor")
        assert hass.states.get(alarm).state == STATE_OFF
        seen = terminal_events(hass)
        line.sim.mains_outage(line.sim.time + 1, line.sim.time + 600)
        line.sim.advance(5)
        await fast.async_refresh()
        await hass.async_block_till_done()
        assert hass.states.get(alarm).state == STATE_ON
        raised = [e for e in seen if e["type"] == "compensation_alarm"]
        assert {e["key"] for e in raised} >= {"alarm_current_low"}
        assert all(e["state"] is True for e in raised)
        assert raised[0]["device_id"] == get_device(hass, entry, "relay").id

        line.sim.advance(600)  # mains back: the alarm clears without an event
        await fast.async_refresh()
        await hass.async_block_till_done()
        assert hass.states.get(alarm).state == STATE_OFF
        assert len([e for e in seen if e["type"] == "compensation_alarm"]) == len(raised)


async def test_crossing_the_reactive_limit_is_an_event(hass: HomeAssistant) -> None:
    """Only the crossing from under to over the limit fires, once."""
    entry = io_entry("/dev/null", [("relay", 2, "generic_compensation_relay")])
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, f"{entry.entry_id}_relay")}
    )
    watch = LineWatch(hass, entry)
    seen = terminal_events(hass)
    options = {CONF_INDUCTIVE_LIMIT: 20.0, CONF_CAPACITIVE_LIMIT: 15.0}
    for inductive in (None, 12.0, 25.0, 30.0, 10.0, 21.0):
        ratios = ReactiveRatios(month="2026-11", inductive=inductive, capacitive=1.0)
        watch.reactive_checked("relay", ratios, options)
    await hass.async_block_till_done()
    fired = [e for e in seen if e["type"] == "reactive_limit_exceeded"]
    assert [e["inductive"] for e in fired] == [25.0, 21.0]
    assert fired[0]["device_id"] == device.id
    # an unknown device (not in the registry) fires nothing
    watch.reactive_checked(
        "other", ReactiveRatios(month="2026-11", inductive=1.0, capacitive=1.0), options
    )
    watch.reactive_checked(
        "other", ReactiveRatios(month="2026-11", inductive=99.0, capacitive=1.0), options
    )
    await hass.async_block_till_done()
    assert len([e for e in seen if e["type"] == "reactive_limit_exceeded"]) == 2


async def test_the_last_outage_survives_a_restart(hass: HomeAssistant, tmp_path: Path) -> None:
    last = {
        "last_outage_start": "2026-11-20T03:00:00+00:00",
        "last_outage_end": "2026-11-20T03:42:00+00:00",
        "last_outage_duration": 2520.0,
    }

    def factory(port: str) -> MockConfigEntry:
        entry = io_entry(
            port,
            [("board", 3, BOARD)],
            data={CONF_MAINS_DETECTION: True},
            **{CONF_MAINS_SOURCE: "board:input_8"},
        )
        # the entity id the line's mains sensor gets ("Panel RS-485" + "Mains power")
        mock_restore_cache(hass, [State("binary_sensor.panel_rs_485_mains_power", "on", last)])
        return entry

    async with board_line(hass, tmp_path, factory, [(3, BOARD)]) as (line, entry, _clock):
        line.sim.board(3).set_input(8, True)
        await poll_io(hass, entry)
        mains = next(
            e for e in hass.states.async_entity_ids("binary_sensor") if e.endswith("mains_power")
        )
        assert mains == "binary_sensor.panel_rs_485_mains_power"
        state = hass.states.get(mains)
        assert state.state == STATE_ON
        assert state.attributes["last_outage_duration"] == 2520.0
        assert state.attributes["last_outage_start"] == last["last_outage_start"]
