"""From the engine's snapshots to queue records: every poll as read, and the events between.

A :class:`LinePoller` owns one :class:`~hardware_bridge.terminal.LineTerminal` (the same engine
Home Assistant runs) and polls it on the intervals of its poll groups:

* ``fast`` every ``poll_interval`` (instantaneous values; an IEC meter's whole readout),
* ``slow`` every ``slow_interval`` (energy counters; Modbus lines only),
* ``io`` every ``io_interval`` for devices with relays or inputs.

Readings: every value a poll actually read (``DeviceSnapshot.read_keys``; a meter readout reads
everything) becomes one :class:`~hardware_bridge.uplink.Record` with the time of its poll — no
averaging, no carrying over of another group's values. Relays and inputs are not re-recorded
every second: their first state is a reading and each change an event (an input change is an
alarm); their state is recorded again as a reading every ``io_restate`` (half the send period).
Without that, a terminal whose relays and inputs do not change would have nothing to send: it
would never contact its server, so a relay command (which rides back on the reply to an upload)
would never reach it, and its readers would see its relays' state grow old and go unavailable.
A device that stops answering is an alarm event (``device_offline``, with the reason),
one that answers again an event (``device_online``). The poller hands records to a sink that
commits them to the queue; they count as taken only once that returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hardware_bridge.io import Clock, MainsMonitor, MainsState
from hardware_bridge.models import DeviceSnapshot, LineProtocol, PollGroup, Value
from hardware_bridge.terminal import LineTerminal, LineUnavailableError
from hardware_bridge.uplink import Record, RecordKind, RecordValue, StorageError

__all__ = [
    "TERMINAL_DEVICE",
    "LinePoller",
    "MainsWatch",
    "RecordSink",
    "event",
    "records_from_snapshot",
    "run_pollers",
]

_LOGGER = logging.getLogger(__name__)

TERMINAL_DEVICE = "terminal"
"""The device name of events that belong to the terminal itself (mains, GPIO, fail-safe)."""
PHASE_VOLTAGES = ("voltage_l1", "voltage_l2", "voltage_l3")
SINGLE_PHASE_VOLTAGE = "voltage"

type RecordSink = Callable[[Sequence[Record]], Awaitable[None]]
"""Commits records to the queue; returns once they are taken (raises if they could not be)."""


def _record_value(value: Value) -> RecordValue:
    """Queue values are numbers, booleans or text: times and dates travel as ISO 8601."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def event(
    device: str,
    key: str,
    value: RecordValue,
    at: datetime,
    *,
    alarm: bool = False,
    unit: str | None = None,
) -> Record:
    return Record(
        device=device, key=key, value=value, unit=unit, time=at, kind=RecordKind.EVENT, alarm=alarm
    )


def records_from_snapshot(
    snapshot: DeviceSnapshot,
    units: Mapping[str, str | None],
    at: datetime,
    *,
    skip: frozenset[str] = frozenset(),
) -> list[Record]:
    """The readings of one device's poll: only the keys this poll read, each as read."""
    if not snapshot.available:
        return []
    keys = snapshot.read_keys if snapshot.read_keys is not None else snapshot.values.keys()
    when = snapshot.last_success or at
    return [
        Record(
            device=snapshot.device_key,
            key=key,
            value=_record_value(snapshot.values.get(key)),
            unit=units.get(key),
            time=when,
        )
        for key in sorted(keys)
        if key not in skip
    ]


@dataclass(slots=True)
class MainsWatch:
    """Mains presence from one device's phase voltages; events on a confirmed change."""

    device: str
    monitor: MainsMonitor = field(default_factory=MainsMonitor)
    definite: MainsState | None = None

    def sample(self, snapshot: DeviceSnapshot, at: datetime) -> list[Record]:
        keys = [k for k in PHASE_VOLTAGES if k in snapshot.values] or [SINGLE_PHASE_VOLTAGE]
        read = snapshot.read_keys if snapshot.read_keys is not None else keys
        if snapshot.available and not any(k in read for k in keys):
            return []  # this poll did not read the voltages: it says nothing about mains
        voltages = [_volts(snapshot.values.get(k)) if snapshot.available else None for k in keys]
        return self.state(self.monitor.update_voltages(voltages, at), at)

    def contact(self, present: bool | None, at: datetime) -> list[Record]:
        return self.state(self.monitor.update_contact(present, at), at)

    def state(self, state: MainsState, at: datetime) -> list[Record]:
        if state is MainsState.UNKNOWN:
            return []
        previous, self.definite = self.definite, state
        if previous is state or (previous is None and state is MainsState.PRESENT):
            return []
        lost = state is MainsState.LOST
        if lost:
            _LOGGER.warning("Mains lost")
        else:
            _LOGGER.info("Mains back")
        # both are alarms: whoever was told of the loss wants to know it is over
        key = "mains_lost" if lost else "mains_restored"
        return [event(TERMINAL_DEVICE, key, True, at, alarm=True)]


def _volts(value: Value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(slots=True)
class _Schedule:
    group: PollGroup | None
    interval: float
    due: float = 0.0


class LinePoller:
    """Polls one line on its groups' intervals and passes what it read to ``sink``."""

    def __init__(
        self,
        name: str,
        terminal: LineTerminal,
        sink: RecordSink,
        *,
        clock: Clock,
        poll_interval: timedelta,
        slow_interval: timedelta,
        io_interval: timedelta,
        io_restate: timedelta | None = None,
        mains: MainsWatch | None = None,
        reopen_after: float = 30.0,
    ) -> None:
        self.name = name
        self.terminal = terminal
        self._sink = sink
        self._clock = clock
        self._mains = mains
        self._reopen_after = reopen_after
        self._open = False
        self._line_error_logged = False
        self._storage_error_logged = False
        self._available: dict[str, bool] = {}
        self._io_state: dict[tuple[str, str], Value] = {}
        self._io_restate = None if io_restate is None else io_restate.total_seconds()
        self._io_recorded: dict[str, float] = {}
        """When each device's relays and inputs were last recorded as readings (monotonic)."""
        self._units: dict[str, dict[str, str | None]] = {}
        self.polls = 0
        if terminal.config.protocol is LineProtocol.IEC62056:
            self._schedules = [_Schedule(None, poll_interval.total_seconds())]
        else:
            self._schedules = [
                _Schedule(PollGroup.SLOW, slow_interval.total_seconds()),
                _Schedule(PollGroup.FAST, poll_interval.total_seconds()),
            ]
            if self._io_keys():
                self._schedules.append(_Schedule(PollGroup.IO, io_interval.total_seconds()))

    def restate_io(self) -> None:
        """Record every relay's and input's state again at the next I/O poll: an upload asked
        for now then has something to carry, and a waiting relay command its reply."""
        self._io_recorded.clear()

    def _io_keys(self) -> dict[str, set[str]]:
        return self._group_keys(PollGroup.IO)

    def _group_keys(self, group: PollGroup) -> dict[str, set[str]]:
        """Per device, the keys of ``group`` (devices without any are not asked at all)."""
        out: dict[str, set[str]] = {}
        for device in self.terminal.device_keys:
            keys = {
                spec.key
                for spec in self.terminal.specs(device)
                if (spec.io is not None if group is PollGroup.IO else spec.group is group)
            }
            if keys:
                out[device] = keys
        return out

    def _inputs(self, device: str) -> set[str]:
        return {s.key for s in self.terminal.specs(device) if s.io == "input"}

    async def open(self) -> bool:
        """Open the line; False (logged once) when it cannot be opened yet."""
        try:
            await self.terminal.open()
        except LineUnavailableError as err:
            if not self._line_error_logged:
                _LOGGER.warning("Line %s cannot be opened: %s", self.name, err)
                self._line_error_logged = True
            return False
        if self._line_error_logged:
            _LOGGER.info("Line %s is open again", self.name)
        self._line_error_logged = False
        self._open = True
        return True

    async def close(self) -> None:
        self._open = False
        await self.terminal.close()

    async def run(self) -> None:
        """Poll until cancelled; the line is reopened when it is gone."""
        start = self._clock.monotonic()
        for schedule in self._schedules:
            schedule.due = start
        while True:
            if not self._open and not await self.open():
                await self._clock.sleep(self._reopen_after)
                continue
            now = self._clock.monotonic()
            due = [s for s in self._schedules if s.due <= now]
            if not due:
                await self._clock.sleep(min(s.due for s in self._schedules) - now)
                continue
            for schedule in due:
                try:
                    await self.poll_once(schedule.group)
                except StorageError as err:
                    # not taken: said loudly once, polled again at the next interval (the
                    # queue accepts appends again once the disk has room)
                    if not self._storage_error_logged:
                        _LOGGER.error("Line %s: readings not stored: %s", self.name, err)
                        self._storage_error_logged = True
                else:
                    if self._storage_error_logged:
                        _LOGGER.info("Line %s: readings are stored again", self.name)
                    self._storage_error_logged = False
                # the next poll is due one interval after this one was due, never in a burst
                schedule.due = max(schedule.due + schedule.interval, now)
            if self.terminal.line_error is not None:
                _LOGGER.warning(
                    "Line %s is gone (%s); reopening it", self.name, self.terminal.line_error
                )
                await self.close()

    async def poll_once(self, group: PollGroup | None) -> list[Record]:
        """One poll of ``group``; its records are committed before this returns."""
        wanted = None if group is None else self._group_keys(group)
        at = self._clock.wall()
        snapshots = await self.terminal.poll(group, wanted)
        self.polls += 1
        records: list[Record] = []
        for device, snapshot in snapshots.items():
            records.extend(self._availability(device, snapshot, at))
            if group is PollGroup.IO:
                records.extend(self._io_changes(device, snapshot, at))
            else:
                records.extend(records_from_snapshot(snapshot, self._unit_map(device), at))
            if self._mains is not None and self._mains.device == device:
                records.extend(self._mains.sample(snapshot, snapshot.last_success or at))
        if records:
            await self._sink(records)
        return records

    def _unit_map(self, device: str) -> dict[str, str | None]:
        units = self._units.get(device)
        specs = self.terminal.specs(device)
        if units is None or len(units) != len(specs):  # a meter's specs come with its readout
            units = self._units[device] = {spec.key: spec.unit for spec in specs}
        return units

    def _availability(self, device: str, snapshot: DeviceSnapshot, at: datetime) -> list[Record]:
        before = self._available.get(device)
        self._available[device] = snapshot.available
        if snapshot.available and before is False:
            return [event(device, "device_online", True, snapshot.last_success or at)]
        if not snapshot.available and before is not False:
            reason = (snapshot.last_error or "no answer")[:200]
            return [event(device, "device_offline", reason, at, alarm=True)]
        return []

    def _io_changes(self, device: str, snapshot: DeviceSnapshot, at: datetime) -> list[Record]:
        if not snapshot.available:
            return []
        when = snapshot.last_success or at
        inputs = self._inputs(device)
        now = self._clock.monotonic()
        recorded = self._io_recorded.get(device)
        restate = recorded is None or (
            self._io_restate is not None and now - recorded >= self._io_restate
        )
        out: list[Record] = []
        for key in sorted(snapshot.read_keys or ()):
            value = snapshot.values.get(key)
            seen = (device, key)
            if seen not in self._io_state or (
                restate and value is not None and self._io_state[seen] == value
            ):
                out.append(
                    Record(device=device, key=key, value=_record_value(value), unit=None, time=when)
                )
            elif self._io_state[seen] != value and value is not None:
                out.append(event(device, key, _record_value(value), when, alarm=key in inputs))
            if value is not None:
                self._io_state[seen] = value
        if restate:
            self._io_recorded[device] = now
        return out


async def run_pollers(pollers: Sequence[LinePoller]) -> None:
    """Run every poller until cancelled (one task per line: one owner per bus)."""
    async with asyncio.TaskGroup() as group:
        for poller in pollers:
            group.create_task(poller.run(), name=f"poll {poller.name}")
