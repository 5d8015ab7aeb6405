"""Reactive energy ratios for the billing month (Turkish tariff rules).

Distribution companies penalise a subscriber whose reactive energy in a billing period (a
calendar month) exceeds a share of the active energy: inductive (5.8.0) and capacitive (8.8.0)
kvarh divided by active kWh (1.8.0) consumed in the same month. The meter only gives running
totals, so the totals at the start of the month are kept (persisted, so a restart mid-month
does not lose them) and the ratios are computed from the growth since then.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN

__all__ = [
    "COUNTER_KEYS",
    "COUNTER_SETS",
    "MonthBaseline",
    "ReactiveRatios",
    "ReactiveTracker",
    "billing_month",
    "compute_ratios",
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
_STORAGE_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthBaseline:
    """The counters as first seen in a billing month."""

    month: str
    active: float
    inductive: float
    capacitive: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactiveRatios:
    month: str
    inductive: float | None
    """Percent of active energy; None while no active energy was consumed this month."""
    capacitive: float | None


def billing_month(local_now: datetime) -> str:
    """The billing period a local time falls in: its calendar month, ``"2025-05"``."""
    return f"{local_now.year:04d}-{local_now.month:02d}"


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


def counter_keys(keys: Collection[str]) -> tuple[str, str, str] | None:
    """The (active, inductive, capacitive) counters a device offers, if any."""
    return next((s for s in COUNTER_SETS if all(k in keys for k in s)), None)


def has_reactive_counters(keys: Collection[str]) -> bool:
    return counter_keys(keys) is not None


class ReactiveTracker:
    """Month-start counters per device, kept in ``.storage`` across restarts."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._hass = hass
        self._store: Store[dict[str, dict[str, Any]]] = Store(
            hass, _STORAGE_VERSION, f"{DOMAIN}.{entry_id}.reactive"
        )
        self._baselines: dict[str, MonthBaseline] = {}
        self._ratios: dict[str, ReactiveRatios] = {}

    async def async_load(self) -> None:
        stored = await self._store.async_load() or {}
        for device_key, raw in stored.items():
            try:
                self._baselines[device_key] = MonthBaseline(**raw)
            except TypeError:
                continue  # written by a different version: start the month afresh

    async def async_remove(self) -> None:
        await self._store.async_remove()

    def baseline(self, device_key: str) -> MonthBaseline | None:
        return self._baselines.get(device_key)

    def ratios(self, device_key: str) -> ReactiveRatios | None:
        return self._ratios.get(device_key)

    def update(
        self, device_key: str, values: Mapping[str, object], local_now: datetime
    ) -> ReactiveRatios | None:
        """Feed the (guarded) counters of one device; returns this month's ratios."""
        keys = counter_keys(values.keys())
        if keys is None:
            return self._ratios.get(device_key)
        counters = [values.get(key) for key in keys]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in counters):
            return self._ratios.get(device_key)
        active, inductive, capacitive = (float(v) for v in counters)  # type: ignore[arg-type]
        month = billing_month(local_now)
        baseline = self._baselines.get(device_key)
        if baseline is None or baseline.month != month or active < baseline.active:
            baseline = MonthBaseline(
                month=month, active=active, inductive=inductive, capacitive=capacitive
            )
            self._baselines[device_key] = baseline
            # once a month per device: save at once, a restart right after must not lose it
            self._hass.async_create_task(
                self._store.async_save(self._data()), "smartpower_terminal reactive save"
            )
        ratios = compute_ratios(baseline, active, inductive, capacitive)
        self._ratios[device_key] = ratios
        return ratios

    def _data(self) -> dict[str, dict[str, Any]]:
        return {key: asdict(baseline) for key, baseline in self._baselines.items()}
