"""Where the month's reactive ratios are heading, the penalty risk, and what it costs to store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.smartpower_terminal.reactive import (
    PROJECTION_METHOD,
    ReactiveTracker,
    _ReactiveStore,
)
from hardware_bridge.simulators.iec_meter import SimulatedMeter

from .runtime_helpers import (
    entity_id,
    meter_entry,
    meter_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)


class Site:
    """A consumer over a month: busy days, quiet nights; its compensation fails at ``broken``.

    Before that the inductive share is 10 %, after it 60 %; capacitive 2 % throughout.
    """

    def __init__(self, broken: datetime) -> None:
        self.broken = broken
        self.counters = [50_000.0, 6_000.0, 900.0]

    def step(self, start: datetime, hours: int = 1) -> None:
        for h in range(hours):
            now = start + timedelta(hours=h)
            kw = 10.0 if 8 <= now.hour < 18 else 2.0
            inductive = 0.6 if now >= self.broken else 0.1
            self.counters[0] += kw
            self.counters[1] += kw * inductive
            self.counters[2] += kw * 0.02

    def values(self) -> dict[str, Any]:
        active, inductive, capacitive = self.counters
        return {
            "energy_import_total": active,
            "reactive_inductive_total": inductive,
            "reactive_capacitive_total": capacitive,
        }


async def test_projection_over_a_simulated_month(hass: HomeAssistant) -> None:
    tz = dt_util.get_default_time_zone()
    month_start, month_end = datetime(2025, 6, 1, tzinfo=tz), datetime(2025, 7, 1, tzinfo=tz)
    broken = datetime(2025, 6, 15, 12, 0, tzinfo=tz)
    site = Site(broken)
    tracker = ReactiveTracker(hass, "month")
    now = month_start
    seen: dict[datetime, Any] = {}
    while now <= month_end:
        seen[now] = tracker.update("m", site.values(), now)
        site.step(now)
        now += timedelta(hours=1)

    # the first day: ratios from the first hour on, no projection before a day of readings
    assert seen[month_start + timedelta(hours=1)].inductive == pytest.approx(10.0)
    assert all(seen[month_start + timedelta(hours=h)].projection is None for h in range(24))
    day_two = seen[month_start + timedelta(hours=24)].projection
    assert day_two is not None
    assert (day_two.inductive, day_two.capacitive) == (pytest.approx(10.0), pytest.approx(2.0))
    assert day_two.window_hours == 24.0
    assert day_two.month_end == month_end

    # a day after the compensation broke: the month so far still looks fine (and an
    # extrapolation of the month-to-date rates would say so too), the projection does not
    warned = broken + timedelta(hours=24)
    so_far, projection = seen[warned], seen[warned].projection
    assert so_far.inductive < 20.0
    assert projection is not None
    assert projection.inductive > 20.0
    # …and it is what the month then really ends at, if nothing is done
    final = seen[month_end - timedelta(hours=1)]
    assert projection.inductive == pytest.approx(final.inductive, abs=1.0)
    assert final.inductive > 20.0
    # in the last hour little is left to happen: projection ≈ the ratio so far
    assert final.projection.inductive == pytest.approx(final.inductive, abs=0.5)

    # a new month: the ratio starts again, the projection carries on from the recent rates
    july = seen[month_end]
    assert july.month == "2025-07"
    assert july.inductive is None
    assert july.projection.inductive == pytest.approx(60.0)
    await hass.async_block_till_done()


async def test_projection_starts_again_when_the_counters_go_back(hass: HomeAssistant) -> None:
    tz = dt_util.get_default_time_zone()
    tracker = ReactiveTracker(hass, "swap")
    site = Site(datetime(2030, 1, 1, tzinfo=tz))
    now = datetime(2025, 6, 1, tzinfo=tz)
    for _ in range(30):
        tracker.update("m", site.values(), now)
        site.step(now)
        now += timedelta(hours=1)
    assert tracker.ratios("m").projection is not None
    site.counters = [10.0, 1.0, 0.1]  # the meter was replaced
    assert tracker.update("m", site.values(), now).projection is None
    await hass.async_block_till_done()


async def test_penalty_risk_and_projection_entities(hass: HomeAssistant) -> None:
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
        entry = meter_entry(sim.path, [("mk", meter.address)])
        await setup_entry(hass, entry)
        data = entry.runtime_data
        risk = entity_id(hass, entry, "mk", "reactive_penalty_risk", "binary_sensor")
        projected = entity_id(hass, entry, "mk", "reactive_inductive_projection")
        assert hass.states.get(risk).state == "unknown"  # no day of readings yet
        assert hass.states.get(projected).state == "unknown"

        now = [dt_util.utcnow() + timedelta(hours=25)]
        data.hub.clock = lambda: now[0]
        await data.slow.async_refresh()
        await hass.async_block_till_done()
        # the meter's counters grew 4 kvarh per 10 kWh: 40 % > the 20 % limit
        state = hass.states.get(risk)
        assert state.state == "on"
        assert state.attributes["device_class"] == "problem"
        assert state.attributes["projected_inductive"] == pytest.approx(40.0, abs=3)
        assert state.attributes["projection_method"] == PROJECTION_METHOD
        assert state.attributes["rate_window_hours"] == pytest.approx(25.0, abs=0.1)
        assert state.attributes["inductive_limit"] == 20.0
        sensor = hass.states.get(projected)
        assert float(sensor.state) == pytest.approx(40.0, abs=3)
        assert sensor.attributes["unit_of_measurement"] == "%"
        assert sensor.attributes["projection_method"] == PROJECTION_METHOD
        assert sensor.attributes["month_end"] is not None
        capacitive = hass.states.get(entity_id(hass, entry, "mk", "reactive_capacitive_projection"))
        assert float(capacitive.state) == pytest.approx(8.0, abs=2)
        await unload(hass, entry)


async def test_a_line_starting_a_month_writes_its_store_once(
    hass: HomeAssistant, hass_storage: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """247 devices read for the first time in a month: one write, not one per device."""
    writes: list[dict[str, Any]] = []
    original = _ReactiveStore._async_write_data

    async def counted(self: _ReactiveStore, *args: Any) -> None:
        # (path, data) up to Home Assistant 2025.x, (data) from 2026
        writes.append(args[-1])
        await original(self, *args)

    monkeypatch.setattr(_ReactiveStore, "_async_write_data", counted)
    tracker = ReactiveTracker(hass, "big")
    await tracker.async_load()
    now = datetime(2025, 6, 1, 0, 5, tzinfo=UTC)
    counters = {
        "energy_import_total": 100.0,
        "reactive_inductive_total": 10.0,
        "reactive_capacitive_total": 1.0,
    }
    for device in range(1, 248):
        tracker.update(f"dev{device}", counters, now)
    await hass.async_block_till_done()
    assert writes == []  # delayed: a burst of changes is written together
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert len(writes) == 1
    assert len(hass_storage["smartpower_terminal.big.reactive"]["data"]["baselines"]) == 247

    # the rest of the hour: nothing changes, nothing is written
    for minute in (15, 30, 45):
        for device in range(1, 248):
            tracker.update(f"dev{device}", counters, now.replace(minute=minute))
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert len(writes) == 1
