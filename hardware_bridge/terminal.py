"""The acquisition engine for one serial line: the single owner of the bus.

A :class:`LineTerminal` reads the meters (IEC 62056-21) or the Modbus devices configured on
one line and hands out protocol-neutral :class:`~hardware_bridge.models.DeviceSnapshot` values.
Home Assistant and the daemon talk to this small surface only (open, poll, specs, close), so a
remote terminal reached over the network can stand in for it later.

Rules it keeps:

* one task talks to the port — polls are serialised by a lock;
* a device that fails is unavailable with its reason; its values are ``None``, never ``0``;
* values a poll did not ask for (the other poll group, disabled keys) keep their last reading.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Literal, Self

from hardware_bridge.iec62056 import ClientSettings, IecError, LineError, MeterClient, OptionMode
from hardware_bridge.meter_clock import parse_meter_date_time, parse_meter_stamp
from hardware_bridge.modbus import (
    DataType,
    ModbusBus,
    ModbusConnectionError,
    ModbusReadBackMismatch,
    ModbusWriteError,
    Point,
    Profile,
    ProfileCatalogue,
    ScanHit,
    load_catalogue,
)
from hardware_bridge.models import (
    BillingPeriod,
    DeviceInfo,
    DeviceSnapshot,
    LineProtocol,
    MeasurementSpec,
    PollGroup,
    Value,
)
from hardware_bridge.obis import (
    OBIS_TABLE,
    MeterValues,
    ObisDefinition,
    map_datasets,
    normalise_code,
)
from hardware_bridge.precision import display_precision, resolution_decimals
from hardware_bridge.serial_line import SerialSettings

__all__ = [
    "LineConfig",
    "LineTerminal",
    "LineUnavailableError",
    "MeterConfig",
    "ModbusDeviceConfig",
    "manufacturer_name",
    "meter_specs",
    "profile_specs",
    "scan_modbus_line",
]

_LOGGER = logging.getLogger(__name__)

# IEC 62056-21 manufacturer codes (FLAG ids) seen on meters in Türkiye and Europe.
_MANUFACTURERS: Mapping[str, str] = {
    "EMH": "EMH metering",
    "ELS": "Elster",
    "ISK": "Iskraemeco",
    "ITR": "Itron",
    "LGZ": "Landis+Gyr",
    "LUN": "Luna Elektrik",
    "MSY": "Makel",
}


def manufacturer_name(code: str) -> str:
    """``"MSY"`` → ``"Makel"``; unknown codes are returned as they are."""
    return _MANUFACTURERS.get(code.upper(), code)


class LineUnavailableError(Exception):
    """The serial port cannot be opened (missing, busy, no permission)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterConfig:
    """An IEC 62056-21 meter on the line; ``address`` empty means the plain ``/?!`` sign-on."""

    key: str
    address: str = ""
    mode: Literal["full", "short"] = "full"
    max_baud: int = 9600
    name: str | None = None
    """What log lines call the meter (the key when None)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusDeviceConfig:
    key: str
    device_id: int
    profile_id: str
    name: str | None = None
    """What log lines call the device (the key when None)."""

    def __post_init__(self) -> None:
        if not 1 <= self.device_id <= 247:
            raise ValueError(f"Modbus address must be 1..247, not {self.device_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LineConfig:
    """One serial line and what hangs on it."""

    protocol: LineProtocol
    serial: SerialSettings
    meters: tuple[MeterConfig, ...] = ()
    devices: tuple[ModbusDeviceConfig, ...] = ()
    timeout: float = 0.5
    """Modbus: seconds to wait for an answer."""
    meter_reaction_timeout: float = 1.5
    """IEC 62056-21: seconds a meter may take to answer (the standard allows 1.5 s)."""
    retries: int = 1
    profiles_dir: str | None = None
    meter_timezone: tzinfo | None = None
    """Time zone the meters' clocks keep (Home Assistant's); None means the host's."""

    def __post_init__(self) -> None:
        ids = [d.device_id for d in self.devices]
        if len(ids) != len(set(ids)):
            raise ValueError("two Modbus devices share an address on one line")
        keys = [m.key for m in self.meters] + [d.key for d in self.devices]
        if len(keys) != len(set(keys)):
            raise ValueError("device keys on one line must be unique")


# OBIS kind → the spec's kind: counts are numbers without decimals; a time of day stays text.
_SPEC_KINDS: Mapping[str, Literal["number", "bool", "text", "timestamp", "date"]] = {
    "number": "number",
    "integer": "number",
    "flag": "bool",
    "date": "date",
    "timestamp": "timestamp",
    "time": "text",
    "text": "text",
}


def _spec_from_obis(definition: ObisDefinition, unit: str | None = None) -> MeasurementSpec:
    unit = unit if unit is not None else definition.unit
    stated = 0 if definition.kind == "integer" else definition.precision
    precision = display_precision(unit, definition.device_class, stated=stated)
    return MeasurementSpec(
        key=definition.key,
        name=definition.name,
        unit=unit,
        device_class=definition.device_class,
        state_class=definition.state_class,
        kind=_SPEC_KINDS[definition.kind],
        group=PollGroup.SLOW,
        diagnostic=definition.kind != "number",
        precision=precision if definition.kind in ("number", "integer") else None,
    )


def meter_specs(keys: Collection[str] | None = None) -> tuple[MeasurementSpec, ...]:
    """Specs of the OBIS measurements (only ``keys`` if given), one per key."""
    seen: dict[str, MeasurementSpec] = {}
    for definition in OBIS_TABLE.values():
        if definition.key in seen or (keys is not None and definition.key not in keys):
            continue
        seen[definition.key] = _spec_from_obis(definition)
    return tuple(seen.values())


def profile_specs(profile: Profile) -> tuple[MeasurementSpec, ...]:
    """Specs of every value a Modbus profile yields (points and their bits, relays, inputs)."""
    specs: list[MeasurementSpec] = []
    for point in profile.points:
        group = PollGroup(point.group)
        if not point.bits or point.device_class or point.unit:
            specs.append(
                MeasurementSpec(
                    key=point.key,
                    name=point.name,
                    unit=point.unit,
                    device_class=point.device_class,
                    state_class=point.state_class,
                    precision=display_precision(
                        point.unit,
                        point.device_class,
                        stated=point.precision,
                        resolution=_register_resolution(point),
                    ),
                    group=group,
                    enabled_by_default=point.enabled_by_default,
                    diagnostic=bool(point.bits),
                )
            )
        specs.extend(
            MeasurementSpec(
                key=bit.key,
                name=bit.name,
                kind="bool",
                group=group,
                enabled_by_default=point.enabled_by_default,
            )
            for bit in point.bits
        )
    specs.extend(
        MeasurementSpec(key=io.key, name=io.name, kind="bool", group=PollGroup.IO, io=io.kind)
        for io in profile.io
    )
    return tuple(specs)


def _register_resolution(point: Point) -> int | None:
    """Decimals an integer register resolves after scale and offset; None for a float."""
    if point.type is DataType.FLOAT32:
        return None
    return max(resolution_decimals(point.scale), resolution_decimals(point.offset))


@dataclass(slots=True)
class _DeviceState:
    info: DeviceInfo = field(default_factory=DeviceInfo)
    values: dict[str, Value] = field(default_factory=dict)
    snapshot: DeviceSnapshot | None = None
    specs: tuple[MeasurementSpec, ...] = ()


class LineTerminal:
    """Reads everything configured on one serial line. ``async with LineTerminal(cfg) as t``."""

    def __init__(self, config: LineConfig, catalogue: ProfileCatalogue | None = None) -> None:
        self.config = config
        self._lock = asyncio.Lock()
        self._bus: ModbusBus | None = None
        self._profiles: dict[str, Profile] = {}
        self._state: dict[str, _DeviceState] = {}
        self._catalogue: ProfileCatalogue | None = None
        self._line_error: str | None = None
        self._devices = {d.key: d for d in config.devices}
        self._names = {m.key: m.name or m.key for m in config.meters}
        self._names.update({d.key: d.name or d.key for d in config.devices})
        if config.protocol is LineProtocol.MODBUS:
            if catalogue is None:  # an empty catalogue given on purpose is not "none given"
                catalogue = load_catalogue(config.profiles_dir)
            self._catalogue = catalogue
            # devices of one model share their specs (a line can carry 247 of them)
            shared: dict[str, tuple[MeasurementSpec, ...]] = {}
            for device in config.devices:
                profile = catalogue.get(device.profile_id)
                self._profiles[device.key] = profile
                if (specs := shared.get(device.profile_id)) is None:
                    specs = shared[device.profile_id] = profile_specs(profile)
                self._state[device.key] = _DeviceState(
                    info=DeviceInfo(manufacturer=profile.manufacturer, model=profile.model),
                    specs=specs,
                )
        else:
            for meter in config.meters:
                self._state[meter.key] = _DeviceState()

    # -- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        """Open the line; raises :class:`LineUnavailableError` with the reason if it can't."""
        if self.config.protocol is LineProtocol.MODBUS:
            bus = ModbusBus(
                self.config.serial, timeout=self.config.timeout, retries=self.config.retries
            )
            try:
                await bus.open()
            except ModbusConnectionError as exc:
                raise LineUnavailableError(str(exc)) from exc
            self._bus = bus
        else:
            _check_port(self.config.serial.port)

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()
            self._bus = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- what the devices offer ---------------------------------------------------------
    @property
    def device_keys(self) -> list[str]:
        return list(self._state)

    def specs(self, device_key: str) -> tuple[MeasurementSpec, ...]:
        """What a device measures. A meter's list is known after its first readout."""
        return self._state[device_key].specs

    def snapshot(self, device_key: str) -> DeviceSnapshot | None:
        return self._state[device_key].snapshot

    @property
    def line_error(self) -> str | None:
        """Why the last poll could not use the line at all (port gone), else None.

        Set only when every device polled failed because of the line itself, not because a
        device was silent; the owner may then close and reopen the terminal.
        """
        return self._line_error

    # -- polling ------------------------------------------------------------------------
    async def poll(
        self,
        group: PollGroup | None = None,
        wanted: Mapping[str, Collection[str]] | None = None,
    ) -> dict[str, DeviceSnapshot]:
        """Read every device once (only ``group``'s values, only ``wanted`` keys per device).

        Never raises for device failures: they show as unavailable snapshots.
        """
        async with self._lock:
            out: dict[str, DeviceSnapshot] = {}
            line_errors: list[str] = []
            for key in self._state:
                keys = None if wanted is None else wanted.get(key)
                if wanted is not None and not keys:
                    continue
                if self.config.protocol is LineProtocol.MODBUS:
                    out[key], line_error = await self._poll_modbus(key, group, keys)
                else:
                    out[key], line_error = await self._poll_meter(key)
                if line_error is not None:
                    line_errors.append(line_error)
            self._line_error = line_errors[0] if out and len(line_errors) == len(out) else None
            return out

    async def scan(
        self,
        first: int = 1,
        last: int = 247,
        *,
        timeout: float = 0.1,  # noqa: ASYNC109 - per-address response timeout
    ) -> list[ScanHit]:
        """Scan this open Modbus line between polls (the poll lock keeps one user on the bus)."""
        if self.config.protocol is not LineProtocol.MODBUS or self._catalogue is None:
            raise ValueError("only a Modbus line can be scanned")
        async with self._lock:
            if self._bus is None:
                raise LineUnavailableError("the line is not open")
            return await self._bus.scan(range(first, last + 1), self._catalogue, timeout=timeout)

    async def write(self, device_key: str, key: str, value: bool) -> bool:
        """Switch relay ``key`` of a Modbus device and return the state read back from it.

        Runs between polls (the poll lock keeps one user on the bus). The device's snapshot
        takes the read-back state only: after a write that was not confirmed the relay shows
        the state read back (a mismatch) or unknown (no answer), never the state asked for.
        Raises :class:`ModbusWriteError` (``reason``: no_response, exception, mismatch),
        :class:`LineUnavailableError` when the line is not open or gone, KeyError for an
        unknown device or key and ValueError for a key that is an input.
        """
        if self.config.protocol is not LineProtocol.MODBUS:
            raise ValueError("only a Modbus line has relays")
        device = self._devices[device_key]
        profile = self._profiles[device_key]
        profile.io_point(key)  # KeyError for an unknown key, before touching the line
        async with self._lock:
            if self._bus is None:
                raise LineUnavailableError("the line is not open")
            try:
                state = await self._bus.write_point(device.device_id, profile, key, value)
            except ModbusReadBackMismatch as exc:
                self._set_value(device_key, key, exc.read_back)
                raise
            except ModbusWriteError:
                self._set_value(device_key, key, None)
                raise
            except ModbusConnectionError as exc:
                self._set_value(device_key, key, None)
                raise LineUnavailableError(str(exc)) from exc
            self._set_value(device_key, key, state)
            return state

    def _set_value(self, device_key: str, key: str, value: Value) -> None:
        """Put one value read from the device into its state and current snapshot."""
        state = self._state[device_key]
        state.values[key] = value
        if state.snapshot is not None and state.snapshot.available:
            state.snapshot = replace(state.snapshot, values=dict(state.values))

    async def _poll_modbus(
        self, key: str, group: PollGroup | None, keys: Collection[str] | None
    ) -> tuple[DeviceSnapshot, str | None]:
        if self._bus is None:
            raise RuntimeError("the line is not open")
        device = self._devices[key]
        profile = self._profiles[key]
        state = self._state[key]
        started = time.monotonic()
        reading = await self._bus.read_device(
            device.device_id,
            profile,
            keys=None if keys is None else [k for k in keys if k in profile.value_keys],
            group=None if group is None else group.value,
        )
        elapsed = time.monotonic() - started
        error = "; ".join(dict.fromkeys(e.message for e in reading.errors)) or None
        line_failed = not reading.available and any(e.kind == "connection" for e in reading.errors)
        previous = state.snapshot
        if reading.available:
            state.values.update(reading.values)
            snapshot = DeviceSnapshot(
                device_key=key,
                available=True,
                values=dict(state.values),
                info=state.info,
                last_success=_now(),
                last_error=error,
                requests=reading.requests,
                round_trip=elapsed / reading.requests if reading.requests else None,
                read_keys=frozenset(reading.values),
            )
        else:
            snapshot = _unavailable(
                key, state, error or "no value could be read", requests=reading.requests
            )
        _log_transition(self._names[key], previous, snapshot)
        state.snapshot = snapshot
        return snapshot, error if line_failed else None

    async def _poll_meter(self, key: str) -> tuple[DeviceSnapshot, str | None]:
        meter = next(m for m in self.config.meters if m.key == key)
        state = self._state[key]
        previous = state.snapshot
        settings = ClientSettings(
            port=self.config.serial.port,
            address=meter.address,
            max_baud=meter.max_baud,
            mode=OptionMode.SHORT_READOUT if meter.mode == "short" else OptionMode.READOUT,
            reaction_timeout=self.config.meter_reaction_timeout,
        )
        started = time.monotonic()
        line_error: str | None = None
        try:
            # a cut readout is a failed read: the values it lacks must not keep their old
            # readings as if fresh, nor the ones it holds pass for a full reading
            reading = (await MeterClient(settings).read()).require_complete()
        except IecError as exc:
            line_error = str(exc) if isinstance(exc, LineError) else None
            snapshot = _unavailable(key, state, str(exc))
        else:
            values = map_datasets(reading.datasets, self.config.meter_timezone)
            units = {k: m.unit for k, m in values.measurements.items()}
            state.values = {k: m.value for k, m in values.measurements.items()}
            state.values.update(_clock_values(values, self.config.meter_timezone))
            ident = reading.identification
            serial = values.value("meter_serial")
            state.info = DeviceInfo(
                manufacturer=manufacturer_name(ident.manufacturer),
                model=ident.ident,
                serial_number=str(serial) if serial is not None else None,
                sw_version=_text_or_none(values.value("firmware_version")),
            )
            state.specs = tuple(
                replace(spec, unit=units.get(spec.key, spec.unit))
                for spec in meter_specs(state.values.keys())
            ) + tuple(spec for spec in CLOCK_SPECS if spec.key in state.values)
            snapshot = DeviceSnapshot(
                device_key=key,
                available=True,
                values=dict(state.values),
                info=state.info,
                last_success=_now(),
                last_error=None if reading.bcc_ok else "block check character mismatch",
                requests=reading.attempts,
                round_trip=time.monotonic() - started,
                history=_billing_history(values, self.config.meter_timezone),
            )
        _log_transition(self._names[key], previous, snapshot)
        state.snapshot = snapshot
        return snapshot, line_error


CLOCK_SPECS: tuple[MeasurementSpec, ...] = (
    MeasurementSpec(
        key="meter_time_drift",
        name="Meter clock drift",
        unit="s",
        device_class="duration",
        state_class="measurement",
        precision=0,
        group=PollGroup.SLOW,
        diagnostic=True,
    ),
    MeasurementSpec(
        key="max_demand_time",
        name="Maximum demand time",
        kind="timestamp",
        device_class="timestamp",
        group=PollGroup.SLOW,
    ),
)
"""Values the terminal works out from a readout: how far the meter's clock is off, and when
the maximum demand occurred."""


def _clock_values(values: MeterValues, tz: tzinfo | None) -> dict[str, Value]:
    zone = tz or datetime.now().astimezone().tzinfo or UTC
    out: dict[str, Value] = {}
    date, clock = values.sent("meter_date"), values.sent("meter_time")
    if date is not None and clock is not None:
        meter_now = parse_meter_date_time(date, clock, zone)
        if meter_now is not None:
            # The clock was read a moment ago; a readout's few seconds are within a meter's
            # allowed drift, so the drift is taken against now.
            out["meter_time_drift"] = round((meter_now - datetime.now(zone)).total_seconds())
    demand = values.measurements.get("max_demand")
    if demand is not None and demand.timestamp:
        stamp = parse_meter_stamp(demand.timestamp, zone)
        if stamp is not None:
            out["max_demand_time"] = stamp
    return out


_RESET_DATE = "0.1.2"  # TEDAŞ-MLZ/2017-062.B clause 102: date and time of the period's reset


def _billing_history(values: MeterValues, tz: tzinfo | None) -> tuple[BillingPeriod, ...]:
    """The billing periods a readout carries (``1.8.0*1``…), with their reset times."""
    zone = tz or datetime.now().astimezone().tzinfo or UTC
    counters: dict[int, dict[str, Value]] = {}
    for measurement in values.history:
        if measurement.key is None or measurement.period is None:
            continue
        if isinstance(measurement.value, float):
            counters.setdefault(measurement.period, {})[measurement.key] = measurement.value
    resets: dict[int, datetime | None] = {}
    for dataset in values.extras:
        code, period = normalise_code(dataset.address)
        if code == _RESET_DATE and period is not None and dataset.values:
            resets[period] = parse_meter_stamp(dataset.values[0].value, zone)
    return tuple(
        BillingPeriod(period=n, reset=resets.get(n), values=counters[n]) for n in sorted(counters)
    )


def _unavailable(key: str, state: _DeviceState, error: str, requests: int = 0) -> DeviceSnapshot:
    """A failed poll: every value known so far becomes None (never a stale or made-up value)."""
    previous = state.snapshot
    state.values = dict.fromkeys(state.values)
    return DeviceSnapshot(
        device_key=key,
        available=False,
        values=dict(state.values),
        info=state.info,
        last_success=previous.last_success if previous else None,
        last_error=error,
        consecutive_failures=(previous.consecutive_failures if previous else 0) + 1,
        requests=requests,
    )


def _check_port(port: str) -> None:
    if "://" in port:
        return
    if not os.path.exists(port):
        raise LineUnavailableError(f"serial port {port} does not exist")
    if not os.access(port, os.R_OK | os.W_OK):
        raise LineUnavailableError(f"no permission to open {port}")


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _now() -> datetime:
    return datetime.now(UTC)


def _log_transition(name: str, before: DeviceSnapshot | None, after: DeviceSnapshot) -> None:
    """Log once when a device stops answering and once when it is back."""
    was_available = before.available if before is not None else True
    if was_available and not after.available:
        _LOGGER.warning("%s is not answering: %s", name, after.last_error)
    elif not was_available and after.available:
        _LOGGER.info("%s answers again", name)


async def scan_modbus_line(
    serial: SerialSettings,
    catalogue: ProfileCatalogue,
    *,
    first: int = 1,
    last: int = 247,
    timeout: float = 0.1,  # noqa: ASYNC109 - per-address response timeout
) -> list[ScanHit]:
    """Ask every address on a Modbus line once; suggest a profile for each one that answers.

    Raises :class:`LineUnavailableError` if the port cannot be opened.
    """
    bus = ModbusBus(serial, timeout=timeout, retries=0)
    try:
        await bus.open()
    except ModbusConnectionError as exc:
        raise LineUnavailableError(str(exc)) from exc
    try:
        return await bus.scan(range(first, last + 1), catalogue, timeout=timeout)
    finally:
        await bus.close()
