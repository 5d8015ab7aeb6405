"""A terminal behind the SmartPower API, seen through the small interface of the in-process
``LineTerminal`` (device keys, specs, snapshots, poll, relay write), so that ``LineHub``, its
coordinators and every entity serve local and remote terminals alike.

Values come from the readings the terminal uploaded: the event stream brings them as they
arrive, and ``/latest`` is fetched when the stream is down (and now and then while it runs). A
device's values are trusted only while its newest reading is younger than two send periods.
A relay command reaches the terminal through its wait for commands (within seconds), or else on
its next upload: until the terminal reports it done the relay shows the state the terminal last
confirmed, and the command is pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.util import dt as dt_util

from hardware_bridge import (
    Alarm,
    Command,
    CommandRequest,
    CommandStatus,
    DeviceInfo,
    DeviceSnapshot,
    MeasurementSpec,
    PollGroup,
    Reading,
    SmartPowerClient,
    SmartPowerError,
    TerminalDescription,
    Unauthorized,
    Value,
)

from .const import DOMAIN

__all__ = [
    "COMMAND_FAILED",
    "COMMAND_PENDING",
    "FALLBACK_POLL",
    "RemoteTerminal",
    "description_specs",
]

_LOGGER = logging.getLogger(__name__)

FALLBACK_POLL = timedelta(minutes=5)
"""How often ``/latest`` is fetched while the event stream runs (and the poll interval)."""
REUSE = timedelta(seconds=2)
"""A fetch this recent serves the other poll groups' coordinators too."""
STALE_PERIODS = 2
"""A device's data older than this many send periods is not shown."""
COMMAND_PENDING = "pending"
COMMAND_FAILED = "failed"


@dataclass(frozen=True, slots=True)
class _Where:
    port: str
    """Named like a serial line's port: where the line's messages say the terminal is."""


@dataclass(frozen=True, slots=True)
class RemoteLineConfig:
    """What ``LineHub`` reads of a line's configuration; a remote terminal has no profiles
    here (its description says everything) and is no IEC line."""

    serial: _Where
    devices: tuple[()] = ()
    protocol: None = None


def description_specs(description: TerminalDescription) -> dict[str, tuple[MeasurementSpec, ...]]:
    """Each device's values as the bridge's specs: its points, then its relays and inputs."""
    out: dict[str, tuple[MeasurementSpec, ...]] = {}
    for device in description.devices:
        specs = [point.to_spec() for point in device.points]
        specs.extend(
            MeasurementSpec(
                key=io.key,
                name=io.name,
                kind="bool",
                group=PollGroup.IO,
                io="relay" if io.kind == "relay" else "input",
            )
            for io in device.io
        )
        out[device.key] = tuple(specs)
    return out


def _value(spec: MeasurementSpec, reading: Reading) -> Value:
    """The reading as the spec's kind, or None when it is not one (never a guessed value)."""
    raw = reading.value
    if raw is None:
        return None
    if spec.kind == "bool":
        return raw if isinstance(raw, bool) else None
    if spec.kind == "text":
        return raw if isinstance(raw, str) else None
    if spec.kind == "timestamp":
        return dt_util.parse_datetime(raw) if isinstance(raw, str) else None
    if spec.kind == "date":
        return dt_util.parse_date(raw) if isinstance(raw, str) else None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return raw


class RemoteTerminal:
    """One modem at a SmartPower server or daemon, for ``LineHub``."""

    def __init__(
        self,
        client: SmartPowerClient,
        description: TerminalDescription,
        where: str,
        clock: Callable[[], datetime] = dt_util.utcnow,
    ) -> None:
        self.client = client
        self.modem_no = description.modem_no
        self.description = description
        self.config = RemoteLineConfig(serial=_Where(port=where))
        self.clock = clock
        self.line_error: str | None = None
        self.live = False
        """The event stream is connected (``/latest`` is then only a fallback)."""
        self._specs = description_specs(description)
        self._by_key = {k: {s.key: s for s in specs} for k, specs in self._specs.items()}
        self._names = {d.key: d.name for d in description.devices}
        self._io = {(d.key, io.key) for d in description.devices for io in d.io}
        self._info = {
            d.key: DeviceInfo(
                manufacturer=d.manufacturer,
                model=d.model,
                serial_number=d.serial_number,
                sw_version=d.sw_version,
            )
            for d in description.devices
        }
        self._readings: dict[str, dict[str, Reading]] = {}
        self._snapshots: dict[str, DeviceSnapshot] = {}
        """Worked out once per change: every entity asks for its device's availability."""
        self._fetched: datetime | None = None
        self._stale: set[str] = set()
        self._unit_mismatch: set[tuple[str, str]] = set()
        self._commands: dict[tuple[str, str], Command] = {}
        self._done: list[tuple[str, str]] = []
        self._unknown: set[tuple[str, str]] = set()
        self.description_outdated = False
        """A reading of a device or value the description does not have came in: the
        terminal was set up anew, and its description may say more now."""
        self.failed_commands: list[Command] = []
        """Commands the terminal did not carry out, not yet reported (see ``take_failures``)."""

    @property
    def last_contact(self) -> datetime | None:
        """The time of the newest reading of any device (None: none at all)."""
        return max(
            (r.time for readings in self._readings.values() for r in readings.values()),
            default=None,
        )

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=STALE_PERIODS * self.description.send_period)

    # -- the LineTerminal interface LineHub uses ------------------------------------------
    @property
    def device_keys(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def specs(self, device_key: str) -> tuple[MeasurementSpec, ...]:
        return self._specs.get(device_key, ())

    def device_name(self, device_key: str) -> str:
        return self._names.get(device_key, device_key)

    async def open(self) -> None:
        self._fetched = None  # the next poll asks the server again

    async def close(self) -> None:
        """Nothing to close: the HTTP session is Home Assistant's."""

    async def poll(
        self, group: PollGroup, wanted: Mapping[str, Collection[str]]
    ) -> dict[str, DeviceSnapshot]:
        """Every device's snapshot; ``/latest`` is fetched unless the stream is live and
        the last fetch is recent. A refused token starts the reauth flow."""
        now = self.clock()
        self.line_error = None
        if self._fetched is None or now - self._fetched >= (FALLBACK_POLL if self.live else REUSE):
            try:
                page = await self.client.latest(self.modem_no)
            except Unauthorized as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN,
                    translation_key="remote_token_rejected",
                    translation_placeholders={
                        "url": self.config.serial.port,
                        "modem_no": self.modem_no,
                    },
                ) from err
            except SmartPowerError as err:
                self.line_error = str(err)
                return {}
            self._fetched = now
            self.take(page.readings)
            await self._check_commands()
        self._snapshots.clear()  # time went on: data may have gone stale
        return {k: s for k in self.device_keys if (s := self.snapshot(k)) is not None}

    def snapshot(self, device_key: str) -> DeviceSnapshot | None:
        if device_key not in self._specs:
            return None
        if (cached := self._snapshots.get(device_key)) is None:
            cached = self._snapshots[device_key] = self._snapshot(device_key)
        return cached

    def _snapshot(self, device_key: str) -> DeviceSnapshot:
        readings = self._readings.get(device_key, {})
        newest = max((r.time for r in readings.values()), default=None)
        now = self.clock()
        available = newest is not None and now - newest <= self.stale_after
        if self._fetched is not None:  # what the server holds is known
            self._note_staleness(device_key, available, newest)
        values: dict[str, Value] = {}
        if available:
            specs = self._by_key[device_key]
            for key, reading in readings.items():
                if (spec := specs.get(key)) is not None:
                    values[key] = self._checked_value(device_key, spec, reading)
            for (dev, key), command in self._commands.items():
                if dev == device_key and command.status is CommandStatus.SUCCEEDED:
                    seen = readings.get(key)
                    if seen is None or seen.time < command.updated:
                        values[key] = command.confirmed_state
        return DeviceSnapshot(
            device_key=device_key,
            available=available,
            values=values,
            info=self._info[device_key],
            last_success=newest,
            last_error=None if available else "no recent data from the terminal",
        )

    async def write(self, device_key: str, key: str, on: bool) -> bool | None:
        """Queue the command; the relay keeps showing what the terminal confirmed."""
        try:
            command = await self.client.send_command(
                self.modem_no, CommandRequest(device=device_key, key=key, state=on)
            )
        except SmartPowerError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="remote_command_refused",
                translation_placeholders={
                    "relay": f"{self.device_name(device_key)} {key}",
                    "error": str(err),
                },
            ) from err
        self._commands[(device_key, key)] = command
        self._snapshots.pop(device_key, None)
        snapshot = self.snapshot(device_key)
        value = snapshot.values.get(key) if snapshot is not None else None
        return value if isinstance(value, bool) else None

    # -- what the server sends ------------------------------------------------------------
    def take(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            if reading.key not in self._by_key.get(reading.device, {}):
                if (reading.device, reading.key) not in self._unknown:
                    self._unknown.add((reading.device, reading.key))
                    self.description_outdated = True
                continue
            known = self._readings.setdefault(reading.device, {})
            old = known.get(reading.key)
            if old is None or reading.time >= old.time:
                known[reading.key] = reading
                self._snapshots.pop(reading.device, None)

    def take_alarm(self, alarm: Alarm) -> bool:
        """A terminal sends a relay's or an input's change as an alarm saying its new state:
        taken as that point's value. False for an alarm that is no such state."""
        device, key = alarm.device, alarm.key
        if device is None or key is None or (device, key) not in self._io:
            return False
        if not isinstance(alarm.value, bool):
            return False
        reading = Reading(device=device, key=key, value=alarm.value, unit=None, time=alarm.time)
        self.take([reading])
        return True

    def take_command(self, command: Command) -> None:
        """A command's new status (from the event stream or a look-up)."""
        slot = (command.device, command.key)
        current = self._commands.get(slot)
        if current is None or current.id != command.id:
            return  # an older command, or one another client sent
        self._commands[slot] = command
        self._snapshots.pop(command.device, None)
        if command.status is CommandStatus.SUCCEEDED:
            self._done.append(slot)
        if command.status in (CommandStatus.FAILED, CommandStatus.EXPIRED):
            self.failed_commands.append(command)
            del self._commands[slot]

    def command_state(self, device_key: str, key: str) -> str | None:
        """``pending`` while the terminal has not carried out the last command."""
        command = self._commands.get((device_key, key))
        if command is None or command.status is CommandStatus.SUCCEEDED:
            return None
        return COMMAND_PENDING

    def take_failures(self) -> list[Command]:
        failures, self.failed_commands = self.failed_commands, []
        return failures

    def take_done(self) -> list[tuple[str, str]]:
        """The relays whose last command the terminal carried out, since last asked."""
        done, self._done = self._done, []
        return done

    async def _check_commands(self) -> None:
        """Look up the commands still open. One the terminal has not carried out although it
        sent data a whole send period after the command was made has failed."""
        for slot, command in list(self._commands.items()):
            if command.status is CommandStatus.SUCCEEDED:
                continue
            try:
                self.take_command(await self.client.command(self.modem_no, command.id))
            except SmartPowerError as err:
                _LOGGER.debug("Command %s: no status (%s)", command.id, err)
            current = self._commands.get(slot)
            if current is None or current.status is CommandStatus.SUCCEEDED:
                continue
            readings = self._readings.get(slot[0], {}).values()
            contact = max((r.time for r in readings), default=None)
            period = timedelta(seconds=self.description.send_period)
            if contact is not None and contact > current.created + period:
                self.failed_commands.append(current)
                del self._commands[slot]

    # -- checks -------------------------------------------------------------------------
    def _checked_value(self, device_key: str, spec: MeasurementSpec, reading: Reading) -> Value:
        if reading.unit is not None and spec.unit is not None and reading.unit != spec.unit:
            if (device_key, spec.key) not in self._unit_mismatch:
                self._unit_mismatch.add((device_key, spec.key))
                _LOGGER.warning(
                    "%s %s: the server sends %s, the description says %s; not shown",
                    self.device_name(device_key),
                    spec.key,
                    reading.unit,
                    spec.unit,
                )
            return None
        return _value(spec, reading)

    def _note_staleness(self, device_key: str, available: bool, newest: datetime | None) -> None:
        """The reason a device goes unavailable, in the log once per outage."""
        if available:
            if device_key in self._stale:
                self._stale.discard(device_key)
                _LOGGER.info(
                    "%s: the terminal's data is recent again", self.device_name(device_key)
                )
            return
        if device_key in self._stale:
            return
        self._stale.add(device_key)
        _LOGGER.warning(
            "%s: unavailable, the terminal's newest data is from %s, older than two send "
            "periods (%s s each)",
            self.device_name(device_key),
            dt_util.as_local(newest).isoformat(timespec="seconds") if newest else "never",
            self.description.send_period,
        )
