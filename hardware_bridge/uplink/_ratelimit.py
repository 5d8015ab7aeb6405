"""Failed claims (Modem No + auth code) are limited per client and per modem.

A 10-character auth code from a 31-symbol alphabet has about 2^49 values; at the default five
failures per client and twenty per modem every fifteen minutes, guessing one takes longer than
any terminal lives. The per-modem limit stops guesses spread over many addresses; its price is
that a flood of wrong guesses can hold the owner off for one window, which is why it is higher
than the per-client limit and the window is short.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["ClaimRateLimiter"]


class _Window:
    """The times of the last ``limit`` failures of one key."""

    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, now: float) -> float:
        times = self.failures.get(key)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def add(self, key: str, now: float) -> None:
        times = self.failures.pop(key, None)
        if times is None:
            times = deque(maxlen=self.limit)
        times.append(now)
        self.failures[key] = times  # most recently failed last
        while len(self.failures) > self.max_keys:
            self.failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self.failures.pop(key, None)


class ClaimRateLimiter:
    """``per_client`` failures from one client (its address) or ``per_modem`` failures for one
    Modem No within ``window`` seconds block further attempts until the oldest of them leaves
    the window.

    The API asks :meth:`retry_after` before checking a code (answering 429 with
    ``Retry-After`` when it is not None), then reports the outcome with :meth:`failure` or
    :meth:`success`. ``clock`` is a monotonic clock in seconds (tests move it by hand). At most
    ``max_keys`` clients and modems are remembered each, the longest quiet forgotten first, so
    a flood of addresses cannot grow memory without bound.
    """

    def __init__(
        self,
        *,
        per_client: int = 5,
        per_modem: int = 20,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if per_client < 1 or per_modem < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limits, window and max_keys must be positive")
        self._clock = clock
        self._clients = _Window(per_client, window, max_keys)
        self._modems = _Window(per_modem, window, max_keys)

    def retry_after(self, client: str, modem_no: str) -> int | None:
        """Whole seconds to wait before the next attempt may be checked, or None when it may
        be checked now."""
        now = self._clock()
        wait = max(self._clients.retry_after(client, now), self._modems.retry_after(modem_no, now))
        return math.ceil(wait) if wait > 0 else None

    def failure(self, client: str, modem_no: str) -> None:
        now = self._clock()
        self._clients.add(client, now)
        self._modems.add(modem_no, now)

    def success(self, client: str, modem_no: str) -> None:
        """A right code: this client starts afresh (other clients' failures still count
        against the modem)."""
        self._clients.clear(client)
