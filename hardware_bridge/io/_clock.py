"""Time as the I/O code sees it: a monotonic clock for timers, a wall clock for reports.

Timers (on-time limits, heartbeats, debounce) run on the monotonic clock so that an NTP step
never fires or stretches them; events carry wall-clock (UTC) times for logs and Home Assistant.
Tests pass a clock they move by hand and run a day in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the supervisor and the monitors need of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (only differences are meaningful)."""
        ...

    def wall(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemClock:
    """The real clocks: :func:`time.monotonic`, UTC now and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
