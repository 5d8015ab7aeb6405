"""Reactive ratios for the billing month: maths, month boundary, restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.smartpower_terminal.const import CONF_INDUCTIVE_LIMIT, DOMAIN
from custom_components.smartpower_terminal.reactive import (
    MonthBaseline,
    ReactiveTracker,
    billing_month,
    compute_ratios,
)
from hardware_bridge.simulators.iec_meter import SimulatedMeter

from .runtime_helpers import (
    entity_id,
    meter_entry,
    meter_line,
    setup_entry,
    unload,
)


@pytest.fixture(autouse=True)
def _runtime(
    hass: HomeAssistant, enable_custom_integrations: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 0.05)
    monkeypatch.setattr("custom_components.smartpower_terminal.METER_REACTION_TIMEOUT", 0.2)


def _counters(active: float, inductive: float, capacitive: float) -> dict[str, Any]:
    return {
        "energy_import_total": active,
        "reactive_inductive_total": inductive,
        "reactive_capacitive_total": capacitive,
    }


def test_ratios_are_reactive_growth_over_active_growth() -> None:
    base = MonthBaseline(month="2025-05", active=1000.0, inductive=200.0, capacitive=50.0)
    ratios = compute_ratios(base, 1100.0, 225.0, 60.0)
    assert (ratios.inductive, ratios.capacitive) == (25.0, 10.0)
    assert compute_ratios(base, 1000.0, 230.0, 50.0).inductive is None  # no active energy yet
    assert billing_month(datetime(2025, 1, 31, 23, 59)) == "2025-01"


async def test_month_boundary_resets_and_a_restart_keeps_the_month_start(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    tz = dt_util.get_default_time_zone()
    tracker = ReactiveTracker(hass, "entry1")
    await tracker.async_load()
    may = datetime(2025, 5, 31, 23, 0, tzinfo=tz)
    assert tracker.update("m", _counters(1000, 200, 50), may).inductive is None
    ratios = tracker.update("m", _counters(1010, 203, 51), may)
    assert (ratios.inductive, ratios.capacitive) == (30.0, 10.0)
    june = datetime(2025, 6, 1, 0, 5, tzinfo=tz)
    ratios = tracker.update("m", _counters(1011, 203.5, 51), june)
    assert ratios.month == "2025-06"
    assert ratios.inductive is None  # a new month starts from the counters seen now
    assert tracker.update("m", _counters(1021, 204.5, 52), june).inductive == 10.0
    assert tracker.update("m", {"energy_import_total": None}, june).inductive == 10.0
    await hass.async_block_till_done()

    # a restart mid-month: the month start comes back from storage
    stored = hass_storage[f"{DOMAIN}.entry1.reactive"]["data"]
    assert stored["m"]["month"] == "2025-06"
    restarted = ReactiveTracker(hass, "entry1")
    await restarted.async_load()
    assert restarted.baseline("m") == tracker.baseline("m")
    assert restarted.update("m", _counters(1031, 205.5, 52), june).inductive == 10.0
    await restarted.async_remove()
    assert f"{DOMAIN}.entry1.reactive" not in hass_storage


async def test_stored_data_of_another_shape_starts_afresh(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[f"{DOMAIN}.e.reactive"] = {
        "version": 1,
        "key": f"{DOMAIN}.e.reactive",
        "data": {"m": {"month": "2025-05", "odd": 1}},
    }
    tracker = ReactiveTracker(hass, "e")
    await tracker.async_load()
    assert tracker.baseline("m") is None


async def test_meter_ratio_entities_across_a_month_boundary_and_the_limit(
    hass: HomeAssistant,
) -> None:
    meter = SimulatedMeter("makel_c520_3p", load_kw=10.0, reactive_kvar=4.0, time_scale=36000.0)
    async with meter_line([meter]) as sim:
        entry = meter_entry(sim.path, [("mk", meter.address)], **{CONF_INDUCTIVE_LIMIT: 20.0})
        await setup_entry(hass, entry)
        data = entry.runtime_data
        inductive = entity_id(hass, entry, "mk", "reactive_inductive_ratio")
        capacitive = entity_id(hass, entry, "mk", "reactive_capacitive_ratio")
        limit = entity_id(hass, entry, "mk", "reactive_limit_exceeded", "binary_sensor")
        assert hass.states.get(inductive).state == "unknown"  # one reading: no consumption yet

        now = [datetime(2026, 12, 31, 20, 0, tzinfo=UTC)]
        data.hub.clock = lambda: now[0]
        await data.slow.async_refresh()  # first reading in December: the month starts here
        assert hass.states.get(inductive).state == "unknown"
        now[0] += timedelta(minutes=30)
        await data.slow.async_refresh()
        await hass.async_block_till_done()
        assert float(hass.states.get(inductive).state) == pytest.approx(40.0, abs=3)
        assert float(hass.states.get(capacitive).state) == pytest.approx(8.0, abs=2)
        state = hass.states.get(limit)
        assert state.state == "on"
        assert state.attributes["inductive_limit"] == 20.0
        assert state.attributes["capacitive_limit"] == 15.0
        assert state.attributes["billing_month"] == "2026-12"

        now[0] = datetime(2026, 12, 31, 23, 59, tzinfo=dt_util.get_default_time_zone())
        now[0] += timedelta(minutes=2)  # past midnight, local time
        await data.slow.async_refresh()
        assert hass.states.get(limit).state == "unknown"
        assert data.reactive.baseline("mk").month == "2027-01"
        await unload(hass, entry)


async def test_analyzers_with_reactive_import_and_export_get_ratios(hass: HomeAssistant) -> None:
    tracker = ReactiveTracker(hass, "entry2")
    may = datetime(2025, 5, 2, tzinfo=UTC)
    counters = {"energy_import_total": 100.0, "reactive_import_total": 10.0}
    assert tracker.update("sdm", counters, may) is None  # no capacitive side: no ratio
    counters["reactive_export_total"] = 1.0
    tracker.update("sdm", counters, may)
    ratios = tracker.update(
        "sdm",
        {"energy_import_total": 200.0, "reactive_import_total": 40.0, "reactive_export_total": 6.0},
        may,
    )
    assert (ratios.inductive, ratios.capacitive) == (30.0, 5.0)
    await hass.async_block_till_done()
