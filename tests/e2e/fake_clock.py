"""A panel's wall clock a test can move: simulated hours in a test of minutes.

Home Assistant, the terminal daemon and the SmartPower server run with libfaketime preloaded
(Debian's ``libfaketime``): their clocks are the real ones plus an offset read from a file the
test writes, re-read at most every second. A step moves the wall and the monotonic clock
together, as a process frozen for that long sees them when it runs again: timers that fell due
meanwhile fire at once, and a request in flight times out. (Leaving the monotonic clock alone is
not an option: libfaketime 0.9.10 then fails Python's ``time.sleep`` with EINVAL.) The test
moves the simulators' own clock by the same amount, so the counters integrate the time that
passed (:meth:`FakeClock.advance`).
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["FakeClock", "libfaketime"]

# How often the processes re-read the offset (FAKETIME_CACHE_DURATION, seconds).
_REREAD = 1


def libfaketime() -> str | None:
    """The preload library, where Debian's package puts it; None when it is not installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    found += sorted(glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


class FakeClock:
    """The offset of the panel's wall clock, in whole seconds (libfaketime's ``+N`` spec)."""

    def __init__(self, folder: Path, library: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "faketime"
        self.library = library
        self.offset = 0
        self._write()

    def environment(self) -> dict[str, str]:
        """What a process needs in its environment to live on this clock."""
        preload = " ".join(p for p in (self.library, os.environ.get("LD_PRELOAD")) if p)
        return {
            "LD_PRELOAD": preload,
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_CACHE_DURATION": str(_REREAD),
        }

    def now(self) -> datetime:
        """The panel's time."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: int, simulators: Callable[[float], object]) -> None:
        """Move the panel's clock ``seconds`` forward, and the simulators' clock with it (they
        integrate their powers over the time passed). Returns once every process sees it."""
        if seconds <= 0:
            raise ValueError("a panel's clock only moves forward")
        # The clock first, the counters once every process reads the new time: the other way
        # round a poll in between stamps the later counter with the earlier time, and puts
        # energy into an hour before it was counted.
        self.offset += seconds
        self._write()
        time.sleep(_REREAD + 0.2)
        simulators(seconds)

    def advance_to(self, moment: datetime, simulators: Callable[[float], object]) -> None:
        """Move the panel's clock forward to ``moment`` (to the second)."""
        self.advance(max(1, round((moment - self.now()).total_seconds())), simulators)

    def _write(self) -> None:
        temporary = self.file.with_suffix(".new")
        temporary.write_text(f"+{self.offset}\n", encoding="ascii")
        temporary.replace(self.file)
