"""Diagnostics download: configuration, profiles, last values; secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from hardware_bridge.simulators.iec_meter import SimulatedMeter

from .runtime_helpers import (
    meter_entry,
    meter_line,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    unload,
)


async def test_diagnostics_show_the_line_and_hide_secrets(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        # a network terminal's auth code will live here; it must never leave the house
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")], auth_code="123456")
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(entry, data={**entry.data, "auth_code": "123456"})
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert await async_setup_component(hass, "diagnostics", {})
        result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert result["entry"]["data"]["auth_code"] == REDACTED
        # a by-id port path carries the adapter's serial number
        assert result["entry"]["data"]["port"] == REDACTED
        assert str(line.port) not in json.dumps(result)
        assert result["profiles_in_use"] == ["eastron_sdm630"]
        device = result["devices"]["sdm"]
        assert device["snapshot"]["available"] is True
        assert device["shown_values"]["voltage_l1"] == device["snapshot"]["values"]["voltage_l1"]
        assert result["line"]["ok"] is True
        assert result["line"]["coordinators"]["fast"]["last_update_success"] is True
        assert result["entry"]["options"]["auth_code"] == REDACTED
        await unload(hass, entry)


def test_values_become_plain_json() -> None:
    from datetime import UTC, datetime

    from custom_components.smartpower_terminal.diagnostics import _jsonable

    when = datetime(2025, 5, 1, tzinfo=UTC)
    assert _jsonable({"a": (1, when), 2: None}) == {"a": [1, str(when)], "2": None}
    assert _jsonable({"read_keys": frozenset({"b", "a"})}) == {"read_keys": ["a", "b"]}


async def test_diagnostics_hide_meter_serial_numbers(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    meter = SimulatedMeter("makel_c520_3p")
    async with meter_line([meter]) as sim:
        entry = meter_entry(sim.path, [("mk", meter.address)])
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(entry, unique_id=sim.path)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert await async_setup_component(hass, "diagnostics", {})
        result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        device = result["devices"]["mk"]
        assert device["snapshot"]["available"] is True
        assert device["snapshot"]["info"]["manufacturer"] == "Makel"
        assert device["snapshot"]["info"]["serial_number"] == REDACTED
        assert device["shown_values"]["meter_serial"] == REDACTED
        assert device["data"]["address"] == REDACTED
        text = json.dumps(result)
        for secret in ("80099921", meter.address, sim.path):
            assert secret not in text, secret
        assert device["shown_values"]["voltage_l1"] is not None  # readings stay
        await unload(hass, entry)
