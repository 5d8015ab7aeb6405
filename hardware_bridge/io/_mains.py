"""Mains-loss detection from phase voltages or from a mains-present contact.

Pure logic: feed samples with their times, read the state and the outages.

Thresholds (defaults for the Turkish low-voltage grid, 230 V phase–neutral / 400 V
phase–phase, 50 Hz; TS EN 50160 allows ±10 % of 230 V in normal operation and calls a supply
*interruption* a voltage below 5 % of nominal). A phase counts as **lost** below
``lost_below`` (50 % of nominal, 115 V): far below any tolerated dip, yet above the tens of
volts a dead phase can show through coupling in the installation. It counts **back** only
above ``back_above`` (85 %, 195.5 V); in between it keeps its previous status, so a brown-out
on one phase (180 V, say) is neither a loss nor flapping. Phase–phase voltages (400 V) are
compared against the same fractions of their nominal.

Mains is **off** when all phases are lost (:attr:`MainsRule.ALL_PHASES`, the default) or when
any phase is lost (:attr:`MainsRule.ANY_PHASE`, for three-phase loads). A new state is taken
only after it held for ``confirm_loss`` / ``confirm_restore`` seconds across consecutive
samples, so a single dip never starts an outage; the outage then starts at the first sample
that showed it (and ends at the first sample with mains back). Mains seen present when the
state is unknown and no outage is open (start-up) is taken at once.

Which source to trust: a meter powered from the mains it measures usually falls silent
during an outage, which this monitor reports as unknown, not lost. For a reliable outage
record use a mains-present contact (a relay coil on the mains, its contact on an input
powered from the terminal's backup supply) or a meter with an auxiliary supply.

A meter that stops answering (``None`` values) is not an outage: after ``unknown_after``
seconds without a conclusive sample the state is **unknown**. An outage that was running stays
open through that silence and ends at the first confirmed sample with mains present.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

__all__ = [
    "NOMINAL_PHASE_NEUTRAL_V",
    "NOMINAL_PHASE_PHASE_V",
    "MainsMonitor",
    "MainsRule",
    "MainsState",
    "MainsThresholds",
    "Outage",
]

NOMINAL_PHASE_NEUTRAL_V = 230.0
NOMINAL_PHASE_PHASE_V = 400.0


class MainsState(enum.StrEnum):
    PRESENT = "present"
    LOST = "lost"
    UNKNOWN = "unknown"


class MainsRule(enum.StrEnum):
    ALL_PHASES = "all_phases"
    """Mains is lost when every phase is lost."""
    ANY_PHASE = "any_phase"
    """Mains is lost when any phase is lost (a missing phase)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MainsThresholds:
    """Voltage thresholds and timing; defaults suit 230/400 V grids."""

    nominal: float = NOMINAL_PHASE_NEUTRAL_V
    lost_below: float = 0.5 * NOMINAL_PHASE_NEUTRAL_V
    back_above: float = 0.85 * NOMINAL_PHASE_NEUTRAL_V
    rule: MainsRule = MainsRule.ALL_PHASES
    confirm_loss: float = 5.0
    """Seconds a loss must hold (over consecutive samples) before an outage starts."""
    confirm_restore: float = 10.0
    """Seconds mains must be back before the outage ends."""
    unknown_after: float = 60.0
    """Seconds without a conclusive sample before the state becomes unknown."""

    def __post_init__(self) -> None:
        if not (0 <= self.lost_below < self.back_above):
            raise ValueError(
                f"mains thresholds: need 0 <= lost_below ({self.lost_below:g} V) < "
                f"back_above ({self.back_above:g} V)"
            )
        for what in ("confirm_loss", "confirm_restore", "unknown_after"):
            value = getattr(self, what)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"mains thresholds: {what} must be >= 0 s, not {value!r}")

    @classmethod
    def for_nominal(cls, nominal: float, **kwargs: object) -> MainsThresholds:
        """Thresholds at the default fractions of another nominal (e.g. 400 V phase–phase)."""
        base = cls(
            nominal=nominal,
            lost_below=0.5 * nominal,
            back_above=0.85 * nominal,
        )
        return replace(base, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """One loss of mains: start, and end once mains is back (``None`` while it lasts)."""

    started: datetime
    ended: datetime | None = None

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended is None else self.ended - self.started


class MainsMonitor:
    """Tracks mains presence; one source per monitor (voltages *or* a contact)."""

    def __init__(self, thresholds: MainsThresholds | None = None, *, history: int = 50) -> None:
        self.thresholds = thresholds or MainsThresholds()
        self._phases: list[bool | None] = []
        self._state = MainsState.UNKNOWN
        self._since: datetime | None = None
        self._candidate: MainsState | None = None
        self._candidate_since: datetime | None = None
        self._last_conclusive: datetime | None = None
        self._current: Outage | None = None
        self.outages: deque[Outage] = deque(maxlen=history)
        """Finished outages, oldest first."""

    @property
    def state(self) -> MainsState:
        return self._state

    @property
    def since(self) -> datetime | None:
        """When the present state began (``None`` until the first conclusive state)."""
        return self._since

    @property
    def current_outage(self) -> Outage | None:
        """The outage in progress (also while the state is unknown during it)."""
        return self._current

    @property
    def last_outage(self) -> Outage | None:
        """The latest finished outage."""
        return self.outages[-1] if self.outages else None

    @property
    def last_outage_duration(self) -> timedelta | None:
        last = self.last_outage
        return None if last is None else last.duration

    # -- samples ---------------------------------------------------------------------------

    def update_voltages(self, voltages: Sequence[float | None], at: datetime) -> MainsState:
        """Phase voltages (``None``: not read) at ``at``; returns the state after it."""
        if len(self._phases) != len(voltages):
            self._phases = [None] * len(voltages)
        statuses = [self._phase_status(self._phases[i], volts) for i, volts in enumerate(voltages)]
        for i, status in enumerate(statuses):
            if status is not None:  # a phase not read keeps its last status for hysteresis
                self._phases[i] = status
        known = [status for status in statuses if status is not None]
        rule = self.thresholds.rule
        sample: MainsState | None
        if not voltages:
            sample = None
        elif rule is MainsRule.ALL_PHASES:
            # One phase seen present is conclusive; "all lost" needs every phase read.
            if any(known):
                sample = MainsState.PRESENT
            elif len(known) == len(voltages):
                sample = MainsState.LOST
            else:
                sample = None
        elif not all(known):
            sample = MainsState.LOST  # a phase seen lost is conclusive
        elif len(known) == len(voltages):
            sample = MainsState.PRESENT
        else:
            sample = None
        return self._sample(sample, at)

    def update_contact(self, present: bool | None, at: datetime) -> MainsState:
        """A mains-present contact (logical level after inversion; ``None``: not read)."""
        if present is None:
            return self._sample(None, at)
        return self._sample(MainsState.PRESENT if present else MainsState.LOST, at)

    def _phase_status(self, previous: bool | None, volts: float | None) -> bool | None:
        """True = present, False = lost, None = not read (NaN is not a reading)."""
        if volts is None or not math.isfinite(volts):
            return None
        if volts < self.thresholds.lost_below:
            return False
        if volts > self.thresholds.back_above:
            return True
        return True if previous is None else previous  # in the band: keep the status

    # -- state machine ---------------------------------------------------------------------

    def _sample(self, sample: MainsState | None, at: datetime) -> MainsState:
        if sample is None:
            self._candidate = None
            last = self._last_conclusive
            if (
                self._state is not MainsState.UNKNOWN
                and last is not None
                and (at - last).total_seconds() >= self.thresholds.unknown_after
            ):
                self._state = MainsState.UNKNOWN
                self._since = at
            return self._state
        self._last_conclusive = at
        if sample is self._state:
            self._candidate = None
            return self._state
        if self._candidate is not sample:
            self._candidate = sample
            self._candidate_since = at
        started = self._candidate_since or at
        needed = (
            self.thresholds.confirm_loss
            if sample is MainsState.LOST
            else self.thresholds.confirm_restore
        )
        if self._state is MainsState.UNKNOWN and (sample is MainsState.PRESENT) == (
            self._current is None
        ):
            # Mains seen present with no outage open (start-up, or back from a silence), or
            # an outage still on after a silence: a continuation, not a change to confirm.
            # A *new* loss is always confirmed first.
            needed = 0.0
        if (at - started).total_seconds() < needed:
            return self._state
        self._candidate = None
        self._enter(sample, started)
        return self._state

    def _enter(self, state: MainsState, at: datetime) -> None:
        self._state = state
        self._since = at
        if state is MainsState.LOST and self._current is None:
            self._current = Outage(started=at)
        elif state is MainsState.PRESENT and self._current is not None:
            self.outages.append(replace(self._current, ended=at))
            self._current = None
