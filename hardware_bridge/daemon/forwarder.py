"""Store-and-forward: when to hand the queue's batches to the uplink, and what to do on failure.

The :class:`Uplink` is the seam to the server: ``await uplink.send(batch)`` delivers one
:class:`OutgoingBatch` and returns the highest sequence number the server acknowledged (any
exception means nothing was acknowledged). How a batch is encoded and carried (gzip, HTTP,
the upload secret) is the uplink's business, not the forwarder's.

The :class:`Forwarder`:

* sends every ``send_period``, at once when an alarm is queued, and at once on
  :meth:`Forwarder.upload_now` (``smartpower-bridge upload-now``, SIGUSR1). An upload asked
  for while nothing is queued (right after a start, or between polls) waits for the next
  record, up to :data:`UPLOAD_NOW_HOLD`, instead of passing as a contact that never happened:
  relay commands ride back on the reply to an upload;
* sends batch after batch, strictly in sequence order, until the queue is empty;
* acknowledges in the queue only what the server acknowledged — the queue keeps the rest, so a
  batch not acknowledged is sent again with the same sequence numbers;
* after a failure waits with exponential back-off and jitter (``base·2ⁿ``, capped at the send
  period or 30 minutes, whichever is shorter, scaled by a random 50–100 %) so a fleet of
  terminals coming back after an outage does not hit the server in step. Alarms wait for the
  back-off too (the server is unreachable either way); ``upload-now`` does not.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hardware_bridge.io import Clock
from hardware_bridge.uplink import AsyncReadingQueue, QueuedRecord, StorageError

__all__ = ["CellularReport", "Forwarder", "OutgoingBatch", "Uplink"]

_LOGGER = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=30)
UPLOAD_NOW_HOLD = 30.0
"""Seconds an upload asked for with nothing queued waits for the next record."""
UPLOAD_NOW_RECHECK = 1.0
"""Seconds between looks at the queue meanwhile."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CellularReport:
    """The modem's state as last seen (sent with every batch); None fields: not reported."""

    registration: str | None
    operator: str | None
    access_technology: str | None
    signal_dbm: int | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingBatch:
    """The oldest unacknowledged records, in order, and who sends them.

    ``queue_id`` changes only when the terminal's queue was made anew (its sequence numbers
    restarted); with ``first_seq`` … ``last_seq`` it makes a repeated upload recognisable.
    """

    modem_no: str
    queue_id: str
    first_seq: int
    last_seq: int
    records: tuple[QueuedRecord, ...]
    urgent: bool
    cellular: CellularReport | None = None


class Uplink(Protocol):
    """Delivers a batch to the server; returns the sequence number acknowledged up to."""

    async def send(self, batch: OutgoingBatch) -> int: ...


class Forwarder:
    """Runs the upload schedule for one queue and one uplink; see the module docstring."""

    def __init__(
        self,
        queue: AsyncReadingQueue,
        uplink: Uplink,
        *,
        modem_no: str,
        send_period: timedelta,
        clock: Clock,
        jitter: Callable[[], float] = random.random,
        backoff_base: float = 5.0,
        batch_records: int = 50_000,
        batch_bytes: int = 4 * 1024 * 1024,
        cellular: Callable[[], CellularReport | None] = lambda: None,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._uplink = uplink
        self._modem_no = modem_no
        self.send_period = send_period.total_seconds()
        self._clock = clock
        self._jitter = jitter
        self._backoff_base = backoff_base
        self._backoff_max = max(backoff_base, min(self.send_period, MAX_BACKOFF.total_seconds()))
        # A period's records in one batch where they fit: every batch costs its own
        # headers and its own gzip dictionary (1,000-record batches cost half again in bytes).
        self._batch_records = batch_records
        self._batch_bytes = batch_bytes
        self._cellular = cellular
        self._on_delivered = on_delivered
        self._wake = asyncio.Event()
        self._now_requested = False
        self._now_until: float | None = None
        self._batches = 0
        """Batches the server acknowledged (part of), since the start."""
        self._alarm = False
        self.failures = 0
        self.last_upload: datetime | None = None
        """When the server last acknowledged something."""
        self.last_error: str | None = None
        """Why the last attempt failed (None after a success)."""
        self.last_attempt: datetime | None = None
        self.retry_at: float | None = None
        self.delivered = 0

    # -- triggers ------------------------------------------------------------------------------

    def upload_now(self) -> None:
        """Send at once, whatever the period or the back-off (what is queued, or else the next
        record queued within :data:`UPLOAD_NOW_HOLD`)."""
        self._now_requested = True
        self._now_until = self._clock.monotonic() + UPLOAD_NOW_HOLD
        self._wake.set()

    def alarm(self) -> None:
        """An alarm was queued: send at once (after the back-off, if one runs)."""
        self._alarm = True
        self._wake.set()

    # -- the schedule --------------------------------------------------------------------------

    def _backoff(self) -> float:
        delay = min(self._backoff_max, self._backoff_base * 2 ** min(self.failures - 1, 30))
        return float(delay * (0.5 + 0.5 * self._jitter()))

    async def _wait(self, until: float, *, alarms: bool) -> None:
        """Sleep until ``until`` on the clock, or until a trigger that may cut it short."""
        while True:
            if self._now_requested or (alarms and self._alarm):
                return
            remaining = until - self._clock.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            sleeper = asyncio.ensure_future(self._clock.sleep(remaining))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    async def run(self) -> None:
        """Send what is pending at once (a restart may follow an outage), then on schedule."""
        next_due = self._clock.monotonic()
        while True:
            if self.retry_at is not None:
                await self._wait(self.retry_at, alarms=False)
            else:
                await self._wait(next_due, alarms=True)
            started = self._clock.monotonic()
            asked_now = self._now_requested
            hold = self._now_until
            self._now_requested = self._alarm = False
            batches = self._batches
            try:
                delivered = await self.flush()
            except StorageError as err:  # e.g. a full disk refused the acknowledgement
                self._failed(str(err))
                delivered = False
            if self._batches > batches:
                if self._now_until == hold:  # not asked for again while sending
                    self._now_until = None
            elif asked_now and self._now_until is not None and started < self._now_until:
                # upload-now found the queue empty: the next poll will queue something
                await self._clock.sleep(UPLOAD_NOW_RECHECK)
                self._now_requested = True
                continue
            if delivered:
                self.retry_at = None
                if started >= next_due:
                    periods = int((started - next_due) // self.send_period) + 1
                    next_due += periods * self.send_period
            else:
                self.retry_at = self._clock.monotonic() + self._backoff()

    async def flush(self) -> bool:
        """Send batches until the queue is empty; False at the first failure."""
        while True:
            batch = await self._queue.next_batch(self._batch_records, self._batch_bytes)
            if batch is None:
                return True
            stats = await self._queue.stats()
            outgoing = OutgoingBatch(
                modem_no=self._modem_no,
                queue_id=stats.queue_id,
                first_seq=batch.first_seq,
                last_seq=batch.last_seq,
                records=batch.records,
                urgent=batch.urgent,
                cellular=self._cellular(),
            )
            self.last_attempt = self._clock.wall()
            try:
                acked = await self._uplink.send(outgoing)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # any failure of the uplink is one to retry
                self._failed(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
                return False
            if acked < batch.first_seq:
                self._failed(
                    f"the server acknowledged nothing of {batch.first_seq}..{batch.last_seq}"
                )
                return False
            acked = min(acked, batch.last_seq)
            self._batches += 1
            self.delivered += await self._queue.acknowledge(acked)
            self.last_upload = self._clock.wall()
            if self.failures:
                _LOGGER.info("Uploads work again after %d failed attempts", self.failures)
            self.failures = 0
            self.last_error = None
            if self._on_delivered is not None:
                self._on_delivered()

    def _failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason[:300]
        if self.failures == 1:
            _LOGGER.warning("Upload failed, readings stay queued and are retried: %s", reason)
        else:
            _LOGGER.debug("Upload attempt %d failed: %s", self.failures, reason)
