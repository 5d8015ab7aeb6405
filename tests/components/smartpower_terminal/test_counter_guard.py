"""Energy counters over hours of polls: shown values follow the device, never go back, and
never freeze — not even when a counter rises faster than the guard assumes."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util

from custom_components.smartpower_terminal import coordinator as coordinator_module
from custom_components.smartpower_terminal.guard import CONFIRMING_READINGS, CounterGuard
from hardware_bridge import PollGroup

from .runtime_helpers import (
    CATALOGUE,
    entity_id,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)

FAST = timedelta(minutes=1)
SLOW_EVERY = 15  # fast polls per slow poll: counters every 15 minutes
HOURS = 6


def _import_rate_kw() -> float:
    """How fast the simulated analyser's import counter rises (kWh per hour)."""
    from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

    sim = ModbusLineSimulator(
        [SimulatedDevice(device_id=1, profile=CATALOGUE.get("eastron_sdm630"))]
    )
    start = float(sim.values(1)["energy_import_total"])
    sim.advance(3600)
    return float(sim.values(1)["energy_import_total"]) - start


@pytest.mark.parametrize(
    ("assumed_share", "polls_to_converge"),
    [
        pytest.param(1.0, 0, id="plausible"),
        # the guard assumes a fifth of the real rate: a wrong max-power assumption
        pytest.param(0.2, CONFIRMING_READINGS, id="faster_than_assumed"),
    ],
)
async def test_counters_follow_the_device_over_hours(
    hass: HomeAssistant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    assumed_share: float,
    polls_to_converge: int,
) -> None:
    # every poll must be answered: a busy machine must not make a device miss one
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 2.0)
    monkeypatch.setattr("custom_components.smartpower_terminal.METER_REACTION_TIMEOUT", 2.0)
    monkeypatch.setattr(
        coordinator_module,
        "CounterGuard",
        functools.partial(CounterGuard, max_power_kw=_import_rate_kw() * assumed_share),
    )
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        now = dt_util.utcnow()
        with monkeypatch.context() as patched:
            patched.setattr(dt_util, "utcnow", lambda: now)
            await setup_entry(hass, entry)
        data = entry.runtime_data
        data.hub.clock = lambda: now
        registry = er.async_get(hass)
        counters = {
            split[1]: reg.entity_id
            for reg in er.async_entries_for_config_entry(registry, entry.entry_id)
            if reg.disabled_by is None
            and (reg.capabilities or {}).get("state_class") == "total_increasing"
            and (split := coordinator_module.split_unique_id(reg.unique_id))
        }
        assert {"energy_import_total", "energy_export_total"} <= counters.keys()

        went_back: list[str] = []

        def watch(event: Event[EventStateChangedData]) -> None:
            old, new = event.data["old_state"], event.data["new_state"]
            try:
                if float(new.state) < float(old.state):
                    went_back.append(f"{new.entity_id}: {old.state} -> {new.state}")
            except (AttributeError, TypeError, ValueError):
                pass

        async_track_state_change_event(hass, list(counters.values()), watch)

        slow_polls = 0
        behind: list[str] = []
        with caplog.at_level(logging.INFO):
            for step in range(1, HOURS * 60 + 1):
                now += FAST
                line.sim.advance(FAST.total_seconds())
                await data.fast.async_refresh()
                if step % SLOW_EVERY == 0:
                    # the slow poll right after a fast one: no time between them
                    await data.slow.async_refresh()
                    slow_polls += 1
                await hass.async_block_till_done()
                if step % SLOW_EVERY or slow_polls <= polls_to_converge:
                    continue
                served = line.sim.values(1)
                for key, counter in counters.items():
                    shown = float(hass.states.get(counter).state)
                    if shown != pytest.approx(float(served[key]), rel=1e-6):
                        behind.append(f"{step} min {key}: shown {shown}, device {served[key]}")
        assert slow_polls == HOURS * 60 // SLOW_EVERY
        assert not went_back
        assert not behind, behind[:5]
        assert data.hub.values("sdm")["energy_import_total"] == pytest.approx(
            float(line.sim.values(1)["energy_import_total"]), rel=1e-6
        )
        # an episode is logged once per counter, not once per poll
        for key in counters:
            ignoring = [r for r in caplog.records if f"{key}: ignoring" in r.getMessage()]
            assert len(ignoring) <= 1, key
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        if polls_to_converge == 0:
            assert not [r for r in warnings if r.name.endswith("guard")]
        else:
            # once per counter that rises faster than assumed (the simulated site consumes:
            # its import counter does, its export counter barely moves)
            raised = [r.getMessage() for r in warnings if "assumed" in r.getMessage()]
            raised_keys = [k for m in raised for k in counters if f" {k}:" in m]
            assert len(raised_keys) == len(set(raised_keys)) == len(raised)
            assert "energy_import_total" in raised_keys
            assert "eastron_sdm630 @ 1 energy_import_total" in caplog.text  # device name
        await unload(hass, entry)


START = datetime(2026, 1, 1, tzinfo=dt_util.UTC)


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_a_one_off_misread_is_never_shown() -> None:
    guard = CounterGuard(max_power_kw=100)
    assert guard.check("d", "e", 1000.0, "kWh", _at(0)) == 1000.0
    assert guard.check("d", "e", 91000.0, "kWh", _at(15)) == 1000.0  # a garbled digit
    assert guard.check("d", "e", 1010.0, "kWh", _at(30)) == 1010.0  # back on track
    assert guard.check("d", "e", 1020.0, "kWh", _at(45)) == 1020.0
    # a half-updated register read twice, but lower the second time: still a misread
    assert guard.check("d", "e", 70000.0, "kWh", _at(60)) == 1020.0
    assert guard.check("d", "e", 69000.0, "kWh", _at(75)) == 1020.0
    assert guard.check("d", "e", 1040.0, "kWh", _at(90)) == 1040.0
    assert guard.rejected == 3


def test_a_confirmed_step_is_accepted_without_raising_the_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = CounterGuard(max_power_kw=100)
    guard.check("d", "e", 1000.0, "kWh", _at(0))
    with caplog.at_level(logging.INFO):
        assert guard.check("d", "e", 5000.0, "kWh", _at(15)) == 1000.0
        assert guard.check("d", "e", 5010.0, "kWh", _at(30)) == 5010.0  # the device insists
    assert "a step, not a misread" in caplog.text
    assert guard.max_power_kw == 100
    # the plausible rate was not raised: the next leap is held back again
    assert guard.check("d", "e", 9000.0, "kWh", _at(45)) == 5010.0


def test_decreases_are_held_back_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    guard = CounterGuard(max_power_kw=100)
    guard.seed("d", "e", 1000.0, _at(0))
    guard.seed("d", "e", 5.0, _at(0))  # a seed never replaces what is known
    assert guard.last_accepted("d", "e") == 1000.0
    assert guard.last_accepted("d", "other") is None
    with caplog.at_level(logging.WARNING):
        for minute in (15, 30, 45):
            assert guard.check("d", "e", 990.0, "kWh", _at(minute)) == 1000.0
    assert caplog.text.count("ignoring reading") == 1
    assert guard.check("d", "e", 1001.0, "kWh", _at(60)) == 1001.0


def test_wh_counters_allow_a_thousand_times_the_number() -> None:
    guard = CounterGuard(max_power_kw=100)
    assert guard.check("d", "w", 0.0, "Wh", _at(0)) == 0.0
    assert guard.check("d", "w", 150_000.0, "Wh", _at(60)) == 150_000.0
    # two readings at the same instant that disagree: no rate to learn from
    assert guard.check("d", "w", 10_000_000.0, "Wh", _at(60)) == 150_000.0
    assert guard.check("d", "w", 10_000_001.0, "Wh", _at(60)) == 10_000_001.0
    assert guard.max_power_kw == 100


async def test_a_counter_read_by_the_other_poll_group_is_shown_at_once(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal that reports every value as fresh (a remote one sends all it has): a fast
    poll that brings a new counter reading updates the counter's (slow) entity too."""
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 2.0)
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        data = entry.runtime_data
        terminal = data.hub.terminal
        poll = terminal.poll

        async def poll_all(group: PollGroup, wanted: Any) -> dict[str, Any]:
            snapshots = await poll(None, None)  # every value of every device
            return {k: replace(s, read_keys=None) for k, s in snapshots.items()}

        monkeypatch.setattr(terminal, "poll", poll_all)
        later = dt_util.utcnow() + timedelta(minutes=15)
        data.hub.clock = lambda: later
        line.sim.advance(900)
        await data.fast.async_refresh()
        await hass.async_block_till_done()
        energy = hass.states.get(entity_id(hass, entry, "sdm", "energy_import_total"))
        served = float(line.sim.values(1)["energy_import_total"])
        assert float(energy.state) == pytest.approx(served, rel=1e-6)
        await unload(hass, entry)
