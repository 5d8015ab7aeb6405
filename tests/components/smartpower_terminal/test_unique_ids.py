"""Entity unique ids hold nothing a user can change: a line moved to another adapter keeps its
entities, and entities made by 0.1.0 (the port in their unique ids) are migrated in place."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.config_flow import SmartPowerConfigFlow
from custom_components.smartpower_terminal.const import (
    CONF_BAUDRATE,
    CONF_PARITY,
    CONF_PORT,
    DOMAIN,
)
from custom_components.smartpower_terminal.migration import (
    CURRENT_MINOR_VERSION,
    CURRENT_VERSION,
)

from .runtime_helpers import (
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)


def _entities(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """unique id → entity id of the entry's entities."""
    registry = er.async_get(hass)
    return {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }


async def test_a_line_moved_to_another_adapter_keeps_its_entities(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every poll must be answered: a busy machine must not make a device miss one
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 2.0)
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(entry, unique_id=str(line.port))
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        before = _entities(hass, entry)
        assert len(before) > 20
        assert not [u for u in before if "ttyUSB" in u]

        # the replaced USB adapter shows up under another name
        new_port = tmp_path / "ttyUSB1"
        new_port.symlink_to(line.sim.path)
        result = await entry.start_reconfigure_flow(hass)
        with patch.object(SmartPowerConfigFlow, "_async_test", AsyncMock(return_value=None)):
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"],
                {CONF_PORT: str(new_port), CONF_BAUDRATE: "9600", CONF_PARITY: "none"},
            )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert entry.data[CONF_PORT] == entry.unique_id == str(new_port)
        assert _entities(hass, entry) == before  # same entities, none new
        for entity_id in before.values():
            state = hass.states.get(entity_id)
            assert state is None or state.state != STATE_UNAVAILABLE, entity_id
        await unload(hass, entry)


async def test_entities_of_0_1_0_are_migrated_with_their_entity_ids(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        port = str(line.port)
        entry = modbus_entry(port, [("01JSDM", 1, "eastron_sdm630")])
        entry.add_to_hass(hass)
        # 0.1.0: entry version 1.1, unique id = the port, entity unique ids start with it
        hass.config_entries.async_update_entry(entry, unique_id=port, minor_version=1)
        registry = er.async_get(hass)
        old = {
            key: registry.async_get_or_create(
                "sensor",
                DOMAIN,
                f"{port}_01JSDM_{key}",
                config_entry=entry,
                suggested_object_id=f"main_analyser_{key}",
            )
            for key in ("energy_import_total", "voltage_l1", "last_read", "round_trip")
        }
        # made when the line had been on another port (reconfigured under 0.1.0)
        moved = registry.async_get_or_create(
            "sensor",
            DOMAIN,
            "/dev/serial/by-id/usb-FTDI_FT232R_A10K_01JSDM_current_l1",
            config_entry=entry,
            suggested_object_id="main_analyser_current_l1",
        )
        foreign = registry.async_get_or_create("sensor", "other", f"{port}_01JSDM_voltage_l1")

        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert (entry.version, entry.minor_version) == (CURRENT_VERSION, CURRENT_MINOR_VERSION)
        for key, reg_entry in old.items():
            migrated = registry.async_get(reg_entry.entity_id)
            assert migrated is not None, key
            assert migrated.unique_id == f"{entry.entry_id}_01JSDM_{key}"
            assert migrated.entity_id == f"sensor.main_analyser_{key}"
        assert (
            registry.async_get(moved.entity_id).unique_id == f"{entry.entry_id}_01JSDM_current_l1"
        )
        assert registry.async_get(foreign.entity_id).unique_id == foreign.unique_id
        # no second entity for a migrated value, and the history's entity shows the value
        entities = _entities(hass, entry)
        assert list(entities).count(f"{entry.entry_id}_01JSDM_energy_import_total") == 1
        assert not [u for u in entities if u.startswith(port)]
        energy = hass.states.get("sensor.main_analyser_energy_import_total")
        assert float(energy.state) > 0
        # diagnostics that changed on every poll are switched off (they flooded the logbook)
        for key in ("last_read", "round_trip"):
            disabled_by = registry.async_get(old[key].entity_id).disabled_by
            assert disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert registry.async_get(old["voltage_l1"].entity_id).disabled_by is None
        await unload(hass, entry)


async def test_a_migration_leaves_a_taken_unique_id_alone(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = modbus_entry(str(tmp_path / "gone"), [("01JSDM", 1, "eastron_sdm630")])
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, unique_id="/dev/ttyUSB0", minor_version=1)
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        "sensor", DOMAIN, "/dev/ttyUSB0_01JSDM_voltage_l1", config_entry=entry
    )
    new = registry.async_get_or_create(
        "sensor", DOMAIN, f"{entry.entry_id}_01JSDM_voltage_l1", config_entry=entry
    )
    odd = registry.async_get_or_create("sensor", DOMAIN, "unrelated", config_entry=entry)
    await setup_entry(hass, entry)  # the port is gone: migrated, then retried later
    assert entry.minor_version == CURRENT_MINOR_VERSION
    assert registry.async_get(old.entity_id).unique_id == old.unique_id
    assert registry.async_get(new.entity_id).unique_id == new.unique_id
    assert registry.async_get(odd.entity_id).unique_id == "unrelated"


async def test_an_entry_from_a_newer_release_is_not_loaded(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = modbus_entry(str(tmp_path / "gone"), [])
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, version=CURRENT_VERSION + 1)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR


def test_new_entries_are_made_at_the_version_migrations_lead_to() -> None:
    flow = SmartPowerConfigFlow
    assert (flow.VERSION, flow.MINOR_VERSION) == (CURRENT_VERSION, CURRENT_MINOR_VERSION)
