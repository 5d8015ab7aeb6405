"""The electrical site behind a simulated device: a load, its compensation, and their counters.

One model feeds every simulated Modbus device, so what a device serves is physically
consistent whatever its register map:

* the load draws ``P(t) = P0 · (1 + 0.25 sin(ωt + s))`` (a 15-minute cycle), split over the
  phases in fixed shares, with an uncompensated power factor of 0.8 inductive;
* a compensation relay switches in ``n`` of ``N`` equal capacitor stages, deciding once per
  :data:`DECISION_PERIOD` from the load at that instant (aiming at tan φ = 0.05), so the net
  reactive power ``Q = 0.75 P − n·c`` is sometimes inductive, sometimes capacitive;
* every phase shares the same angle, so per phase and in total ``S² = P² + Q²``,
  ``PF = P / S`` and ``ΣP_phase = P``; currents follow from ``I = S / V``;
* counters integrate the powers over the simulator's time (seconds): active energy ∫P, and
  reactive energy by quadrant, inductive ∫max(Q, 0) and capacitive ∫max(−Q, 0).

Time is whatever the caller says it is: the line simulator moves it with real time (or
faster, when a test advances it). Going back in time restarts the integration from zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DECISION_PERIOD", "SiteModel", "SiteState"]

DECISION_PERIOD = 30.0
"""Seconds between two stage decisions of the compensation relay."""
_LOAD_PERIOD = 900.0
_VOLTAGE_PERIOD = 97.0
_LOAD_SWING = 0.25
_TAN_LOAD = 0.75  # cos φ 0.8 before compensation
_TAN_TARGET = 0.05
_STEP = 10.0  # Simpson sub-interval for the counters (the load's period is 900 s)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteState:
    """Every physical quantity of the site at one instant (SI units, energies in kWh/kvarh)."""

    phases: int
    voltage: tuple[float, float, float]
    active: tuple[float, float, float]
    """W per phase (0 on phases a single-phase site does not have)."""
    reactive: tuple[float, float, float]
    """var per phase, positive inductive (quadrant 1), negative capacitive (quadrant 4)."""
    frequency: float
    stages_on: int
    stage_count: int
    switch_counts: tuple[int, ...]
    energy_active: tuple[float, float, float]
    """kWh imported per phase since the simulation started."""
    energy_inductive: tuple[float, float, float]
    energy_capacitive: tuple[float, float, float]

    @property
    def apparent(self) -> tuple[float, float, float]:
        return tuple(  # type: ignore[return-value]
            math.hypot(p, q) for p, q in zip(self.active, self.reactive, strict=True)
        )

    @property
    def current(self) -> tuple[float, float, float]:
        return tuple(  # type: ignore[return-value]
            s / v if v else 0.0 for s, v in zip(self.apparent, self.voltage, strict=True)
        )


class SiteModel:
    """A site whose values at time ``t`` are a function of ``t`` alone (deterministic)."""

    def __init__(self, *, seed: float, phases: int = 3, stage_count: int = 8) -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {phases}")
        if stage_count < 1:
            raise ValueError(f"stage_count must be at least 1, not {stage_count}")
        self.seed = seed
        self.phases = phases
        self.stage_count = stage_count
        shares = (0.34, 0.32, 0.34) if phases == 3 else (1.0, 0.0, 0.0)
        self._shares = shares
        self._p0 = (6_000.0 if phases == 3 else 2_000.0) * (1 + 0.05 * (seed % 3))
        # stages sized so that the mean load needs about half of them
        self._stage = 2 * (_TAN_LOAD - _TAN_TARGET) * self._p0 / stage_count
        self._omega = 2 * math.pi / _LOAD_PERIOD
        self.outages: list[tuple[float, float]] = []
        """Mains interruptions ``(start, end)`` in simulated seconds: no voltage, no load, no
        counting (a device on an auxiliary supply keeps answering). Add them ahead of time."""
        self._reset()

    def mains_on(self, t: float) -> bool:
        return not any(start <= t < end for start, end in self.outages)

    # -- instantaneous values ----------------------------------------------------------
    def load(self, t: float) -> float:
        """Total active power (W) at ``t``."""
        if not self.mains_on(t):
            return 0.0
        return self._p0 * (1 + _LOAD_SWING * math.sin(self._omega * t + self.seed))

    def stages_at(self, t: float) -> int:
        """Stages the relay has switched in at ``t`` (decided at the start of its period)."""
        return self._decide(math.floor(t / DECISION_PERIOD))

    def _decide(self, k: int) -> int:
        p = self.load(k * DECISION_PERIOD)
        wanted = (_TAN_LOAD - _TAN_TARGET) * p / self._stage
        return max(0, min(self.stage_count, round(wanted)))

    def net_reactive(self, t: float, stages: int) -> float:
        if not self.mains_on(t):
            return 0.0  # capacitors without voltage deliver nothing
        return _TAN_LOAD * self.load(t) - stages * self._stage

    # -- the state -----------------------------------------------------------------------
    def at(self, t: float) -> SiteState:
        self._integrate_to(t)
        stages = self.stages_at(t)
        p, q = self.load(t), self.net_reactive(t, stages)
        voltage = tuple(
            230.0 + 3.0 * math.sin(2 * math.pi * t / _VOLTAGE_PERIOD + self.seed + 2.1 * i)
            if share and self.mains_on(t)
            else 0.0
            for i, share in enumerate(self._shares)
        )
        energy = self._energy
        return SiteState(
            phases=self.phases,
            voltage=voltage,  # type: ignore[arg-type]
            active=self._split(p),
            reactive=self._split(q),
            frequency=50.0 + 0.05 * math.sin(2 * math.pi * t / 120.0 + self.seed),
            stages_on=stages,
            stage_count=self.stage_count,
            switch_counts=tuple(self._switches),
            energy_active=self._split(energy[0] / 3.6e6),
            energy_inductive=self._split(energy[1] / 3.6e6),
            energy_capacitive=self._split(energy[2] / 3.6e6),
        )

    def _split(self, total: float) -> tuple[float, float, float]:
        return tuple(total * share for share in self._shares)  # type: ignore[return-value]

    # -- counters --------------------------------------------------------------------------
    def _reset(self) -> None:
        self._t = 0.0
        self._energy = [0.0, 0.0, 0.0]  # W·s: active, inductive, capacitive
        self._switches = [0] * self.stage_count
        self._k = 0
        self._stages = self._decide(0)

    def _integrate_to(self, t: float) -> None:
        """Advance the counters (and switching counts) from the last instant to ``t``."""
        if t < self._t:
            self._reset()
        while self._t < t:
            boundary = (self._k + 1) * DECISION_PERIOD
            end = min(t, boundary)
            self._integrate(self._t, end, self._stages)
            self._t = end
            if end == boundary:
                self._k += 1
                stages = self._decide(self._k)
                for stage in range(min(stages, self._stages), max(stages, self._stages)):
                    self._switches[stage] += 1
                self._stages = stages

    def _integrate(self, start: float, end: float, stages: int) -> None:
        pieces = max(1, math.ceil((end - start) / _STEP))
        width = (end - start) / pieces
        for i in range(pieces):
            a = start + i * width
            b, m = a + width, a + width / 2
            p = (self.load(a) + 4 * self.load(m) + self.load(b)) * width / 6
            q = [self.net_reactive(x, stages) for x in (a, m, b)]
            self._energy[0] += p
            self._energy[1] += _simpson_positive(q, width)
            self._energy[2] += _simpson_positive([-x for x in q], width)


def _simpson_positive(q: list[float], width: float) -> float:
    """∫max(q, 0) over one sub-interval from its values at start, middle and end.

    Where q changes sign inside, the part on the positive side is integrated exactly for the
    straight line through the samples (the error is far below a counter's resolution)."""
    a, m, b = q
    if a >= 0 and m >= 0 and b >= 0:
        return (a + 4 * m + b) * width / 6
    if a <= 0 and m <= 0 and b <= 0:
        return 0.0
    half = width / 2
    return _positive_part(a, m, half) + _positive_part(m, b, half)


def _positive_part(a: float, b: float, width: float) -> float:
    """∫max(x, 0) of the straight line from ``a`` to ``b`` over ``width``."""
    if a >= 0 and b >= 0:
        return (a + b) * width / 2
    if a <= 0 and b <= 0:
        return 0.0
    high, low = max(a, b), min(a, b)
    return high * width * high / (high - low) / 2
