"""Setup, unload, reload, reconnect and repairs of a line entry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.smartpower_terminal import coordinator as coordinator_module
from custom_components.smartpower_terminal.const import (
    CONF_DEVICE_ID,
    CONF_FAST_INTERVAL,
    CONF_PROFILE,
    DOMAIN,
    SUBENTRY_MODBUS_DEVICE,
)
from hardware_bridge.simulators.modbus_line import Fault

from .runtime_helpers import (
    entity_id,
    get_device,
    modbus_entry,
    modbus_line,
    setup_entry,
    unload,
)


@pytest.fixture(autouse=True)
def _runtime(
    hass: HomeAssistant, enable_custom_integrations: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 0.05)
    monkeypatch.setattr("custom_components.smartpower_terminal.METER_REACTION_TIMEOUT", 0.05)


async def test_setup_creates_devices_and_unload_releases_the_port(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        terminal = get_device(hass, entry)
        assert terminal is not None
        assert (terminal.manufacturer, terminal.model) == ("Grup ARGE", "HT G24")
        meter = get_device(hass, entry, "sdm")
        assert meter is not None
        assert meter.via_device_id == terminal.id
        assert meter.manufacturer == "Eastron"
        hub = entry.runtime_data.hub
        await unload(hass, entry)
        assert entry.state is ConfigEntryState.NOT_LOADED
        assert hub.terminal._bus is None  # the port is closed


async def test_missing_port_retries_setup(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = modbus_entry(str(tmp_path / "gone"), [("sdm", 1, "eastron_sdm630")])
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "Cannot open the serial port" in (entry.reason or "")


async def test_subentry_added_and_removed_reloads_the_line(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(
        tmp_path / "ttyUSB0", [(1, "eastron_sdm630"), (2, "kael_varkombi")]
    ) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data={CONF_DEVICE_ID: 2, CONF_PROFILE: "kael_varkombi"},
                subentry_id="relay",
                subentry_type=SUBENTRY_MODBUS_DEVICE,
                title="Relay",
                unique_id="2",
            ),
        )
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        stage = entity_id(hass, entry, "relay", "manual_mode", "binary_sensor")
        assert hass.states.get(stage) is not None
        assert get_device(hass, entry, "relay")

        hass.config_entries.async_remove_subentry(entry, "relay")
        await hass.async_block_till_done()
        assert not get_device(hass, entry, "relay")
        assert er.async_get(hass).async_get(stage) is None
        await unload(hass, entry)


async def test_the_line_reconnects_after_the_adapter_comes_back(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    link = tmp_path / "ttyUSB0"
    async with modbus_line(link, [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        voltage = entity_id(hass, entry, "sdm", "voltage_l1")
        assert hass.states.get(voltage).state != STATE_UNAVAILABLE
    # the simulator is gone and the port with it
    data = entry.runtime_data
    await data.fast.async_refresh()
    await hass.async_block_till_done()
    assert not data.fast.last_update_success
    assert hass.states.get(voltage).state == STATE_UNAVAILABLE
    energy = entity_id(hass, entry, "sdm", "energy_import_total")
    assert hass.states.get(energy).state == STATE_UNAVAILABLE  # the slow group too
    await data.fast.async_refresh()  # reopen fails: the next try waits for the back-off
    assert data.hub._retry_at is not None
    assert data.hub._retry_at > data.hub.clock()
    await data.fast.async_refresh()  # within the back-off: the port is not even tried
    assert not data.fast.last_update_success
    async with modbus_line(link, [(1, "eastron_sdm630")]):
        data.hub._retry_at = None  # back-off over
        await data.fast.async_refresh()
        await hass.async_block_till_done()
        assert data.fast.last_update_success
        assert hass.states.get(voltage).state != STATE_UNAVAILABLE
        await unload(hass, entry)


async def test_a_silent_device_raises_a_repair_issue_until_it_answers(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coordinator_module, "UNREACHABLE_ISSUE_HOURS", 0)
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        issue_id = coordinator_module.unreachable_issue_id(entry.entry_id, "sdm")
        issues = ir.async_get(hass)
        assert issues.async_get_issue(DOMAIN, issue_id) is None
        line.sim.set_fault(1, Fault.SILENT)
        await entry.runtime_data.fast.async_refresh()
        issue = issues.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "device_unreachable"
        line.sim.set_fault(1, Fault.NONE)
        entry.runtime_data.hub.terminal._bus._health.clear()  # skip the bus back-off
        await entry.runtime_data.fast.async_refresh()
        assert issues.async_get_issue(DOMAIN, issue_id) is None
        await unload(hass, entry)


async def test_an_unknown_profile_leaves_the_device_out_with_a_repair_issue(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(
            str(line.port), [("sdm", 1, "eastron_sdm630"), ("odd", 7, "no_such_profile")]
        )
        await setup_entry(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        issue = ir.async_get(hass).async_get_issue(
            DOMAIN, f"profile_unavailable_{entry.entry_id}_odd"
        )
        assert issue is not None
        await unload(hass, entry)


async def test_scan_while_loaded_and_removal_forgets_the_month_start(
    hass: HomeAssistant, tmp_path: Path, hass_storage: dict
) -> None:
    async with modbus_line(
        tmp_path / "ttyUSB0", [(1, "eastron_sdm630"), (2, "generic_analyzer")]
    ) as line:
        entry = modbus_entry(
            str(line.port), [("sdm", 1, "eastron_sdm630"), ("ana", 2, "generic_analyzer")]
        )
        await setup_entry(hass, entry)
        data = entry.runtime_data
        hits = await data.scan(1, 3, timeout=0.03)
        assert [h.device_id for h in hits] == [1, 2]
        assert data.hub.device_info("sdm").manufacturer == "Eastron"
        assert data.hub.device_info("nope") is None
        # a registry entry that belongs to no configured device is ignored when polling
        er.async_get(hass).async_get_or_create(
            "sensor", DOMAIN, "somebody_else", config_entry=entry
        )
        assert data.hub.wanted(coordinator_module.PollGroup.FAST)
        # the month start is written shortly after the first readings, at the latest at stop
        hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
        await hass.async_block_till_done()
        assert f"{DOMAIN}.{entry.entry_id}.reactive" in hass_storage
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        assert f"{DOMAIN}.{entry.entry_id}.reactive" not in hass_storage


async def test_a_port_that_fails_at_the_first_read_retries_setup(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])

        async def broken_poll(self, *args, **kwargs):
            self._line_error = "read failed: [Errno 5] Input/output error"
            return {"sdm": None}

        monkeypatch.setattr(coordinator_module.LineTerminal, "poll", broken_poll)
        await setup_entry(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_polling_follows_the_option_intervals_and_options_reload(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        assert entry.runtime_data.fast.update_interval == timedelta(seconds=5)
        assert entry.runtime_data.slow.update_interval == timedelta(minutes=1)
        sent = line.sim.requests_seen(1)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=6))
        # the scheduled refresh runs as a background task: wait for it on the line
        async with asyncio.timeout(5):
            await line.sim.wait_for_requests(1, sent + 1)

        hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_FAST_INTERVAL: 30}
        )
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.fast.update_interval == timedelta(seconds=30)
        await unload(hass, entry)


async def test_a_lost_line_is_logged_once_and_its_return_once(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = tmp_path / "ttyUSB0"
    async with modbus_line(link, [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
    data = entry.runtime_data
    for _ in range(3):
        data.hub._retry_at = None
        await data.fast.async_refresh()
    async with modbus_line(link, [(1, "eastron_sdm630")]):
        data.hub._retry_at = None
        await data.fast.async_refresh()
        await data.fast.async_refresh()
        assert len([r for r in caplog.records if "serial line failed" in r.message]) == 1
        assert len([r for r in caplog.records if "works again" in r.message]) == 1
        await unload(hass, entry)


def test_unique_ids_split_into_device_and_key() -> None:
    """Entry and subentry ids are ULIDs (no underscore): two partitions split a unique id."""
    unique_id = coordinator_module.entity_unique_id("01JENTRY", "01JABC", "voltage_l1")
    assert unique_id == "01JENTRY_01JABC_voltage_l1"
    assert coordinator_module.split_unique_id(unique_id) == ("01JABC", "voltage_l1")
