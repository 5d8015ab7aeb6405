"""No hole in the energy dashboard after Home Assistant was down: the hours a remote terminal's
energy counters were not seen whole are rebuilt from the server's history.

At its start the recorder compiles the hours it missed from the last state it knew: rows with
no increase, and the whole downtime's energy would land in the hour Home Assistant came back.
So every hour from the one in which Home Assistant last recorded the counter (the hour it
stopped in) up to the current one is rebuilt: its row holds the counter's last reading of that
hour, and the sum continues from the row before. The rows go into each counter entity's own
statistics (``async_import_statistics``, source ``recorder``), replacing those rows, so the
recorder's next compiled hour follows on without a jump. A counter that goes backwards in the
history is skipped there (never a negative hour), as the energy guard does live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.history import state_changes_during_period
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.components.recorder.tasks import RecorderTask
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from hardware_bridge import Reading, SmartPowerError

from .coordinator import split_unique_id
from .data import SmartPowerConfigEntry
from .remote_terminal import RemoteTerminal

__all__ = ["async_fill_counter_statistics", "hourly_rows", "statistic_metadata"]

_LOGGER = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
HISTORY_PAGE = 1000
LOOKBACK = timedelta(days=7)
"""How far back a counter's last state and rows are looked for: a longer downtime is filled
from its last week only."""
# Newer releases name each statistic's unit class (absent in 2025.4).
_UNIT_CLASS = "unit_class" in StatisticMetaData.__annotations__


@dataclass(frozen=True, slots=True)
class _Gap:
    entity_id: str
    device_key: str
    key: str
    unit: str | None
    start: datetime
    """The first hour to rebuild."""
    state: float
    sum: float
    """The row before ``start``: the sums continue from it."""
    rows: frozenset[datetime]
    """Hours from ``start`` on that have a row: each gets one again, if only carried over."""


def hourly_rows(
    readings: Iterable[Reading],
    start: datetime,
    end: datetime,
    state: float,
    total: float,
    keep: Iterable[datetime] = (),
) -> list[StatisticData]:
    """One row per hour in ``[start, end)`` that has readings: the hour's last counter value
    and the sum continued from ``state``/``total``; the hours in ``keep`` get a row even
    without a reading (the state carried over), so no later row is left with an older sum."""
    last_in_hour: dict[datetime, Reading] = {}
    for reading in readings:
        if not start <= reading.time < end:
            continue
        value = reading.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        hour = reading.time.replace(minute=0, second=0, microsecond=0)
        kept = last_in_hour.get(hour)
        if kept is None or reading.time >= kept.time:
            last_in_hour[hour] = reading
    rows: list[StatisticData] = []
    kept = {hour for hour in keep if start <= hour < end}
    for hour in sorted(last_in_hour.keys() | kept):
        reading = last_in_hour.get(hour)
        value = state if reading is None else float(reading.value)  # type: ignore[arg-type]
        if value < state:
            if hour not in kept:
                continue  # a counter never goes backwards
            value = state
        total += value - state
        state = value
        rows.append(StatisticData(start=hour, state=state, sum=total))
    return rows


def statistic_metadata(entity_id: str, unit: str | None) -> StatisticMetaData:
    """An energy counter entity's own statistics (source recorder), on every release."""
    meta: StatisticMetaData = {
        "mean_type": StatisticMeanType.NONE,
        "has_sum": True,
        "name": None,
        "source": "recorder",
        "statistic_id": entity_id,
        "unit_of_measurement": unit,
    }
    if _UNIT_CLASS:  # newer Home Assistant releases
        known = unit in EnergyConverter.VALID_UNITS
        meta["unit_class"] = EnergyConverter.UNIT_CLASS if known else None  # type: ignore[typeddict-unknown-key]
    return meta


@dataclass(slots=True)
class _Barrier(RecorderTask):
    """Done once the recorder has run every task queued before it."""

    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]

    def run(self, instance: Recorder) -> None:
        self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _async_missed_hours_compiled(hass: HomeAssistant) -> None:
    """Wait until the recorder has compiled the hours it missed: it queues that compile when
    it gets ready, and those rows must come first. (Its ``async_block_till_done`` does not
    wait for a task it is already running: the queue is empty then.)"""
    recorder = get_instance(hass)
    await recorder.async_recorder_ready.wait()
    done: asyncio.Future[None] = hass.loop.create_future()
    recorder.queue_task(_Barrier(hass.loop, done))
    await done


def _last_recorded(hass: HomeAssistant, entity_id: str, before: datetime) -> datetime | None:
    """When the recorder last wrote the entity's state before ``before`` (this run's start)."""
    found = state_changes_during_period(
        hass,
        before - LOOKBACK,
        before,
        entity_id,
        no_attributes=True,
        descending=True,
        limit=1,
        include_start_time_state=False,
    ).get(entity_id)
    return found[0].last_updated if found else None


def _hourly(hass: HomeAssistant, entity_id: str, start: datetime, end: datetime) -> list[Any]:
    return statistics_during_period(
        hass, start, end, {entity_id}, "hour", None, {"state", "sum"}
    ).get(entity_id, [])


async def _async_gap(
    hass: HomeAssistant, entity_id: str, seen_until: datetime, now_hour: datetime
) -> tuple[datetime, float, float, frozenset[datetime]] | None:
    """The hours of one counter to rebuild: from the hour its state was last recorded before
    ``seen_until`` (or after its last row) to the current hour; None when there are none."""
    recorder = get_instance(hass)
    rows = [
        row
        for row in await recorder.async_add_executor_job(
            _hourly, hass, entity_id, seen_until - LOOKBACK, now_hour
        )
        if row.get("state") is not None and row.get("sum") is not None
    ]
    if not rows:
        return None  # nothing to continue from: the recorder starts the statistics itself
    last_seen = await recorder.async_add_executor_job(_last_recorded, hass, entity_id, seen_until)
    first = dt_util.utc_from_timestamp(rows[-1]["start"]) + HOUR
    if last_seen is not None:
        first = min(first, last_seen.replace(minute=0, second=0, microsecond=0))
    before = [row for row in rows if dt_util.utc_from_timestamp(row["start"]) < first]
    if not before:  # no row before the first hour to rebuild: continue from the first one
        before = rows[:1]
        first = dt_util.utc_from_timestamp(rows[0]["start"]) + HOUR
    if first >= now_hour:
        return None
    hours = frozenset(
        start for row in rows if (start := dt_util.utc_from_timestamp(row["start"])) >= first
    )
    return first, float(before[-1]["state"]), float(before[-1]["sum"]), hours


async def _async_gaps(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    terminal: RemoteTerminal,
    seen_until: datetime,
    now_hour: datetime,
) -> list[_Gap]:
    """The counters whose statistics miss hours before the current one."""
    gaps: list[_Gap] = []
    registry = er.async_get(hass)
    for reg_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        if reg_entry.domain != "sensor" or reg_entry.disabled_by is not None:
            continue
        device_key, key = split_unique_id(reg_entry.unique_id, terminal.device_keys)
        spec = next((s for s in terminal.specs(device_key) if s.key == key), None)
        if spec is None or spec.state_class != "total_increasing":
            continue
        found = await _async_gap(hass, reg_entry.entity_id, seen_until, now_hour)
        if found is not None:
            start, state, total, hours = found
            gaps.append(
                _Gap(reg_entry.entity_id, device_key, key, spec.unit, start, state, total, hours)
            )
    return gaps


async def async_fill_counter_statistics(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    terminal: RemoteTerminal,
    seen_until: datetime,
) -> int:
    """Rebuild the hours the counters were not seen whole before ``seen_until`` (when this
    run's entities came up); returns how many rows were imported."""
    await _async_missed_hours_compiled(hass)
    now_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    gaps = await _async_gaps(hass, entry, terminal, seen_until, now_hour)
    _LOGGER.debug(
        "%s: energy statistics to rebuild: %s",
        entry.title,
        ", ".join(f"{g.entity_id} from {g.start.isoformat()}" for g in gaps) or "none",
    )
    if not gaps:
        return 0
    wanted = {(g.device_key, g.key) for g in gaps}
    readings: dict[tuple[str, str], list[Reading]] = {}
    cursor: str | None = None
    start = min(g.start for g in gaps)
    try:
        while True:
            page = await terminal.client.history(
                terminal.modem_no, start, now_hour, cursor=cursor, limit=HISTORY_PAGE
            )
            for reading in page.readings:
                if (reading.device, reading.key) in wanted:
                    readings.setdefault((reading.device, reading.key), []).append(reading)
            if (cursor := page.next) is None:
                break
    except SmartPowerError as err:
        _LOGGER.warning(
            "%s: the energy statistics of the hours Home Assistant was down are not filled "
            "in, the server's history is not available: %s",
            entry.title,
            err,
        )
        return 0
    imported = 0
    for gap in gaps:
        own = [
            r
            for r in readings.get((gap.device_key, gap.key), [])
            if r.unit is None or gap.unit is None or r.unit == gap.unit
        ]
        rows = hourly_rows(own, gap.start, now_hour, gap.state, gap.sum, gap.rows)
        if rows:
            async_import_statistics(hass, statistic_metadata(gap.entity_id, gap.unit), rows)
            imported += len(rows)
    if imported:
        _LOGGER.info("%s: %d hours of energy statistics rebuilt", entry.title, imported)
    return imported
