"""Dry-contact inputs: level and edge events with times, and a debouncer for polled inputs.

GPIO lines debounce in the kernel and report edges; inputs on a Modbus I/O board are polled
and bounce as read. Both end up as :class:`InputEvent`\\ s (an edge: the new level and when)
and an :class:`InputState` (the level now and since when; ``None`` when not known).

:class:`InputDebouncer` accepts a new level only once every poll has seen it for ``debounce``
seconds; a poll that failed (``None``) says nothing about the contact and neither confirms
nor cancels a change. After ``stale_after`` seconds without a good poll the level becomes
unknown (an unreachable board does not keep reporting its last contact state as fact).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Edge", "InputDebouncer", "InputEvent", "InputState"]


class Edge(enum.StrEnum):
    """Direction of a change of an input's *logical* level (after inversion)."""

    RISING = "rising"
    """Became active (contact closed, for a normally-open contact)."""
    FALLING = "falling"
    """Became inactive."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InputEvent:
    """An input changed level."""

    input: str
    active: bool
    at: datetime

    @property
    def edge(self) -> Edge:
        return Edge.RISING if self.active else Edge.FALLING


@dataclass(frozen=True, slots=True, kw_only=True)
class InputState:
    """An input's logical level and since when (``None``: not known)."""

    active: bool | None
    since: datetime | None = None


UNKNOWN = InputState(active=None)


class InputDebouncer:
    """Software debounce and inversion for a polled input.

    Feed every poll to :meth:`update` with the raw level (``None`` when the read failed) and
    the monotonic time of the poll (seconds) plus its wall time. It returns an
    :class:`InputEvent` when the debounced logical level changes.
    """

    def __init__(
        self,
        name: str,
        *,
        debounce: float = 0.05,
        invert: bool = False,
        stale_after: float | None = None,
    ) -> None:
        if debounce < 0:
            raise ValueError(f"input {name!r}: debounce must be >= 0 s, not {debounce!r}")
        if stale_after is not None and stale_after <= 0:
            raise ValueError(f"input {name!r}: stale_after must be > 0 s, not {stale_after!r}")
        self.name = name
        self.debounce = debounce
        self.invert = invert
        self.stale_after = stale_after
        self._state = UNKNOWN
        self._candidate: bool | None = None
        self._candidate_since = 0.0
        self._candidate_wall: datetime | None = None
        self._last_good: float | None = None

    @property
    def state(self) -> InputState:
        return self._state

    def update(self, raw: bool | None, now: float, at: datetime) -> InputEvent | None:
        """One poll: ``raw`` electrical level (``None``: read failed) at ``now``/``at``."""
        if raw is None:
            self._expire(now, at)
            return None
        self._last_good = now
        level = raw != self.invert
        if level == self._state.active:
            self._candidate = None
            return None
        if self._candidate != level:
            self._candidate = level
            self._candidate_since = now
            self._candidate_wall = at
        if self._state.active is not None and now - self._candidate_since < self.debounce:
            return None
        # The first good poll after start (or after unknown) is taken as it is: there is no
        # earlier level for it to bounce against, and it is an honest report of the contact.
        first = self._state.active is None
        since = at if first else self._candidate_wall
        self._state = InputState(active=level, since=since)
        self._candidate = None
        if first:
            return None
        return InputEvent(input=self.name, active=level, at=since or at)

    def _expire(self, now: float, at: datetime) -> None:
        if (
            self.stale_after is not None
            and self._last_good is not None
            and now - self._last_good >= self.stale_after
        ):
            self._state = InputState(active=None, since=at)
            self._candidate = None
