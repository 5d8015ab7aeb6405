"""Energy counters that never go backwards in Home Assistant, and never freeze.

The energy dashboard's statistics treat a ``total_increasing`` value that drops as a meter
reset and one that leaps as consumption, so a single misread (a garbled digit, a register
read half-updated) would corrupt a month of statistics. A reading is held back when it is lower
than the last accepted one, or higher by more than twice the most power the line could
plausibly carry over the time between the two readings; the last accepted value is shown
meanwhile and the episode is logged once.

A misread is a one-off: the next reading is back on the old track. A rise the device keeps
reporting is real, even when it is faster than assumed (a large site, a counter in Wh where
kWh were expected): once a second reading confirms it (not lower than the held-back one), it
is accepted, and when the confirmation itself rose that fast the counter's plausible power is
raised to that rate, so the guard converges instead of holding the counter back forever.

Times are those of the readings (when the value was read), never those of later polls that
merely carried the value along.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .const import MAX_PLAUSIBLE_POWER_KW

__all__ = ["CONFIRMING_READINGS", "CounterGuard"]

_LOGGER = logging.getLogger(__name__)

# Factor from kWh to the counter's own unit.
_UNIT_FACTORS = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001, "varh": 1000.0, "kvarh": 1.0}
# Readings beyond the limit, none lower than the one before, that make a rise real.
CONFIRMING_READINGS = 2


@dataclass(slots=True)
class _Counter:
    value: float
    at: datetime
    max_power_kw: float
    suspect: float | None = None
    suspect_at: datetime | None = None
    suspect_count: int = 0
    rejecting: bool = False


class CounterGuard:
    """Remembers the last accepted value of each counter and filters new readings."""

    def __init__(self, max_power_kw: float = MAX_PLAUSIBLE_POWER_KW) -> None:
        self.max_power_kw = max_power_kw
        self._counters: dict[tuple[str, str], _Counter] = {}
        self.rejected = 0
        self.names: Mapping[str, str] = {}
        """Device names for log lines, by device key."""

    def seed(self, device_key: str, key: str, value: float, at: datetime) -> None:
        """Start from a value shown before a restart, so a first misread cannot go back."""
        self._counters.setdefault((device_key, key), _Counter(value, at, self.max_power_kw))

    def last_accepted(self, device_key: str, key: str) -> float | None:
        counter = self._counters.get((device_key, key))
        return counter.value if counter is not None else None

    def check(
        self, device_key: str, key: str, value: float, unit: str | None, read_at: datetime
    ) -> float:
        """Return the value to show for a reading taken at ``read_at``."""
        counter = self._counters.get((device_key, key))
        if counter is None:
            self._counters[(device_key, key)] = _Counter(value, read_at, self.max_power_kw)
            return value
        factor = _UNIT_FACTORS.get((unit or "kwh").lower(), 1.0)
        if value >= counter.value:
            hours = max((read_at - counter.at).total_seconds(), 0.0) / 3600
            if value - counter.value <= 2 * counter.max_power_kw * factor * hours:
                if counter.rejecting:
                    _LOGGER.info("%s: plausible again at %s", self._label(device_key, key), value)
                self._accept(counter, value, read_at)
                return value
            if self._confirmed(counter, value, read_at):
                self._accept_confirmed(counter, device_key, key, value, unit, factor, read_at)
                return value
        else:
            counter.suspect, counter.suspect_at, counter.suspect_count = None, None, 0
        self.rejected += 1
        if not counter.rejecting:
            counter.rejecting = True
            _LOGGER.warning(
                "%s: ignoring reading %s %s (last accepted %s); kept until a plausible or "
                "a confirming reading arrives",
                self._label(device_key, key),
                value,
                unit or "",
                counter.value,
            )
        return counter.value

    def _confirmed(self, counter: _Counter, value: float, read_at: datetime) -> bool:
        """A rise beyond the limit: is it the latest of enough readings that agree?"""
        if counter.suspect is not None and value >= counter.suspect:
            counter.suspect_count += 1
        else:
            counter.suspect, counter.suspect_at, counter.suspect_count = value, read_at, 1
            return False
        return counter.suspect_count >= CONFIRMING_READINGS

    def _accept_confirmed(
        self,
        counter: _Counter,
        device_key: str,
        key: str,
        value: float,
        unit: str | None,
        factor: float,
        read_at: datetime,
    ) -> None:
        suspect = counter.suspect if counter.suspect is not None else value
        hours = (read_at - (counter.suspect_at or read_at)).total_seconds() / 3600
        rate_kw = (value - suspect) / factor / hours if hours > 0 else 0.0
        if rate_kw > counter.max_power_kw:
            _LOGGER.warning(
                "%s: accepted %s %s after %d consistent readings; it rises at %.0f kW, more "
                "than the %.0f kW assumed, so up to twice that rate is plausible from now on",
                self._label(device_key, key),
                value,
                unit or "",
                counter.suspect_count,
                rate_kw,
                counter.max_power_kw,
            )
            counter.max_power_kw = rate_kw
        else:
            _LOGGER.info(
                "%s: accepted %s %s after %d consistent readings (a step, not a misread)",
                self._label(device_key, key),
                value,
                unit or "",
                counter.suspect_count,
            )
        self._accept(counter, value, read_at)

    @staticmethod
    def _accept(counter: _Counter, value: float, read_at: datetime) -> None:
        counter.value, counter.at = value, read_at
        counter.suspect, counter.suspect_at, counter.suspect_count = None, None, 0
        counter.rejecting = False

    def _label(self, device_key: str, key: str) -> str:
        return f"{self.names.get(device_key, device_key)} {key}"
