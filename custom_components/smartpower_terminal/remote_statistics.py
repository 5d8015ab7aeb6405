"""No hole in the energy dashboard after Home Assistant was down: the hours a remote terminal's
energy counters were not recorded are filled in from the server's history.

The rows go into each counter entity's own statistics (``async_import_statistics``, source
``recorder``), continuing from its last row: the sum grows by each hour's increase, so the
recorder's next compiled hour follows on without a jump. A counter that goes backwards in
the history is skipped there (never a negative hour), as the energy guard does live.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_statistics,
)
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
# Newer releases name each statistic's unit class (absent in 2025.4).
_UNIT_CLASS = "unit_class" in StatisticMetaData.__annotations__


@dataclass(frozen=True, slots=True)
class _Gap:
    entity_id: str
    device_key: str
    key: str
    unit: str | None
    start: datetime
    """The first hour without a row."""
    state: float
    sum: float


def hourly_rows(
    readings: Iterable[Reading], start: datetime, end: datetime, state: float, total: float
) -> list[StatisticData]:
    """One row per hour in ``[start, end)`` that has readings: the hour's last counter value
    and the sum continued from ``state``/``total``."""
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
    for hour in sorted(last_in_hour):
        value = float(last_in_hour[hour].value)  # type: ignore[arg-type]
        if value < state:
            continue  # a counter never goes backwards
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


async def _async_gaps(
    hass: HomeAssistant, entry: SmartPowerConfigEntry, terminal: RemoteTerminal, now_hour: datetime
) -> list[_Gap]:
    """The counters whose statistics stop before the current hour."""
    gaps: list[_Gap] = []
    registry = er.async_get(hass)
    for reg_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        if reg_entry.domain != "sensor" or reg_entry.disabled_by is not None:
            continue
        device_key, key = split_unique_id(reg_entry.unique_id, terminal.device_keys)
        spec = next((s for s in terminal.specs(device_key) if s.key == key), None)
        if spec is None or spec.state_class != "total_increasing":
            continue
        last = await get_instance(hass).async_add_executor_job(
            get_last_statistics, hass, 1, reg_entry.entity_id, False, {"state", "sum"}
        )
        rows = last.get(reg_entry.entity_id)
        if not rows or rows[0].get("state") is None or rows[0].get("sum") is None:
            continue  # nothing to continue from: the recorder starts the statistics itself
        start = dt_util.utc_from_timestamp(rows[0]["start"]) + HOUR
        if start < now_hour:
            gaps.append(
                _Gap(
                    reg_entry.entity_id,
                    device_key,
                    key,
                    spec.unit,
                    start,
                    float(rows[0]["state"]),  # type: ignore[arg-type]
                    float(rows[0]["sum"]),  # type: ignore[arg-type]
                )
            )
    return gaps


async def async_fill_counter_statistics(
    hass: HomeAssistant, entry: SmartPowerConfigEntry, terminal: RemoteTerminal
) -> int:
    """Fill the hours the counters' statistics miss; returns how many rows were imported."""
    # the recorder compiles the hours it missed at its start: those rows come first
    await get_instance(hass).async_block_till_done()
    now_hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    gaps = await _async_gaps(hass, entry, terminal, now_hour)
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
        rows = hourly_rows(own, gap.start, now_hour, gap.state, gap.sum)
        if rows:
            async_import_statistics(hass, statistic_metadata(gap.entity_id, gap.unit), rows)
            imported += len(rows)
    if imported:
        _LOGGER.info("%s: %d hours of energy statistics filled in", entry.title, imported)
    return imported
