"""Reactive ratios for the billing month: maths, month boundary, restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.smartpower_terminal.const import CONF_INDUCTIVE_LIMIT, DOMAIN
from custom_components.smartpower_terminal.reactive import (
    SOURCE_FIRST_READING,
    SOURCE_METER,
    MonthBaseline,
    ReactiveTracker,
    billing_month,
    compute_ratios,
)
from hardware_bridge import BillingPeriod
from hardware_bridge.simulators.iec_meter import SimulatedMeter, shipped_telegrams

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
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)  # written at the latest at stop
    await hass.async_block_till_done()

    # a restart mid-month: the month start comes back from storage
    stored = hass_storage[f"{DOMAIN}.entry1.reactive"]["data"]
    assert stored["baselines"]["m"]["month"] == "2025-06"
    assert stored["baselines"]["m"]["source"] == SOURCE_FIRST_READING
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


async def test_month_start_of_an_older_version_survives_the_upgrade(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[f"{DOMAIN}.e.reactive"] = {
        "version": 1,
        "key": f"{DOMAIN}.e.reactive",
        "data": {"m": {"month": "2025-05", "active": 10.0, "inductive": 2.0, "capacitive": 1.0}},
    }
    tracker = ReactiveTracker(hass, "e")
    await tracker.async_load()
    assert tracker.baseline("m") == MonthBaseline(
        month="2025-05", active=10.0, inductive=2.0, capacitive=1.0
    )
    may = datetime(2025, 5, 20, tzinfo=dt_util.get_default_time_zone())
    assert tracker.update("m", _counters(20, 3, 1.5), may).inductive == 10.0
    await hass.async_block_till_done()


# -- month start from the meter's own billing periods ----------------------------------------
def _period(
    n: int, reset: datetime | None, active: float, inductive: float, capacitive: float
) -> BillingPeriod:
    return BillingPeriod(period=n, reset=reset, values=_counters(active, inductive, capacitive))


async def test_meter_billing_period_gives_the_ratio_from_the_first_readout(
    hass: HomeAssistant,
) -> None:
    """The Makel sample (tests/bridge/iec62056/samples/tr_makel_c520_techviewer.txt): read on
    2023-06-14, 0.1.2*1(23-06-01,00:00), 1.8.0 70.677 / *1 41.396, 5.8.0 14.642 / *1 6.650,
    8.8.0 62.419 / *1 47.817."""
    meter_zone = datetime.now().astimezone().tzinfo  # the bridge reads meter stamps in its zone
    history = (
        _period(1, datetime(2023, 6, 1, 0, 0, tzinfo=meter_zone), 41.396, 6.650, 47.817),
        _period(2, datetime(2023, 5, 1, 0, 0, tzinfo=meter_zone), 19.608, 0.0, 37.333),
    )
    tracker = ReactiveTracker(hass, "m1")
    local_now = datetime(2023, 6, 14, 16, 55, tzinfo=dt_util.get_default_time_zone())
    ratios = tracker.update("mk", _counters(70.677, 14.642, 62.419), local_now, history)
    assert ratios.month == "2023-06"
    assert ratios.inductive == pytest.approx(100 * 7.992 / 29.281, abs=0.01)  # 27.29 %
    assert ratios.capacitive == pytest.approx(100 * 14.602 / 29.281, abs=0.01)  # 49.87 %
    baseline = tracker.baseline("mk")
    assert (baseline.source, baseline.period) == (SOURCE_METER, 1)
    assert baseline.since.startswith("2023-06-01T00:00:00")

    # a short readout (no history) later in the month keeps the meter's month start
    later = local_now + timedelta(hours=5)
    ratios = tracker.update("mk", _counters(80.677, 15.642, 62.419), later)
    assert ratios.inductive == pytest.approx(100 * 8.992 / 39.281, abs=0.01)
    assert tracker.baseline("mk").source == SOURCE_METER
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("reset", "why"),
    [
        (datetime(2023, 5, 1, 0, 0), "the meter has not closed May yet"),
        (datetime(2023, 6, 5, 10, 30), "a demand-reset button pressed mid-month"),
        (datetime(2023, 6, 1, 3, 0), "not the start of the calendar month"),
        (None, "the meter did not say when"),
    ],
)
async def test_billing_period_not_starting_this_month_is_not_used(
    hass: HomeAssistant, reset: datetime | None, why: str
) -> None:
    tracker = ReactiveTracker(hass, "m2")
    zone = dt_util.get_default_time_zone()
    history = (_period(1, reset.replace(tzinfo=zone) if reset else None, 41.4, 6.65, 47.8),)
    local_now = datetime(2023, 6, 14, 12, 0, tzinfo=zone)
    ratios = tracker.update("mk", _counters(70.677, 14.642, 62.419), local_now, history)
    assert ratios.inductive is None, why  # from the first reading on: nothing consumed yet
    assert tracker.baseline("mk").source == SOURCE_FIRST_READING
    await hass.async_block_till_done()


async def test_meter_period_replaces_the_first_reading_once_the_meter_rolls_over(
    hass: HomeAssistant,
) -> None:
    """Read at 00:03 on the 1st with the meter's clock a few minutes behind: its rollover is
    still to come, so the month starts at the first reading; the next readout has the meter's
    own month start, which wins."""
    zone = dt_util.get_default_time_zone()
    tracker = ReactiveTracker(hass, "m3")
    may_start = _period(1, datetime(2023, 5, 1, tzinfo=zone), 10.0, 1.0, 0.5)
    first = datetime(2023, 6, 1, 0, 3, tzinfo=zone)
    assert tracker.update("mk", _counters(41.5, 6.7, 47.9), first, (may_start,)).inductive is None
    june_start = _period(1, datetime(2023, 6, 1, 0, 0, tzinfo=zone), 41.4, 6.65, 47.8)
    ratios = tracker.update(
        "mk", _counters(42.4, 6.8, 47.9), first + timedelta(minutes=15), (june_start, may_start)
    )
    assert ratios.inductive == pytest.approx(15.0)
    assert tracker.baseline("mk").source == SOURCE_METER
    await hass.async_block_till_done()


async def test_billing_period_above_the_current_counters_is_not_this_meters_past(
    hass: HomeAssistant,
) -> None:
    zone = dt_util.get_default_time_zone()
    tracker = ReactiveTracker(hass, "m4")
    replaced = _period(1, datetime(2023, 6, 1, tzinfo=zone), 9000.0, 6.65, 47.8)
    local_now = datetime(2023, 6, 14, tzinfo=zone)
    assert (
        tracker.update("mk", _counters(70.0, 14.6, 62.4), local_now, (replaced,)).inductive is None
    )
    await hass.async_block_till_done()


async def test_meter_ratio_entities_across_a_month_boundary_and_the_limit(
    hass: HomeAssistant,
) -> None:
    # the meter's clock is years away from Home Assistant's: its billing periods are not this
    # month's, so the month starts at the first reading (the meter-sourced start: test_reactive.py)
    meter = SimulatedMeter(
        "makel_c520_3p",
        load_kw=10.0,
        reactive_kvar=4.0,
        time_scale=36000.0,
        start=datetime(2023, 6, 14, 12, 0),
    )
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


async def test_meter_ratio_is_known_from_the_first_readout_and_says_where_from(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A meter whose last billing period closed at the start of this month: the ratios and
    the limit are known as soon as Home Assistant has read it once."""
    month_start = dt_util.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    before = (month_start - timedelta(days=1)).replace(day=1)
    shipped = shipped_telegrams()["makel_c520_3p"].read_text(encoding="utf-8")
    telegram = tmp_path / "makel_this_month.txt"
    telegram.write_text(
        shipped.replace(
            "0.1.2*1(23-06-01,00:00)", month_start.strftime("0.1.2*1(%y-%m-%d,00:00)")
        ).replace("0.1.2*2(23-05-01,00:00)", before.strftime("0.1.2*2(%y-%m-%d,00:00)")),
        encoding="utf-8",
    )
    meter = SimulatedMeter(telegram, load_kw=0.0, reactive_kvar=0.0)
    async with meter_line([meter]) as sim:
        entry = meter_entry(sim.path, [("mk", meter.address)])
        await setup_entry(hass, entry)
        inductive = hass.states.get(entity_id(hass, entry, "mk", "reactive_inductive_ratio"))
        capacitive = hass.states.get(entity_id(hass, entry, "mk", "reactive_capacitive_ratio"))
        limit = entity_id(hass, entry, "mk", "reactive_limit_exceeded", "binary_sensor")
        # Δ5.8.0 / Δ1.8.0 = (14.642 − 6.650) / (70.677 − 41.396); Δ8.8.0: 62.419 − 47.817
        assert float(inductive.state) == pytest.approx(27.29, abs=0.01)
        assert float(capacitive.state) == pytest.approx(49.87, abs=0.01)
        assert hass.states.get(limit).state == "on"
        assert hass.states.get(limit).attributes["month_start_source"] == SOURCE_METER
        assert inductive.attributes["month_start_source"] == SOURCE_METER
        assert inductive.attributes["month_start_period"] == 1
        assert inductive.attributes["month_start_since"].startswith(
            month_start.strftime("%Y-%m-%dT00:00:00")
        )
        assert inductive.attributes["billing_month"] == month_start.strftime("%Y-%m")
        await unload(hass, entry)
