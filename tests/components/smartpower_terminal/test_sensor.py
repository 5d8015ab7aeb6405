"""Sensors: values as the devices send them, per-device availability, polling, energy guard."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from custom_components.smartpower_terminal.const import DOMAIN
from custom_components.smartpower_terminal.guard import CounterGuard
from custom_components.smartpower_terminal.reactive import DERIVED_ENTITY_KEYS
from hardware_bridge import PollGroup
from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import Fault

from .runtime_helpers import (
    entity_id,
    get_device,
    meter_entry,
    meter_line,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)


async def test_modbus_values_match_the_devices(hass: HomeAssistant, tmp_path: Path) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        served = line.sim.values(1)
        for key in ("voltage_l1", "current_l1", "power_active_total", "energy_import_total"):
            state = hass.states.get(entity_id(hass, entry, "sdm", key))
            assert float(state.state) == pytest.approx(served[key], rel=1e-4), key
        energy = hass.states.get(entity_id(hass, entry, "sdm", "energy_import_total"))
        assert energy.attributes["state_class"] == "total_increasing"
        assert energy.attributes["unit_of_measurement"] == "kWh"
        assert energy.attributes["device_class"] == "energy"
        assert energy.attributes["friendly_name"].endswith("Imported energy")
        # reactive import/export stand in for inductive/capacitive on a consuming site
        assert hass.states.get(entity_id(hass, entry, "sdm", "reactive_inductive_ratio"))
        errors = hass.states.get(entity_id(hass, entry, "sdm", "read_errors"))
        assert errors.state == "0"
        # diagnostics that change on every poll are there, disabled until a user wants them
        registry = er.async_get(hass)
        for key in ("round_trip", "last_read"):
            reg_entry = registry.async_get(entity_id(hass, entry, "sdm", key))
            assert reg_entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        await unload(hass, entry)


async def test_meter_entities_follow_the_first_readout(hass: HomeAssistant) -> None:
    # its clock on the day the telegram was captured: 1.6.0(003.264*kW)(23-06-06,18:45)
    meter = SimulatedMeter("makel_c520_3p", start=datetime(2023, 6, 14, 16, 55, 35))
    async with meter_line([meter]) as sim:
        entry = meter_entry(sim.path, [("mk", meter.address)])
        await setup_entry(hass, entry)
        state = hass.states.get(entity_id(hass, entry, "mk", "energy_import_total"))
        assert float(state.state) == pytest.approx(meter.counter("1.8.0"), abs=0.01)
        assert hass.states.get(entity_id(hass, entry, "mk", "voltage_l1")) is not None
        # when the maximum demand happened, in HA's time zone, as a timestamp sensor
        demand = hass.states.get(entity_id(hass, entry, "mk", "max_demand_time"))
        assert demand.attributes["device_class"] == "timestamp"
        expected = datetime(2023, 6, 6, 18, 45, tzinfo=dt_util.get_default_time_zone())
        assert datetime.fromisoformat(demand.state) == expected
        drift = hass.states.get(entity_id(hass, entry, "mk", "meter_time_drift"))
        assert drift.attributes["unit_of_measurement"] == "s"
        device = get_device(hass, entry, "mk")
        assert device is not None
        assert (device.manufacturer, device.serial_number) == ("Makel", "80099921")
        terminal = get_device(hass, entry)
        assert (terminal.manufacturer, terminal.model) == ("SmartPower", "USB serial adapter")
        assert not entry.runtime_data.hub.wanted(PollGroup.FAST)  # meters: slow cycle only
        await unload(hass, entry)


async def test_meter_status_values_show_as_counts_dates_and_states(hass: HomeAssistant) -> None:
    meter = SimulatedMeter("makel_c520_3p")
    async with meter_line([meter]) as sim:
        entry = meter_entry(sim.path, [("mk", meter.address)])
        await setup_entry(hass, entry)

        def state(key: str, platform: str = "sensor") -> State:
            found = hass.states.get(entity_id(hass, entry, "mk", key, platform))
            assert found is not None, key
            return found

        sent = next(d.value for d in meter.datasets() if d.address == "0.1.0")  # e.g. 0.1.0(42)
        assert state("billing_period_count").state == str(int(sent))  # a count, not 42.0
        production = state("production_date")  # 96.1.3(18-11-27)
        assert (production.state, production.attributes["device_class"]) == ("2018-11-27", "date")
        assert state("terminal_cover_opened").state == "unknown"  # 00-00-00,00:00: never
        assert state("terminal_cover_opened").attributes["device_class"] == "timestamp"
        assert state("battery_low", "binary_sensor").state == "off"  # 96.6.1(1): full
        await unload(hass, entry)


async def test_a_meter_that_answers_late_gets_its_entities_then(hass: HomeAssistant) -> None:
    meter = SimulatedMeter("luna_1p")
    async with meter_line([meter]) as sim:
        sim.faults.silent = True
        entry = meter_entry(sim.path, [("lu", meter.address)])
        await setup_entry(hass, entry)
        registry = er.async_get(hass)
        assert not [
            e
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
            if e.unique_id.endswith("energy_import_total")
        ]
        sim.faults.silent = False
        await entry.runtime_data.slow.async_refresh()
        await hass.async_block_till_done()
        state = hass.states.get(entity_id(hass, entry, "lu", "energy_import_total"))
        assert float(state.state) == pytest.approx(meter.counter("1.8.0"), abs=0.01)
        await unload(hass, entry)


async def test_a_silent_device_hides_only_its_own_entities(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with modbus_line(
        tmp_path / "ttyUSB0", [(1, "eastron_sdm630"), (2, "generic_analyzer")]
    ) as line:
        entry = modbus_entry(
            str(line.port), [("sdm", 1, "eastron_sdm630"), ("ana", 2, "generic_analyzer")]
        )
        await setup_entry(hass, entry)
        data = entry.runtime_data
        sdm_voltage = entity_id(hass, entry, "sdm", "voltage_l1")
        ana_voltage = entity_id(hass, entry, "ana", "voltage_l1")
        ana_energy = entity_id(hass, entry, "ana", "energy_import_total")
        ana_read_errors = entity_id(hass, entry, "ana", "read_errors")
        assert hass.states.get(ana_voltage).state != STATE_UNAVAILABLE

        line.sim.set_fault(2, Fault.SILENT)
        with caplog.at_level(logging.WARNING):
            await data.fast.async_refresh()
            await data.fast.async_refresh()
            await hass.async_block_till_done()
        assert hass.states.get(ana_voltage).state == STATE_UNAVAILABLE
        assert hass.states.get(ana_energy).state == STATE_UNAVAILABLE  # slow group follows
        assert hass.states.get(ana_read_errors).state == "2"  # shown while the device is silent
        assert hass.states.get(sdm_voltage).state != STATE_UNAVAILABLE
        assert len([r for r in caplog.records if "is not answering" in r.message]) == 1

        line.sim.set_fault(2, Fault.NONE)
        data.hub.terminal._bus._health.clear()  # skip the bus's back-off for silent devices
        await data.fast.async_refresh()
        await hass.async_block_till_done()
        assert hass.states.get(ana_voltage).state != STATE_UNAVAILABLE
        assert hass.states.get(ana_energy).state != STATE_UNAVAILABLE
        await unload(hass, entry)


async def test_disabled_entities_are_not_read(hass: HomeAssistant, tmp_path: Path) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(2, "generic_analyzer")]) as line:
        entry = modbus_entry(str(line.port), [("ana", 2, "generic_analyzer")])
        await setup_entry(hass, entry)
        hub = entry.runtime_data.hub
        assert "voltage_l1" in hub.wanted(PollGroup.FAST)["ana"]
        registry = er.async_get(hass)
        registry.async_update_entity(
            entity_id(hass, entry, "ana", "voltage_l1"), disabled_by=er.RegistryEntryDisabler.USER
        )
        registry.async_update_entity(
            entity_id(hass, entry, "ana", "energy_import_total"),
            disabled_by=er.RegistryEntryDisabler.USER,
        )
        fast = hub.wanted(PollGroup.FAST)["ana"]
        assert "voltage_l1" not in fast
        assert "voltage_l2" in fast
        # the reactive ratios still need the active energy counter
        assert "energy_import_total" in hub.wanted(PollGroup.SLOW)["ana"]
        for key in DERIVED_ENTITY_KEYS:
            platform = "binary_sensor" if key.endswith(("_exceeded", "_risk")) else "sensor"
            registry.async_update_entity(
                entity_id(hass, entry, "ana", key, platform),
                disabled_by=er.RegistryEntryDisabler.USER,
            )
        assert "energy_import_total" not in hub.wanted(PollGroup.SLOW)["ana"]
        await unload(hass, entry)


async def test_energy_counters_never_go_backwards(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        data = entry.runtime_data
        energy = entity_id(hass, entry, "sdm", "energy_import_total")
        real = float(hass.states.get(energy).state)
        # pretend an earlier reading was higher: the device's lower value is a misread
        data.hub.guard._counters[("sdm", "energy_import_total")].value = real + 100
        with caplog.at_level(logging.WARNING):
            await data.slow.async_refresh()
            await data.slow.async_refresh()
            await hass.async_block_till_done()
        assert float(hass.states.get(energy).state) == pytest.approx(real + 100)
        assert len([r for r in caplog.records if "ignoring reading" in r.message]) == 1
        await unload(hass, entry)


def test_counter_guard_rejects_decreases_and_jumps(caplog: pytest.LogCaptureFixture) -> None:
    guard = CounterGuard(max_power_kw=100)
    start = dt_util.utcnow()
    assert guard.check("d", "e", 1000.0, "kWh", start) == 1000.0
    hour = start + timedelta(hours=1)
    assert guard.check("d", "e", 1150.0, "kWh", hour) == 1150.0  # 150 kWh in 1 h at 100 kW x2
    assert guard.check("d", "e", 1100.0, "kWh", hour) == 1150.0  # backwards
    assert guard.check("d", "e", 9e9, "kWh", hour) == 1150.0  # a leap
    assert guard.rejected == 2
    with caplog.at_level(logging.INFO):
        assert guard.check("d", "e", 1151.0, "kWh", hour + timedelta(minutes=1)) == 1151.0
    assert "plausible again" in caplog.text
    # Wh counters allow a thousand times the number
    assert guard.check("d", "w", 0.0, "Wh", start) == 0.0
    assert guard.check("d", "w", 150_000.0, "Wh", hour) == 150_000.0


def test_descriptions_from_unusual_specs() -> None:
    from custom_components.smartpower_terminal.sensor import spec_description
    from hardware_bridge import MeasurementSpec

    odd = spec_description(
        MeasurementSpec(key="x", name="X", device_class="reactive_energy", state_class="odd")
    )
    assert odd.state_class is None
    assert odd.name == "X"  # shown when no translation exists for the key
    stamp = spec_description(MeasurementSpec(key="t", name="T", kind="timestamp"))
    assert stamp.device_class == "timestamp"
    assert stamp.native_unit_of_measurement is None


async def test_a_misread_right_after_a_restart_does_not_go_back(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    from pytest_homeassistant_custom_component.common import mock_restore_cache

    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        entry.add_to_hass(hass)
        registry = er.async_get(hass)
        counter = registry.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{entry.entry_id}_sdm_energy_import_total",
            config_entry=entry,
            suggested_object_id="sdm_imported_energy",
        )
        export = registry.async_get_or_create(
            "sensor", DOMAIN, f"{entry.entry_id}_sdm_energy_export_total", config_entry=entry
        )
        shown = line.sim.values(1)["energy_import_total"] + 500
        mock_restore_cache(
            hass,
            [
                State(counter.entity_id, str(shown), {"state_class": "total_increasing"}),
                State("sensor.sdm_voltage_l1", "230", {"state_class": "measurement"}),
                State(export.entity_id, "unknown", {"state_class": "total_increasing"}),
            ],
        )
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert float(hass.states.get(counter.entity_id).state) == pytest.approx(shown)
        await unload(hass, entry)
