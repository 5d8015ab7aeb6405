"""Reactive energy ratios for the billing month (Turkish tariff rules), and where they head.

Distribution companies penalise a subscriber whose reactive energy in a billing period (a
calendar month) exceeds a share of the active energy: inductive (5.8.0) and capacitive (8.8.0)
kvarh divided by active kWh (1.8.0) consumed in the same month. Devices only give running
totals, so the ratios come from the growth since the month started. The month-start counters
come, best first, from:

* the meter itself: a Turkish meter copies its counters into ``X*1`` when it closes a billing
  period and stamps the reset in ``0.1.2*1`` (TEDAŞ-MLZ/2017-062.B clause 102). When that reset
  is the start of this calendar month (the 1st, 00:00), ``X*1`` are this month's start values
  and the ratio is known from the first readout. A reset at another time (a demand-reset
  button pressed mid-month) is not a calendar month's start and is not used;
* the first reading Home Assistant saw this month (persisted, so a restart keeps it).

The month-end projection assumes the last 24 hours' rates continue: with ``ΔX`` the month so
far and ``r_X`` the rate over the last 24 h (hourly samples, persisted),
``(ΔQ + r_Q·remaining) / (ΔP + r_P·remaining)``. The month-to-date ratio is what the bill says
if nothing changes from now; the projection is what it says if the last day repeats until the
month ends. It is unknown until 24 hours of readings exist.

Storage is written once per change of any device, after a short delay (a line of 247 devices
starting a month writes one file, not 247), and on shutdown.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from hardware_bridge import BillingPeriod

from .const import DOMAIN

__all__ = [
    "ATTR_MONTH_END",
    "ATTR_MONTH_START_PERIOD",
    "ATTR_MONTH_START_SINCE",
    "ATTR_MONTH_START_SOURCE",
    "ATTR_PROJECTED_CAPACITIVE",
    "ATTR_PROJECTED_INDUCTIVE",
    "ATTR_PROJECTION_METHOD",
    "ATTR_RATE_WINDOW_HOURS",
    "COUNTER_KEYS",
    "COUNTER_SETS",
    "DERIVED_ENTITY_KEYS",
    "PROJECTION_METHOD",
    "PROJECTION_WINDOW",
    "SOURCE_FIRST_READING",
    "SOURCE_METER",
    "MonthBaseline",
    "Projection",
    "ReactiveRatios",
    "ReactiveTracker",
    "billing_month",
    "compute_ratios",
    "meter_baseline",
    "month_bounds",
    "month_start_attributes",
    "project_ratios",
]

# (active, inductive, capacitive) counters, best first. Meters and most relays count inductive
# (5.8.0, Q1) and capacitive (8.8.0, Q4) reactive energy; analyzers such as the SDM630 count
# reactive import and export instead, which on a consuming site are Q1 and Q4 as well.
COUNTER_SETS: tuple[tuple[str, str, str], ...] = (
    ("energy_import_total", "reactive_inductive_total", "reactive_capacitive_total"),
    ("energy_import_total", "reactive_import_total", "reactive_export_total"),
)
COUNTER_KEYS = tuple(dict.fromkeys(key for keys in COUNTER_SETS for key in keys))
"""Every counter a ratio may be computed from (what the ratio entities need polled)."""

DERIVED_ENTITY_KEYS = (
    "reactive_inductive_ratio",
    "reactive_capacitive_ratio",
    "reactive_inductive_projection",
    "reactive_capacitive_projection",
    "reactive_limit_exceeded",
    "reactive_penalty_risk",
)
"""Entities computed from the counters: showing any of them means polling the counters."""

# State attributes of the ratio, projection and penalty-risk entities
ATTR_MONTH_START_SOURCE = "month_start_source"  # one of the SOURCE_* values below
ATTR_MONTH_START_SINCE = "month_start_since"
ATTR_MONTH_START_PERIOD = "month_start_period"
ATTR_PROJECTION_METHOD = "projection_method"
ATTR_RATE_WINDOW_HOURS = "rate_window_hours"
ATTR_MONTH_END = "month_end"
ATTR_PROJECTED_INDUCTIVE = "projected_inductive"
ATTR_PROJECTED_CAPACITIVE = "projected_capacitive"

SOURCE_METER = "meter_billing_period"
SOURCE_FIRST_READING = "first_reading"
PROJECTION_METHOD = "last_24h_rates"
PROJECTION_WINDOW = timedelta(hours=24)
SAMPLE_INTERVAL = timedelta(hours=1)
RESET_TOLERANCE = timedelta(hours=1)
"""How far a meter's period reset may be from 00:00 on the 1st and still start the month."""
SAVE_DELAY = 30.0
"""Seconds between a change and the write of the store (pending writes are flushed at stop)."""
_STORAGE_VERSION = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthBaseline:
    """The counters at the start of a billing month, and where they came from."""

    month: str
    active: float
    inductive: float
    capacitive: float
    source: str = SOURCE_FIRST_READING
    since: str | None = None
    """When these counters were taken (ISO time): the meter's reset, or the first reading."""
    period: int | None = None
    """The meter's billing period number they were read from (``X*period``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """Where the month's ratios end if the last day's rates continue to the month's end."""

    inductive: float
    capacitive: float
    window_hours: float
    """Length of the recent window the rates were measured over."""
    month_end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactiveRatios:
    month: str
    inductive: float | None
    """Percent of active energy; None while no active energy was consumed this month."""
    capacitive: float | None
    projection: Projection | None = None


@dataclass(frozen=True, slots=True)
class _Sample:
    """Counters at one instant (POSIX time), for the recent rates."""

    time: float
    active: float
    inductive: float
    capacitive: float


def billing_month(local_now: datetime) -> str:
    """The billing period a local time falls in: its calendar month, ``"2025-05"``."""
    return f"{local_now.year:04d}-{local_now.month:02d}"


def month_bounds(local_now: datetime) -> tuple[datetime, datetime]:
    """Start and end (00:00 on the 1st, local time) of the month ``local_now`` is in."""
    start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        end = start.replace(year=start.year + 1, month=1)
    else:
        end = start.replace(month=start.month + 1)
    return start, end


def compute_ratios(
    baseline: MonthBaseline, active: float, inductive: float, capacitive: float
) -> ReactiveRatios:
    """Inductive and capacitive reactive energy as percent of the active energy this month."""
    consumed = active - baseline.active
    if consumed <= 0:
        return ReactiveRatios(month=baseline.month, inductive=None, capacitive=None)
    return ReactiveRatios(
        month=baseline.month,
        inductive=round(100 * max(0.0, inductive - baseline.inductive) / consumed, 2),
        capacitive=round(100 * max(0.0, capacitive - baseline.capacitive) / consumed, 2),
    )


def project_ratios(
    baseline: MonthBaseline,
    now: tuple[float, float, float],
    recent: tuple[float, float, float],
    window: timedelta,
    remaining: timedelta,
    month_end: datetime,
) -> Projection | None:
    """The month's ratios if the rates of ``window`` (``recent`` → ``now``) continue.

    ``now`` and ``recent`` are (active, inductive, capacitive) counters; None when no active
    energy is expected in the month at all.
    """
    share = max(remaining, timedelta(0)) / window
    month = (now[0] - baseline.active, now[1] - baseline.inductive, now[2] - baseline.capacitive)
    rates = tuple(max(0.0, b - a) for a, b in zip(recent, now, strict=True))
    active, inductive, capacitive = (
        max(0.0, so_far) + rate * share for so_far, rate in zip(month, rates, strict=True)
    )
    if active <= 0:
        return None
    return Projection(
        inductive=round(100 * inductive / active, 2),
        capacitive=round(100 * capacitive / active, 2),
        window_hours=round(window / timedelta(hours=1), 1),
        month_end=month_end,
    )


def counter_keys(keys: Collection[str]) -> tuple[str, str, str] | None:
    """The (active, inductive, capacitive) counters a device offers, if any."""
    return next((s for s in COUNTER_SETS if all(k in keys for k in s)), None)


def has_reactive_counters(keys: Collection[str]) -> bool:
    return counter_keys(keys) is not None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def meter_baseline(
    history: Sequence[BillingPeriod],
    keys: tuple[str, str, str],
    local_now: datetime,
    current: tuple[float, float, float],
) -> MonthBaseline | None:
    """This month's start counters from the meter's billing periods, if one began it.

    A period counts only if its reset was 00:00 on the 1st of this month (on the meter's wall
    clock, within :data:`RESET_TOLERANCE`) and its counters are not above the current ones.
    """
    start, _ = month_bounds(local_now)
    for period in history:
        if period.reset is None:
            continue
        gap = period.reset.replace(tzinfo=None) - start.replace(tzinfo=None)
        if abs(gap) > RESET_TOLERANCE:
            continue
        active, inductive, capacitive = (_number(period.values.get(key)) for key in keys)
        if active is None or inductive is None or capacitive is None:
            continue
        if active > current[0] or inductive > current[1] or capacitive > current[2]:
            continue  # not this meter's past (replaced meter, or a misread)
        return MonthBaseline(
            month=billing_month(local_now),
            active=active,
            inductive=inductive,
            capacitive=capacitive,
            source=SOURCE_METER,
            since=period.reset.isoformat(),
            period=period.period,
        )
    return None


def month_start_attributes(baseline: MonthBaseline | None) -> dict[str, Any]:
    """State attributes saying where a month's start counters came from."""
    if baseline is None:
        return {}
    attributes: dict[str, Any] = {
        ATTR_MONTH_START_SOURCE: baseline.source,
        ATTR_MONTH_START_SINCE: baseline.since,
    }
    if baseline.period is not None:
        attributes[ATTR_MONTH_START_PERIOD] = baseline.period
    return attributes


class _ReactiveStore(Store[dict[str, Any]]):
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        if old_major_version == 1:  # month baselines by device, nothing else
            return {"baselines": old_data, "samples": {}}
        raise NotImplementedError


class ReactiveTracker:
    """Month-start counters and recent samples per device, kept in ``.storage``."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._hass = hass
        self._store = _ReactiveStore(hass, _STORAGE_VERSION, f"{DOMAIN}.{entry_id}.reactive")
        self._baselines: dict[str, MonthBaseline] = {}
        self._samples: dict[str, list[_Sample]] = {}
        self._ratios: dict[str, ReactiveRatios] = {}

    async def async_load(self) -> None:
        stored = await self._store.async_load() or {}
        for device_key, raw in (stored.get("baselines") or {}).items():
            try:
                self._baselines[device_key] = MonthBaseline(**raw)
            except TypeError:
                continue  # written by a different version: start the month afresh
        for device_key, rows in (stored.get("samples") or {}).items():
            try:
                self._samples[device_key] = [_Sample(*map(float, row)) for row in rows]
            except (TypeError, ValueError):
                continue

    async def async_remove(self) -> None:
        await self._store.async_remove()

    def baseline(self, device_key: str) -> MonthBaseline | None:
        return self._baselines.get(device_key)

    def ratios(self, device_key: str) -> ReactiveRatios | None:
        return self._ratios.get(device_key)

    def update(
        self,
        device_key: str,
        values: Mapping[str, object],
        local_now: datetime,
        history: Sequence[BillingPeriod] = (),
    ) -> ReactiveRatios | None:
        """Feed the (guarded) counters of one device, and a meter's billing periods."""
        keys = counter_keys(values.keys())
        if keys is None:
            return self._ratios.get(device_key)
        active, inductive, capacitive = (_number(values.get(key)) for key in keys)
        if active is None or inductive is None or capacitive is None:
            return self._ratios.get(device_key)
        current = (active, inductive, capacitive)
        baseline = self._month_start(device_key, keys, current, local_now, history)
        ratios = replace(
            compute_ratios(baseline, *current),
            projection=self._project(device_key, baseline, current, local_now),
        )
        self._ratios[device_key] = ratios
        return ratios

    def _month_start(
        self,
        device_key: str,
        keys: tuple[str, str, str],
        current: tuple[float, float, float],
        local_now: datetime,
        history: Sequence[BillingPeriod],
    ) -> MonthBaseline:
        month = billing_month(local_now)
        baseline = meter_baseline(history, keys, local_now, current)
        if baseline is None:
            kept = self._baselines.get(device_key)
            if kept is not None and kept.month == month and current[0] >= kept.active:
                return kept
            baseline = MonthBaseline(
                month=month,
                active=current[0],
                inductive=current[1],
                capacitive=current[2],
                since=local_now.isoformat(),
            )
        if self._baselines.get(device_key) != baseline:
            self._baselines[device_key] = baseline
            self._schedule_save()
        return baseline

    def _project(
        self,
        device_key: str,
        baseline: MonthBaseline,
        current: tuple[float, float, float],
        local_now: datetime,
    ) -> Projection | None:
        now = local_now.timestamp()
        window = PROJECTION_WINDOW.total_seconds()
        samples = self._samples.setdefault(device_key, [])
        if samples and (current[0] < samples[-1].active or now < samples[-1].time):
            samples.clear()  # counters or clock went back (a replaced meter): start again
        if not samples or now - samples[-1].time >= SAMPLE_INTERVAL.total_seconds():
            samples.append(_Sample(now, *current))
            # keep the newest sample old enough to span the window, and everything after it
            old = [i for i, s in enumerate(samples) if now - s.time >= window]
            if old:
                del samples[: old[-1]]
            self._schedule_save()
        anchor = next((s for s in reversed(samples) if now - s.time >= window), None)
        if anchor is None:
            return None  # not a full day of readings yet
        span = timedelta(seconds=now - anchor.time)
        _, end = month_bounds(local_now)
        return project_ratios(
            baseline,
            current,
            (anchor.active, anchor.inductive, anchor.capacitive),
            span,
            timedelta(seconds=end.timestamp() - now),
            end,
        )

    def _schedule_save(self) -> None:
        self._store.async_delay_save(self._data, SAVE_DELAY)

    def _data(self) -> dict[str, Any]:
        return {
            "baselines": {key: asdict(b) for key, b in self._baselines.items()},
            "samples": {
                key: [[s.time, s.active, s.inductive, s.capacitive] for s in samples]
                for key, samples in self._samples.items()
            },
        }
