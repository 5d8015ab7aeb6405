"""The per-poll diagnostics a user can enable: when a device last answered, and how fast."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from hardware_bridge import PollGroup
from hardware_bridge.simulators.modbus_line import Fault

from .runtime_helpers import (
    entity_id,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)


async def test_enabled_read_diagnostics_show_the_last_answer(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(2, "generic_analyzer")]) as line:
        entry = modbus_entry(str(line.port), [("ana", 2, "generic_analyzer")])
        await setup_entry(hass, entry)
        registry = er.async_get(hass)
        last_read = entity_id(hass, entry, "ana", "last_read")
        round_trip = entity_id(hass, entry, "ana", "round_trip")
        for enabled in (last_read, round_trip):
            registry.async_update_entity(enabled, disabled_by=None)
        # what is read follows the registry at once; the entities come with the reload
        assert entry.runtime_data.hub.wanted(PollGroup.FAST)
        registry.async_remove(entity_id(hass, entry, "ana", "voltage_l1"))
        assert "voltage_l1" not in entry.runtime_data.hub.wanted(PollGroup.FAST)["ana"]
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert "voltage_l1" in entry.runtime_data.hub.wanted(PollGroup.FAST)["ana"]
        answered = dt_util.parse_datetime(hass.states.get(last_read).state)
        assert answered is not None
        assert abs((dt_util.utcnow() - answered).total_seconds()) < 60
        assert float(hass.states.get(round_trip).state) >= 0

        line.sim.set_fault(2, Fault.SILENT)
        await entry.runtime_data.fast.async_refresh()
        await hass.async_block_till_done()
        # the device is silent: when it last answered stays shown, the round trip is gone
        assert dt_util.parse_datetime(hass.states.get(last_read).state) == answered
        assert hass.states.get(round_trip).state == STATE_UNAVAILABLE
        await unload(hass, entry)


def test_no_snapshot_no_read_diagnostics() -> None:
    from custom_components.smartpower_terminal import sensor

    class NoSnapshot:
        def snapshot(self, device_key: str) -> None:
            return None

    for description in sensor.DIAGNOSTIC_SENSORS:
        assert description.value_fn(NoSnapshot(), "x") is None  # type: ignore[arg-type]
