"""Binary sensors: compensation stages and status bits as the relay reports them."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant

from hardware_bridge.simulators.modbus_line import Fault

from .runtime_helpers import (
    entity_id,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)


async def test_stages_and_alarms_follow_the_relay(hass: HomeAssistant, tmp_path: Path) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(3, "generic_compensation_relay")]) as line:
        entry = modbus_entry(str(line.port), [("rel", 3, "generic_compensation_relay")])
        await setup_entry(hass, entry)
        served = line.sim.values(3)
        bools = {k: v for k, v in served.items() if isinstance(v, bool)}
        assert any(k.startswith("stage_k") for k in bools)
        for key, value in bools.items():
            eid = entity_id(hass, entry, "rel", key, "binary_sensor")
            state = hass.states.get(eid)
            if state is None:  # disabled by default
                continue
            assert state.state == (STATE_ON if value else STATE_OFF), key
        stages = hass.states.get(entity_id(hass, entry, "rel", "active_stages"))
        assert float(stages.state) == served["active_stages"]
        alarm = next(k for k in bools if k.startswith("alarm_"))
        attributes = hass.states.get(entity_id(hass, entry, "rel", alarm, "binary_sensor"))
        assert attributes.attributes["device_class"] == "problem"

        line.sim.set_fault(3, Fault.SILENT)
        await entry.runtime_data.fast.async_refresh()
        stage = entity_id(hass, entry, "rel", "stage_k1", "binary_sensor")
        assert hass.states.get(stage).state == STATE_UNAVAILABLE
        await unload(hass, entry)
