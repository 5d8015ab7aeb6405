"""What a poll costs Home Assistant when nothing changed: no state writes, no registry walk,
no search for new entities, no repair-issue calls. (Timings: benchmarks/bench_ha.py.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util

from custom_components.smartpower_terminal.coordinator import LineHub
from hardware_bridge import PollGroup

from .runtime_helpers import (
    entity_id,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)

DEVICES = [("sdm", 1, "eastron_sdm630"), ("ana", 2, "generic_analyzer")]


def _counting(calls: Counter[str], name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return func(*args, **kwargs)

    return counted


async def test_a_steady_poll_costs_no_writes_and_no_walks(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every poll must be answered: a busy machine must not make a device miss one
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 2.0)
    async with modbus_line(tmp_path / "ttyUSB0", [(i, p) for _, i, p in DEVICES]) as line:
        entry = modbus_entry(str(line.port), DEVICES)
        await setup_entry(hass, entry)
        data = entry.runtime_data

        async def full_update() -> None:
            await data.fast.async_refresh()
            await data.slow.async_refresh()
            await hass.async_block_till_done()

        for _ in range(2):  # the monthly reactive ratios exist from the second reading on
            await full_update()

        calls: Counter[str] = Counter()
        monkeypatch.setattr(
            Entity,
            "async_write_ha_state",
            _counting(calls, "write", Entity.async_write_ha_state),
        )
        monkeypatch.setattr(
            er,
            "async_entries_for_config_entry",
            _counting(calls, "registry walk", er.async_entries_for_config_entry),
        )
        monkeypatch.setattr(
            ir, "async_delete_issue", _counting(calls, "issue", ir.async_delete_issue)
        )
        devices = LineHub.devices
        monkeypatch.setattr(
            LineHub, "devices", property(_counting(calls, "device walk", devices.fget))
        )
        for _ in range(3):  # the simulated clock stands still: every value is steady
            await full_update()
        assert calls == Counter()

        # counters move: what changed is written, and only that
        line.sim.advance(60)
        later = dt_util.utcnow() + timedelta(minutes=1)
        data.hub.clock = lambda: later  # the guard judges the rise over that minute
        changed: list[str] = []
        stop = hass.bus.async_listen(
            EVENT_STATE_CHANGED, lambda event: changed.append(event.data["entity_id"])
        )
        await data.fast.async_refresh()
        await data.slow.async_refresh()
        await hass.async_block_till_done()
        stop()
        enabled = len(hass.states.async_entity_ids())
        # every write changed a state; steady entities (the exported energy of a consuming
        # site, stage settings, diagnostics) were not written
        assert 0 < calls["write"] == len(changed) < enabled
        assert calls["registry walk"] == 0
        energy = hass.states.get(entity_id(hass, entry, "sdm", "energy_import_total"))
        served = line.sim.values(1)["energy_import_total"]
        assert float(energy.state) == pytest.approx(served, rel=1e-6)

        # the user disables an entity: what is read is worked out again, once
        er.async_get(hass).async_update_entity(
            entity_id(hass, entry, "ana", "voltage_l1"), disabled_by=er.RegistryEntryDisabler.USER
        )
        await hass.async_block_till_done()
        await full_update()
        await full_update()
        assert calls["registry walk"] == 1
        assert "voltage_l1" not in data.hub.wanted(PollGroup.FAST)["ana"]
        await unload(hass, entry)
