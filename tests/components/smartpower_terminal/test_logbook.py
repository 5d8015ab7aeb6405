"""Steady values write nothing to the logbook, however often the line is polled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.smartpower_terminal.const import DOMAIN
from hardware_bridge.simulators.iec_meter import SimulatedMeter

from .runtime_helpers import (
    meter_entry,
    meter_line,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)

POLLS = 4


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database is prepared before Home Assistant starts (logbook needs it)."""


async def test_polling_steady_values_writes_no_logbook_entries(
    recorder_mock: Any,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every poll must be answered: a busy machine must not make a device miss one
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 2.0)
    monkeypatch.setattr("custom_components.smartpower_terminal.METER_REACTION_TIMEOUT", 2.0)
    assert await async_setup_component(hass, "logbook", {})
    meter = SimulatedMeter("makel_c520_3p", load_kw=0.0, reactive_kvar=0.0)  # steady counters
    async with (
        modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630"), (2, "kael_varkombi")]) as line,
        meter_line([meter]) as meters,
    ):
        modbus = modbus_entry(
            str(line.port), [("sdm", 1, "eastron_sdm630"), ("kael", 2, "kael_varkombi")]
        )
        optical = meter_entry(meters.path, [("mk", meter.address)])
        await setup_entry(hass, modbus)
        await setup_entry(hass, optical)
        registry = er.async_get(hass)
        ours = {
            e.entity_id
            for entry in (modbus, optical)
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        }
        assert len(ours) > 50
        # one more poll first: the monthly reactive ratios need a second reading to exist
        for entry in (modbus, optical):
            await entry.runtime_data.slow.async_refresh()
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)
        start = dt_util.utcnow()

        for _ in range(POLLS):  # the simulated clocks stand still: every value is steady
            for entry in (modbus, optical):
                await entry.runtime_data.fast.async_refresh()
                await entry.runtime_data.slow.async_refresh()
            await hass.async_block_till_done()
        await async_wait_recording_done(hass)

        client = await hass_client()
        response = await client.get(
            f"/api/logbook/{start.isoformat()}",
            params={"end_time": dt_util.utcnow().isoformat()},
        )
        assert response.status == 200
        entries = await response.json()
        flood = [e for e in entries if e.get("entity_id") in ours or e.get("domain") == DOMAIN]
        assert not flood, flood[:5]
        await unload(hass, modbus)
        await unload(hass, optical)
