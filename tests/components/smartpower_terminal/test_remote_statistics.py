"""After Home Assistant was down, the hours a remote terminal's energy counters missed are
filled in from the server's history, continuing the entity's own statistics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.models import StatisticData
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.const import CONF_TOKEN, CONF_URL, EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.smartpower_terminal.const import CONF_PROTOCOL, DOMAIN
from custom_components.smartpower_terminal.coordinator import entity_unique_id
from custom_components.smartpower_terminal.remote_const import CONF_MODEM_NO, PROTOCOL_REMOTE
from custom_components.smartpower_terminal.remote_statistics import hourly_rows, statistic_metadata
from hardware_bridge import Reading, ServerUnreachable, SmartPowerClient

from .fake_smartpower import MODEM_NO, FakeSmartPower, serve

pytestmark = pytest.mark.usefixtures("socket_enabled")

TOKEN = "spt_statistics"
ENERGY = "sensor.main_meter_imported_energy"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database is prepared before Home Assistant starts."""


async def _filled(hass: HomeAssistant) -> None:
    """Wait for the fills started so far (the live event stream's task runs on)."""
    await hass.async_block_till_done()
    fills = [
        task
        for task in hass._background_tasks
        if task.get_name().startswith(f"{DOMAIN} statistics")
    ]
    await asyncio.gather(*fills)


def _counter(value: float, at: datetime, unit: str = "kWh", device: str = "meter1") -> Reading:
    return Reading(device=device, key="energy_import_total", value=value, unit=unit, time=at)


@pytest.fixture
async def server() -> AsyncIterator[FakeSmartPower]:
    async with serve(FakeSmartPower(tokens={TOKEN})) as fake:
        yield fake


def _entry() -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"SmartPower terminal {MODEM_NO}",
        unique_id=MODEM_NO,
        data={CONF_PROTOCOL: PROTOCOL_REMOTE, CONF_URL: "", CONF_MODEM_NO: MODEM_NO},
    )


async def _hourly(hass: HomeAssistant, start: datetime) -> list[dict[str, Any]]:
    await async_wait_recording_done(hass)
    stats = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, start, None, {ENERGY}, "hour", None, {"state", "sum"}
    )
    return [
        {"start": dt_util.utc_from_timestamp(r["start"]), "state": r["state"], "sum": r["sum"]}
        for r in stats.get(ENERGY, [])
    ]


async def _recorded_until(
    hass: HomeAssistant, server: FakeSmartPower, last: datetime, device: str = "meter1"
) -> MockConfigEntry:
    """An entry whose counter's statistics end with the hour ``last`` (1000 kWh, sum 50)."""
    entry = _entry()
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_URL: server.url, CONF_TOKEN: TOKEN}
    )
    er.async_get(hass).async_get_or_create(
        "sensor",
        DOMAIN,
        entity_unique_id(entry.entry_id, device, "energy_import_total"),
        config_entry=entry,
        suggested_object_id="main_meter_imported_energy",
    )
    async_import_statistics(
        hass,
        statistic_metadata(ENERGY, "kWh"),
        [StatisticData(start=last, state=1000.0, sum=50.0)],
    )
    await async_wait_recording_done(hass)
    return entry


async def test_the_hours_home_assistant_was_down_are_filled_in(
    recorder_mock: Any, hass: HomeAssistant, server: FakeSmartPower
) -> None:
    now_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    last = now_hour - timedelta(hours=4)  # the last hour recorded before the stop
    entry = await _recorded_until(hass, server, last)
    server.history = [
        _counter(999.9, last + timedelta(minutes=30)),  # already counted
        _counter(1001.0, last + timedelta(hours=1, minutes=10)),
        _counter(1002.0, last + timedelta(hours=1, minutes=50)),
        # the hour after: no upload (the terminal's modem was down too)
        _counter(1001.5, last + timedelta(hours=3, minutes=5)),  # backwards: skipped
        _counter(1004.5, last + timedelta(hours=3, minutes=40)),
        _counter(1004.5, last + timedelta(hours=3, minutes=45), unit="Wh"),  # not a kWh
        _counter(1005.0, now_hour + timedelta(minutes=1)),  # the recorder's own hour
    ]
    server.upload(_counter(1005.0, now_hour + timedelta(minutes=1)), live=False)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await _filled(hass)
    rows = await _hourly(hass, last)
    assert rows == [
        {"start": last, "state": 1000.0, "sum": 50.0},
        {"start": last + timedelta(hours=1), "state": 1002.0, "sum": 52.0},
        {"start": last + timedelta(hours=3), "state": 1004.5, "sum": 54.5},
    ]


async def test_hours_the_recorder_compiled_while_home_assistant_was_down_are_rebuilt(
    recorder_mock: Any,
    hass: HomeAssistant,
    server: FakeSmartPower,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At its start the recorder compiles the hours it missed from the last state it knew: no
    increase. Those hours, and the one Home Assistant stopped in, are rebuilt from the
    terminal's readings: each hour holds its own energy, not the hour Home Assistant came
    back in."""
    now = dt_util.utcnow()
    now_hour = now.replace(minute=0, second=0, microsecond=0)
    stop_hour = now_hour - timedelta(hours=3)
    entry = await _recorded_until(hass, server, stop_hour - timedelta(hours=1))
    freezer.move_to(stop_hour + timedelta(minutes=20))  # the counter's last state before the stop
    hass.states.async_set(ENERGY, "1000.0", {"unit_of_measurement": "kWh"})
    await async_wait_recording_done(hass)
    freezer.move_to(now)
    async_import_statistics(
        hass,
        statistic_metadata(ENERGY, "kWh"),
        [  # the stop hour from the states, then the missed hours without increase
            StatisticData(start=stop_hour, state=1000.0, sum=50.0),
            StatisticData(start=stop_hour + timedelta(hours=1), state=1000.0, sum=50.0),
            StatisticData(start=stop_hour + timedelta(hours=2), state=1000.0, sum=50.0),
        ],
    )
    await async_wait_recording_done(hass)
    server.history = [
        _counter(1000.0, stop_hour + timedelta(minutes=20)),
        _counter(1003.0, stop_hour + timedelta(minutes=50)),  # after the stop
        _counter(1010.0, stop_hour + timedelta(hours=1, minutes=40)),
        # the hour after: no reading (the terminal's modem was down too)
        _counter(1012.0, now_hour + timedelta(minutes=1)),  # the recorder's own hour
    ]

    assert await hass.config_entries.async_setup(entry.entry_id)
    await _filled(hass)
    assert await _hourly(hass, stop_hour - timedelta(hours=1)) == [
        {"start": stop_hour - timedelta(hours=1), "state": 1000.0, "sum": 50.0},
        {"start": stop_hour, "state": 1003.0, "sum": 53.0},
        {"start": stop_hour + timedelta(hours=1), "state": 1010.0, "sum": 60.0},
        {"start": stop_hour + timedelta(hours=2), "state": 1010.0, "sum": 60.0},
    ]


async def test_the_fill_waits_until_home_assistant_has_started(
    recorder_mock: Any, hass: HomeAssistant, server: FakeSmartPower
) -> None:
    """The recorder writes nothing while Home Assistant starts: a fill that waited for it
    during start-up held the whole start up (for minutes, until the bootstrap gave up)."""
    now_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    last = now_hour - timedelta(hours=2)
    entry = await _recorded_until(hass, server, last)
    server.history = [_counter(1002.0, last + timedelta(hours=1, minutes=50))]
    hass.set_state(CoreState.starting)
    with patch(
        "custom_components.smartpower_terminal.remote_statistics.get_instance",
        side_effect=AssertionError("the recorder was waited for during start-up"),
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await _filled(hass)
    assert await _hourly(hass, last) == [{"start": last, "state": 1000.0, "sum": 50.0}]

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await _filled(hass)
    assert await _hourly(hass, last) == [
        {"start": last, "state": 1000.0, "sum": 50.0},
        {"start": last + timedelta(hours=1), "state": 1002.0, "sum": 52.0},
    ]


async def test_a_device_whose_key_has_an_underscore_is_filled_in_too(
    recorder_mock: Any, hass: HomeAssistant, server: FakeSmartPower
) -> None:
    """A terminal names its devices as its config does ("main_meter", "io_board")."""
    meter, *others = server.description.devices
    server.description = replace(
        server.description, devices=(replace(meter, key="main_meter"), *others)
    )
    now_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    last = now_hour - timedelta(hours=2)
    entry = await _recorded_until(hass, server, last, device="main_meter")
    server.history = [_counter(1003.0, last + timedelta(hours=1, minutes=20), device="main_meter")]

    assert await hass.config_entries.async_setup(entry.entry_id)
    await _filled(hass)
    rows = await _hourly(hass, last)
    assert rows == [
        {"start": last, "state": 1000.0, "sum": 50.0},
        {"start": last + timedelta(hours=1), "state": 1003.0, "sum": 53.0},
    ]


async def test_a_history_the_server_cannot_give_leaves_the_gap_with_a_warning(
    recorder_mock: Any,
    hass: HomeAssistant,
    server: FakeSmartPower,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    last = now_hour - timedelta(hours=2)
    entry = await _recorded_until(hass, server, last)
    with patch.object(SmartPowerClient, "history", side_effect=ServerUnreachable("timed out")):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await _filled(hass)
    assert await _hourly(hass, last) == [{"start": last, "state": 1000.0, "sum": 50.0}]
    assert "the server's history is not available: timed out" in caplog.text


async def test_nothing_is_imported_without_statistics_to_continue(
    recorder_mock: Any, hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.history = [_counter(1001.0, dt_util.utcnow() - timedelta(hours=3))]
    entry = _entry()
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_URL: server.url, CONF_TOKEN: TOKEN}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await _filled(hass)
    assert await _hourly(hass, dt_util.utcnow() - timedelta(days=1)) == []


def test_hourly_rows_take_each_hours_last_value() -> None:
    start = datetime(2026, 11, 30, 0, tzinfo=UTC)
    rows = hourly_rows(
        [
            _counter(10.5, start + timedelta(minutes=50)),
            _counter(10.2, start + timedelta(minutes=20)),
            Reading(device="meter1", key="energy_import_total", value=True, unit="kWh", time=start),
            _counter(9.0, start + timedelta(hours=1, minutes=5)),  # backwards: no negative hour
            _counter(11.0, start + timedelta(hours=2, minutes=5)),
            _counter(12.0, start + timedelta(hours=3)),  # after the end
        ],
        start,
        start + timedelta(hours=3),
        10.0,
        3.0,
    )
    assert rows == [
        StatisticData(start=start, state=10.5, sum=3.5),
        StatisticData(start=start + timedelta(hours=2), state=11.0, sum=4.0),
    ]
