"""Energy counters that never go backwards in Home Assistant.

The energy dashboard's statistics treat a ``total_increasing`` value that drops as a meter
reset and one that leaps as consumption, so a single misread (a garbled digit, a register
read half-updated) would corrupt a month of statistics. A reading is rejected when it is lower
than the last accepted one, or higher by more than twice the most power the line could
plausibly carry over the elapsed time; the last accepted value is kept and the episode is
logged once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from .const import MAX_PLAUSIBLE_POWER_KW

__all__ = ["CounterGuard"]

_LOGGER = logging.getLogger(__name__)

# Factor from kWh to the counter's own unit.
_UNIT_FACTORS = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001, "varh": 1000.0, "kvarh": 1.0}


@dataclass(slots=True)
class _Accepted:
    value: float
    at: datetime
    rejecting: bool = False


class CounterGuard:
    """Remembers the last accepted value of each counter and filters new readings."""

    def __init__(self, max_power_kw: float = MAX_PLAUSIBLE_POWER_KW) -> None:
        self.max_power_kw = max_power_kw
        self._accepted: dict[tuple[str, str], _Accepted] = {}
        self.rejected = 0

    def seed(self, device_key: str, key: str, value: float, at: datetime) -> None:
        """Start from a value shown before a restart, so a first misread cannot go back."""
        self._accepted.setdefault((device_key, key), _Accepted(value, at))

    def check(
        self, device_key: str, key: str, value: float, unit: str | None, now: datetime
    ) -> float:
        """Return the value to show: the new one if plausible, else the last accepted one."""
        last = self._accepted.get((device_key, key))
        if last is None:
            self._accepted[(device_key, key)] = _Accepted(value, now)
            return value
        hours = max((now - last.at).total_seconds(), 0.0) / 3600
        factor = _UNIT_FACTORS.get((unit or "kwh").lower(), 1.0)
        allowed = 2 * self.max_power_kw * factor * hours
        if value < last.value or value - last.value > allowed:
            self.rejected += 1
            if not last.rejecting:
                last.rejecting = True
                _LOGGER.warning(
                    "%s %s: ignoring reading %s %s (last accepted %s); kept until a plausible "
                    "reading arrives",
                    device_key,
                    key,
                    value,
                    unit or "",
                    last.value,
                )
            return last.value
        if last.rejecting:
            _LOGGER.info("%s %s: plausible again at %s", device_key, key, value)
        self._accepted[(device_key, key)] = _Accepted(value, now)
        return value
