"""Relay fail-safe enforced by the bridge itself, whatever the controller does.

Per relay, a :class:`RelayFailSafe` may set

* ``max_on``: the longest the relay may stay on. After it the relay is switched off, whoever
  switched it on (a pump must not run dry because an automation never ran). Its timer starts
  when the supervisor switches the relay on, or when it first sees it on.
* ``on_controller_loss``: the state to fall to when the controller (Home Assistant, later the
  uplink) has not renewed its heartbeat for ``controller_timeout`` seconds.

Every action is a :class:`FailSafeEvent` with its reason, kept in :attr:`FailSafeSupervisor.events`
and passed to subscribers. A fail-safe write that fails (or is not confirmed by read-back) is
reported and retried every ``retry_interval`` until it is confirmed — never dropped — unless
the controller, alive again, switches the relay itself.

The supervisor works over :class:`~hardware_bridge.io.Relay`, so it serves GPIO relays and
relays on Modbus I/O boards alike. Time comes from an injectable :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hardware_bridge.io._clock import Clock, SystemClock
from hardware_bridge.io._relay import Relay, RelayError

__all__ = [
    "FailSafeAction",
    "FailSafeEvent",
    "FailSafeSupervisor",
    "RelayFailSafe",
]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayFailSafe:
    """Fail-safe of one relay (both parts optional)."""

    max_on: float | None = None
    """Longest on-time in seconds; ``None``: no limit."""
    on_controller_loss: bool | None = None
    """State to fall to when the controller is gone; ``None``: leave the relay as it is."""

    def __post_init__(self) -> None:
        if self.max_on is not None and not (math.isfinite(self.max_on) and self.max_on > 0):
            raise ValueError(f"max_on must be a positive number of seconds, not {self.max_on!r}")


class FailSafeAction(enum.StrEnum):
    """What the supervisor did, or saw."""

    MAX_ON_TIME = "max_on_time"
    """A relay was switched off after its longest on-time."""
    CONTROLLER_LOST = "controller_lost"
    """No heartbeat for ``controller_timeout``; relay events of this kind are the fall-back."""
    CONTROLLER_BACK = "controller_back"
    """The controller renewed its heartbeat after being lost."""
    WRITE_FAILED = "write_failed"
    """A fail-safe write failed or was not confirmed; it will be retried."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FailSafeEvent:
    """One fail-safe action, for logs and Home Assistant events."""

    action: FailSafeAction
    relay: str | None
    """The relay concerned; ``None`` for controller events."""
    reason: str
    at: datetime
    state: bool | None = None
    """The state written (or being written)."""
    attempt: int = 1
    error: str | None = None


@dataclass(slots=True)
class _Pending:
    state: bool
    action: FailSafeAction
    reason: str
    attempts: int = 0
    next_try: float = -math.inf


@dataclass(slots=True)
class _Watched:
    relay: Relay
    policy: RelayFailSafe
    on_since: float | None = None
    pending: _Pending | None = None


class FailSafeSupervisor:
    """Enforces :class:`RelayFailSafe` on a set of relays; run it with :meth:`start`."""

    def __init__(
        self,
        relays: Iterable[Relay],
        policies: Mapping[str, RelayFailSafe],
        *,
        controller_timeout: float | None = None,
        clock: Clock | None = None,
        poll_interval: float = 5.0,
        retry_interval: float = 5.0,
        history: int = 200,
    ) -> None:
        relay_list = list(relays)
        names = {relay.name for relay in relay_list}
        if len(names) != len(relay_list):
            raise ValueError("fail-safe: relay names must be unique")
        unknown = sorted(set(policies) - names)
        if unknown:
            raise ValueError(f"fail-safe: policy for unknown relay(s) {', '.join(unknown)}")
        for what, value in (
            ("controller_timeout", controller_timeout),
            ("poll_interval", poll_interval),
            ("retry_interval", retry_interval),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"fail-safe: {what} must be > 0 s, not {value!r}")
        self._clock: Clock = clock or SystemClock()
        self._relays = {
            relay.name: _Watched(relay, policies.get(relay.name, RelayFailSafe()))
            for relay in relay_list
        }
        self.controller_timeout = controller_timeout
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.events: deque[FailSafeEvent] = deque(maxlen=history)
        self._listeners: list[Callable[[FailSafeEvent], None]] = []
        self._last_heartbeat = self._clock.monotonic()
        self._controller_lost = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- controller side -------------------------------------------------------------------

    @property
    def controller_present(self) -> bool:
        return not self._controller_lost

    def heartbeat(self) -> None:
        """The controller is alive (call at least every ``controller_timeout`` seconds)."""
        self._last_heartbeat = self._clock.monotonic()
        if self._controller_lost:
            self._controller_lost = False
            self._record(
                FailSafeAction.CONTROLLER_BACK, None, "heartbeat renewed", log=logging.INFO
            )

    async def switch(self, relay: str, on: bool) -> None:
        """Switch ``relay`` for the controller (confirmed; :class:`RelayError` if not).

        Counts as a heartbeat. A successful write replaces a fail-safe write still pending on
        that relay: the controller, present again, has decided.
        """
        watched = self._relays.get(relay)
        if watched is None:
            raise RelayError(relay, "no such relay")
        self.heartbeat()
        await watched.relay.write(on)
        watched.pending = None
        self._seen(watched, on, self._clock.monotonic())
        self._wake.set()

    def subscribe(self, listener: Callable[[FailSafeEvent], None]) -> Callable[[], None]:
        """Call ``listener`` with every event; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def relay_on_since(self, relay: str) -> float | None:
        """Monotonic time since which ``relay`` is known on (``None``: off or not seen on)."""
        return self._relays[relay].on_since

    # -- supervision -----------------------------------------------------------------------

    async def check(self) -> None:
        """One pass: detect a lost controller, read the relays, enforce, retry failed writes."""
        now = self._clock.monotonic()
        if (
            self.controller_timeout is not None
            and not self._controller_lost
            and now - self._last_heartbeat >= self.controller_timeout
        ):
            self._controller_lost = True
            reason = f"no heartbeat for {now - self._last_heartbeat:g} s"
            self._record(FailSafeAction.CONTROLLER_LOST, None, reason)
            for watched in self._relays.values():
                fallback = watched.policy.on_controller_loss
                if fallback is not None:
                    watched.pending = _Pending(
                        fallback, FailSafeAction.CONTROLLER_LOST, f"controller gone ({reason})"
                    )
        failed: BaseException | None = None
        for watched in self._relays.values():
            try:
                await self._check_relay(watched, now)
            except Exception as err:  # one faulty driver must not skip the others
                failed = failed or err
        if failed is not None:
            raise failed

    async def _check_relay(self, watched: _Watched, now: float) -> None:
        policy = watched.policy
        if policy.max_on is not None:  # only an on-time needs the state (a bus request)
            try:
                self._seen(watched, await watched.relay.read(), now)
            except RelayError as err:
                _LOGGER.debug("%s", err)  # keep what was last known; a write reports failure
        if (
            policy.max_on is not None
            and watched.on_since is not None
            and now - watched.on_since >= policy.max_on
            and (watched.pending is None or watched.pending.state)
        ):
            watched.pending = _Pending(
                False,
                FailSafeAction.MAX_ON_TIME,
                f"on for {now - watched.on_since:g} s, longest allowed {policy.max_on:g} s",
            )
        pending = watched.pending
        if pending is None or now < pending.next_try:
            return
        pending.attempts += 1
        try:
            await watched.relay.write(pending.state)
        except RelayError as err:
            pending.next_try = now + self.retry_interval
            self._record(
                FailSafeAction.WRITE_FAILED,
                watched.relay.name,
                f"{pending.action}: {pending.reason}; retry in {self.retry_interval:g} s",
                state=pending.state,
                attempt=pending.attempts,
                error=str(err),
            )
            return
        watched.pending = None
        self._seen(watched, pending.state, self._clock.monotonic())
        self._record(
            pending.action,
            watched.relay.name,
            pending.reason,
            state=pending.state,
            attempt=pending.attempts,
        )

    def _seen(self, watched: _Watched, on: bool, now: float) -> None:
        if not on:
            watched.on_since = None
        elif watched.on_since is None:
            watched.on_since = now

    def next_due(self) -> float:
        """Monotonic time of the next pass: the nearest deadline or the next poll."""
        now = self._clock.monotonic()
        due = now + self.poll_interval
        if self.controller_timeout is not None and not self._controller_lost:
            due = min(due, self._last_heartbeat + self.controller_timeout)
        for watched in self._relays.values():
            if watched.pending is not None:
                due = min(due, watched.pending.next_try)
            if watched.policy.max_on is not None and watched.on_since is not None:
                due = min(due, watched.on_since + watched.policy.max_on)
        return max(due, now)

    async def run(self) -> None:
        """Check, then wait for the next deadline or a controller command; forever."""
        while True:
            self._wake.clear()
            try:
                await self.check()
            except Exception:
                # A relay driver raising something unexpected must not end the protection
                # of every relay: log it with its traceback and keep supervising.
                _LOGGER.exception(
                    "fail-safe check failed; checking again in %g s", self.retry_interval
                )
                await self._clock.sleep(self.retry_interval)
                continue
            delay = self.next_due() - self._clock.monotonic()
            if delay <= 0:
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` in a task (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="smartpower relay fail-safe")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise

    def _record(
        self,
        action: FailSafeAction,
        relay: str | None,
        reason: str,
        *,
        state: bool | None = None,
        attempt: int = 1,
        error: str | None = None,
        log: int = logging.WARNING,
    ) -> None:
        event = FailSafeEvent(
            action=action,
            relay=relay,
            reason=reason,
            at=self._clock.wall(),
            state=state,
            attempt=attempt,
            error=error,
        )
        self.events.append(event)
        _LOGGER.log(
            log,
            "fail-safe %s%s: %s%s",
            action,
            f" relay {relay!r} -> {'on' if state else 'off'}" if relay else "",
            reason,
            f" (attempt {attempt}: {error})" if error else "",
        )
        for listener in list(self._listeners):
            listener(event)
