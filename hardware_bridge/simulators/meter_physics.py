"""What a simulated electricity meter measures: a load on its phases, over the meter's clock.

The load is an active power P (kW) shared evenly by the phases that have voltage, with
reactive power: inductive Q on every live phase but the last, capacitive on the last (a
one-phase meter sees the net of the two). Per phase S = √(P² + Q²), I = S / U and
cos φ = P / S, so Σ U·I·cos φ is P again — the currents and power factors a meter shows
agree with the energy it counts.

The registers integrate that load over the meter's own clock, which may run ``time_scale``
times faster than real time: active import into the tariff register of that clock's hour
(TEDAŞ-MLZ/2017-062.B: T1 06–17, T2 17–22, T3 22–06), inductive and capacitive reactive energy
from the phases' Q. A register counts whole units of its last digit, like a meter's pulses,
so the total is exactly the sum of the tariff registers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "TARIFF_START_HOURS",
    "EnergyIntegrator",
    "Load",
    "MeterClock",
    "Phase",
    "month_start",
    "months_between",
    "reactive_rates",
    "tariff_at",
]

TARIFF_START_HOURS: tuple[tuple[int, int], ...] = ((6, 1), (17, 2), (22, 3))
"""(hour the tariff starts, tariff number): T1 day 06–17, T2 peak 17–22, T3 night 22–06."""
_LIVE_VOLTAGE = 50.0


def tariff_at(moment: datetime) -> int:
    """Tariff number (1, 2, 3) in force at ``moment`` of the meter's clock."""
    current = TARIFF_START_HOURS[-1][1]  # before 06:00 the night tariff runs
    for hour, tariff in TARIFF_START_HOURS:
        if moment.hour >= hour:
            current = tariff
    return current


def _next_boundary(moment: datetime) -> datetime:
    """The next tariff change or midnight strictly after ``moment``."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    for hour in (*(h for h, _ in TARIFF_START_HOURS), 24):
        boundary = day + timedelta(hours=hour)
        if boundary > moment:
            return boundary
    raise AssertionError("unreachable: midnight follows every moment of a day")


def month_start(moment: datetime, months_back: int = 0) -> datetime:
    """Midnight of the first day of ``moment``'s month, ``months_back`` months earlier."""
    index = moment.year * 12 + moment.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1)


def months_between(earlier: datetime, later: datetime) -> int:
    """Month starts from after ``earlier`` up to ``later`` (billing resets in between)."""
    return max(0, (later.year - earlier.year) * 12 + later.month - earlier.month)


class MeterClock:
    """The meter's clock: starts at ``start`` and runs ``time_scale`` times real time."""

    def __init__(
        self,
        start: datetime | None = None,
        time_scale: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.start = (start or datetime.now()).replace(microsecond=0)
        self.time_scale = time_scale
        self._monotonic = monotonic
        self._started = monotonic()

    def now(self) -> datetime:
        elapsed = (self._monotonic() - self._started) * self.time_scale
        return self.start + timedelta(seconds=elapsed)


@dataclass(frozen=True, slots=True)
class Phase:
    voltage: float
    active_kw: float
    reactive_kvar: float
    """Positive inductive, negative capacitive."""

    @property
    def apparent_kva(self) -> float:
        return math.hypot(self.active_kw, self.reactive_kvar)

    @property
    def current(self) -> float:
        """Amperes: S / U."""
        return self.apparent_kva * 1000 / self.voltage if self.voltage > 0 else 0.0

    @property
    def power_factor(self) -> float:
        """cos φ = P / S (1 with no load)."""
        apparent = self.apparent_kva
        return self.active_kw / apparent if apparent > 0 else 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """What the meter's customer draws: P, and inductive and capacitive reactive power."""

    active_kw: float
    inductive_kvar: float
    capacitive_kvar: float

    def __post_init__(self) -> None:
        if min(self.active_kw, self.inductive_kvar, self.capacitive_kvar) < 0:
            raise ValueError("load powers must not be negative (this meter only imports)")

    def phases(self, voltages: Sequence[float]) -> tuple[Phase, ...]:
        """The load on each phase; phases without voltage carry nothing."""
        live = [i for i, u in enumerate(voltages) if u > _LIVE_VOLTAGE]
        reactive = [0.0] * len(voltages)
        if len(live) == 1:
            reactive[live[0]] = self.inductive_kvar - self.capacitive_kvar
        elif live:
            inductive = live[:-1]
            for i in inductive:
                reactive[i] = self.inductive_kvar / len(inductive)
            reactive[live[-1]] = -self.capacitive_kvar
        share = self.active_kw / len(live) if live else 0.0
        return tuple(
            Phase(voltage=u, active_kw=share if i in live else 0.0, reactive_kvar=reactive[i])
            for i, u in enumerate(voltages)
        )


def reactive_rates(phases: Sequence[Phase]) -> tuple[float, float]:
    """(inductive, capacitive) kvar the reactive registers count: each phase by its sign."""
    inductive = sum(p.reactive_kvar for p in phases if p.reactive_kvar > 0)
    capacitive = sum(-p.reactive_kvar for p in phases if p.reactive_kvar < 0)
    return inductive, capacitive


class EnergyIntegrator:
    """Energy counted since ``start`` of the meter clock: kWh per tariff, kvarh per side.

    :meth:`advance` integrates up to a moment, segment by segment (a segment never spans a
    tariff change or midnight); ``on_midnight`` is called at every midnight crossed, with the
    registers as they stand at that moment (the meter's billing reset uses it).
    """

    def __init__(self, start: datetime, active_kw: float, inductive: float, capacitive: float):
        self.until = start
        self.active_kw = active_kw
        self.inductive_kvar = inductive
        self.capacitive_kvar = capacitive
        self.active_kwh: dict[int, float] = {tariff: 0.0 for _, tariff in TARIFF_START_HOURS}
        self.inductive_kvarh = 0.0
        self.capacitive_kvarh = 0.0

    def advance(self, to: datetime, on_midnight: Callable[[datetime], None] | None = None) -> None:
        while self.until < to:
            boundary = _next_boundary(self.until)
            end = min(to, boundary)
            hours = (end - self.until).total_seconds() / 3600
            self.active_kwh[tariff_at(self.until)] += self.active_kw * hours
            self.inductive_kvarh += self.inductive_kvar * hours
            self.capacitive_kvarh += self.capacitive_kvar * hours
            self.until = end
            if end == boundary and end.hour == 0 and on_midnight is not None:
                on_midnight(end)
