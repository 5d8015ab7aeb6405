"""The SmartPower API's documents as frozen dataclasses (docs/api/smartpower.openapi.yaml).

Every type has ``to_json()`` (a JSON-ready dict) and ``from_json(data, path="")``, which
validates and raises :class:`ApiValidationError` naming the refused field. Times are aware
datetimes; on the wire they are ISO 8601 with their zone, to the millisecond.

The batch a terminal uploads lives in :mod:`hardware_bridge.api._batch` (its body has its own
compact encoding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from hardware_bridge.api._errors import ApiValidationError
from hardware_bridge.api._fields import (
    KEY_PATTERN,
    NAME_PATTERN,
    JsonObject,
    WireValue,
    as_list,
    as_object,
    check_time,
    check_value,
    format_time,
    get_bool,
    get_enum,
    get_int,
    get_str,
    get_time,
    get_value,
    join,
    opt_float,
    opt_int,
    opt_str,
)
from hardware_bridge.models import MeasurementSpec, PollGroup

__all__ = [
    "AccessTechnology",
    "Alarm",
    "Claim",
    "ClaimRequest",
    "Command",
    "CommandOutcome",
    "CommandRequest",
    "CommandStatus",
    "CommandType",
    "DeviceDescription",
    "DeviceProtocol",
    "Enrolment",
    "EnrolmentAck",
    "ErrorBody",
    "IoDescription",
    "IoKind",
    "ModemReport",
    "OutcomeStatus",
    "PendingCommands",
    "PointDescription",
    "PointKind",
    "Reading",
    "ReadingsPage",
    "Registration",
    "TerminalDescription",
]

AUTH_CODE_MAX = 64
COMMAND_WAIT_MAX = 300
"""The longest ``wait`` (seconds) of ``GET …/pending-commands``: below the idle timeouts of
the proxies and mobile networks between a terminal and its server."""
SECRET_MIN = 32


def _list_of[T](
    obj: Mapping[str, Any], name: str, path: str, parse: Any, *, required: bool = True
) -> tuple[T, ...]:
    field = join(path, name)
    if name not in obj:
        if required:
            raise ApiValidationError(field, "is required")
        return ()
    items = as_list(obj[name], field)
    return tuple(parse(item, join(field, index)) for index, item in enumerate(items))


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorBody:
    """Every failure's body: a stable ``code``, a human ``message``, the ``field`` at fault."""

    code: str
    message: str
    field: str | None = None

    def to_json(self) -> JsonObject:
        return {"code": self.code, "message": self.message, "field": self.field}

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            code=get_str(obj, "code", path, pattern=KEY_PATTERN),
            message=get_str(obj, "message", path, allow_empty=True),
            field=opt_str(obj, "field", path, max_len=256),
        )


# --- claims --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequest:
    """Claim a modem with the Modem No and the auth code ("Yetki Kodu") on its slip."""

    modem_no: str
    auth_code: str

    def __repr__(self) -> str:  # the auth code never reaches a log through a repr
        return f"ClaimRequest(modem_no={self.modem_no!r}, auth_code=<redacted>)"

    def to_json(self) -> JsonObject:
        return {"modem_no": self.modem_no, "auth_code": self.auth_code}

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            modem_no=get_str(obj, "modem_no", path, pattern=NAME_PATTERN),
            auth_code=get_str(obj, "auth_code", path, max_len=AUTH_CODE_MAX),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A granted claim: the bearer token for this modem (shown once, stored hashed)."""

    token: str
    token_id: str
    modem_no: str
    issued: datetime

    def __repr__(self) -> str:
        return (
            f"Claim(token=<redacted>, token_id={self.token_id!r}, modem_no={self.modem_no!r}, "
            f"issued={self.issued!r})"
        )

    def __post_init__(self) -> None:
        check_time(self.issued, "issued")

    def to_json(self) -> JsonObject:
        return {
            "token": self.token,
            "token_id": self.token_id,
            "modem_no": self.modem_no,
            "issued": format_time(self.issued),
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            token=get_str(obj, "token", path, max_len=512),
            token_id=get_str(obj, "token_id", path, pattern=NAME_PATTERN),
            modem_no=get_str(obj, "modem_no", path, pattern=NAME_PATTERN),
            issued=get_time(obj, "issued", path),
        )


# --- description ---------------------------------------------------------------------------


class PointKind(StrEnum):
    """What a value is (:attr:`hardware_bridge.models.MeasurementSpec.kind`)."""

    NUMBER = "number"
    BOOL = "bool"
    TEXT = "text"
    TIMESTAMP = "timestamp"
    DATE = "date"


class DeviceProtocol(StrEnum):
    IEC62056 = "iec62056"
    MODBUS = "modbus"
    TERMINAL = "terminal"
    """The terminal itself: its GPIO inputs and relays, mains state, modem signal."""


class IoKind(StrEnum):
    RELAY = "relay"
    INPUT = "input"


@dataclass(frozen=True, slots=True, kw_only=True)
class PointDescription:
    """One value a device reports, with the hints an entity needs (a ``MeasurementSpec``)."""

    key: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    kind: PointKind = PointKind.NUMBER
    group: PollGroup = PollGroup.FAST
    enabled_by_default: bool = True
    diagnostic: bool = False

    @classmethod
    def from_spec(cls, spec: MeasurementSpec) -> Self:
        return cls(
            key=spec.key,
            name=spec.name,
            unit=spec.unit,
            device_class=spec.device_class,
            state_class=spec.state_class,
            precision=spec.precision,
            kind=PointKind(spec.kind),
            group=PollGroup(spec.group),
            enabled_by_default=spec.enabled_by_default,
            diagnostic=spec.diagnostic,
        )

    def to_spec(self) -> MeasurementSpec:
        return MeasurementSpec(
            key=self.key,
            name=self.name,
            unit=self.unit,
            device_class=self.device_class,
            state_class=self.state_class,
            precision=self.precision,
            kind=self.kind.value,
            group=self.group,
            enabled_by_default=self.enabled_by_default,
            diagnostic=self.diagnostic,
        )

    def to_json(self) -> JsonObject:
        return {
            "key": self.key,
            "name": self.name,
            "unit": self.unit,
            "device_class": self.device_class,
            "state_class": self.state_class,
            "precision": self.precision,
            "kind": self.kind.value,
            "group": self.group.value,
            "enabled_by_default": self.enabled_by_default,
            "diagnostic": self.diagnostic,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            key=get_str(obj, "key", path, pattern=KEY_PATTERN),
            name=get_str(obj, "name", path, max_len=128),
            unit=opt_str(obj, "unit", path, max_len=32),
            device_class=opt_str(obj, "device_class", path, pattern=KEY_PATTERN),
            state_class=opt_str(obj, "state_class", path, pattern=KEY_PATTERN),
            precision=opt_int(obj, "precision", path, minimum=0, maximum=12),
            kind=get_enum(obj, "kind", path, PointKind, default=PointKind.NUMBER),
            group=get_enum(obj, "group", path, PollGroup, default=PollGroup.FAST),
            enabled_by_default=get_bool(obj, "enabled_by_default", path, default=True),
            diagnostic=get_bool(obj, "diagnostic", path, default=False),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IoDescription:
    """A relay (switchable with a ``relay_set`` command) or a dry-contact input."""

    key: str
    name: str
    kind: IoKind

    def to_json(self) -> JsonObject:
        return {"key": self.key, "name": self.name, "kind": self.kind.value}

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            key=get_str(obj, "key", path, pattern=KEY_PATTERN),
            name=get_str(obj, "name", path, max_len=128),
            kind=get_enum(obj, "kind", path, IoKind),
        )


def _unique_keys(keys: list[str], field: str) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise ApiValidationError(join(field, index), f"duplicate key {key!r}")
        seen.add(key)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDescription:
    """One device of the terminal: a meter, a Modbus device, or the terminal itself."""

    key: str
    name: str
    protocol: DeviceProtocol
    profile: str | None = None
    address: int | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    sw_version: str | None = None
    points: tuple[PointDescription, ...] = ()
    io: tuple[IoDescription, ...] = ()

    def __post_init__(self) -> None:
        _unique_keys([p.key for p in self.points] + [i.key for i in self.io], "points")

    def to_json(self) -> JsonObject:
        return {
            "key": self.key,
            "name": self.name,
            "protocol": self.protocol.value,
            "profile": self.profile,
            "address": self.address,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial_number": self.serial_number,
            "sw_version": self.sw_version,
            "points": [point.to_json() for point in self.points],
            "io": [io.to_json() for io in self.io],
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        points: tuple[PointDescription, ...] = _list_of(
            obj, "points", path, PointDescription.from_json
        )
        io: tuple[IoDescription, ...] = _list_of(
            obj, "io", path, IoDescription.from_json, required=False
        )
        _unique_keys([p.key for p in points], join(path, "points"))
        _unique_keys([i.key for i in io], join(path, "io"))
        return cls(
            key=get_str(obj, "key", path, pattern=NAME_PATTERN),
            name=get_str(obj, "name", path, max_len=128),
            protocol=get_enum(obj, "protocol", path, DeviceProtocol),
            profile=opt_str(obj, "profile", path, pattern=KEY_PATTERN),
            address=opt_int(obj, "address", path, minimum=0, maximum=247),
            manufacturer=opt_str(obj, "manufacturer", path, max_len=128),
            model=opt_str(obj, "model", path, max_len=128),
            serial_number=opt_str(obj, "serial_number", path, max_len=128),
            sw_version=opt_str(obj, "sw_version", path, max_len=128),
            points=points,
            io=io,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalDescription:
    """What a terminal has: enough for a client to build its devices and entities."""

    modem_no: str
    name: str
    send_period: int
    """Seconds between uploads (60–14400); data older than two periods is stale."""
    devices: tuple[DeviceDescription, ...]
    firmware: str | None = None
    updated: datetime | None = None

    def __post_init__(self) -> None:
        if self.updated is not None:
            check_time(self.updated, "updated")

    def to_json(self) -> JsonObject:
        return {
            "modem_no": self.modem_no,
            "name": self.name,
            "send_period": self.send_period,
            "firmware": self.firmware,
            "updated": None if self.updated is None else format_time(self.updated),
            "devices": [device.to_json() for device in self.devices],
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        devices: tuple[DeviceDescription, ...] = _list_of(
            obj, "devices", path, DeviceDescription.from_json
        )
        _unique_keys([d.key for d in devices], join(path, "devices"))
        updated = obj.get("updated")
        return cls(
            modem_no=get_str(obj, "modem_no", path, pattern=NAME_PATTERN),
            name=get_str(obj, "name", path, max_len=128),
            send_period=get_int(obj, "send_period", path, minimum=1, maximum=14400),
            firmware=opt_str(obj, "firmware", path, max_len=128),
            updated=None if updated is None else get_time(obj, "updated", path),
            devices=devices,
        )


# --- readings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One value of one device at the time of its poll."""

    device: str
    key: str
    value: WireValue
    unit: str | None
    time: datetime

    def __post_init__(self) -> None:
        check_time(self.time, "time")
        check_value(self.value, "value")

    def to_json(self) -> JsonObject:
        return {
            "device": self.device,
            "key": self.key,
            "value": self.value,
            "unit": self.unit,
            "time": format_time(self.time),
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            device=get_str(obj, "device", path, pattern=NAME_PATTERN),
            key=get_str(obj, "key", path, pattern=KEY_PATTERN),
            value=get_value(obj, "value", path),
            unit=opt_str(obj, "unit", path, max_len=32),
            time=get_time(obj, "time", path),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingsPage:
    """``/latest`` and ``/history``: readings, and the cursor of the next page (None: done)."""

    readings: tuple[Reading, ...]
    next: str | None = None

    def to_json(self) -> JsonObject:
        return {"readings": [reading.to_json() for reading in self.readings], "next": self.next}

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        if "next" not in obj:
            raise ApiValidationError(join(path, "next"), "is required (null on the last page)")
        return cls(
            readings=_list_of(obj, "readings", path, Reading.from_json),
            next=opt_str(obj, "next", path, max_len=512),
        )


# --- commands ------------------------------------------------------------------------------


class CommandType(StrEnum):
    RELAY_SET = "relay_set"


class CommandStatus(StrEnum):
    """``pending`` on the server → ``sent`` in a batch reply → ``succeeded``/``failed`` as
    the terminal reports; ``expired`` when the terminal did not take it in time."""

    PENDING = "pending"
    SENT = "sent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset({CommandStatus.SUCCEEDED, CommandStatus.FAILED, CommandStatus.EXPIRED})


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest:
    """Switch a relay: ``device`` and relay ``key`` from the description, wanted ``state``."""

    device: str
    key: str
    state: bool
    type: CommandType = CommandType.RELAY_SET

    def to_json(self) -> JsonObject:
        return {
            "type": self.type.value,
            "device": self.device,
            "key": self.key,
            "state": self.state,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            type=get_enum(obj, "type", path, CommandType),
            device=get_str(obj, "device", path, pattern=NAME_PATTERN),
            key=get_str(obj, "key", path, pattern=KEY_PATTERN),
            state=get_bool(obj, "state", path),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A command and where it stands; ``confirmed_state`` is the relay read back after it."""

    id: str
    type: CommandType
    device: str
    key: str
    state: bool
    status: CommandStatus
    created: datetime
    updated: datetime
    expires: datetime | None = None
    confirmed_state: bool | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        check_time(self.created, "created")
        check_time(self.updated, "updated")
        if self.expires is not None:
            check_time(self.expires, "expires")

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "type": self.type.value,
            "device": self.device,
            "key": self.key,
            "state": self.state,
            "status": self.status.value,
            "created": format_time(self.created),
            "updated": format_time(self.updated),
            "expires": None if self.expires is None else format_time(self.expires),
            "confirmed_state": self.confirmed_state,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        confirmed = obj.get("confirmed_state")
        return cls(
            id=get_str(obj, "id", path, pattern=NAME_PATTERN),
            type=get_enum(obj, "type", path, CommandType),
            device=get_str(obj, "device", path, pattern=NAME_PATTERN),
            key=get_str(obj, "key", path, pattern=KEY_PATTERN),
            state=get_bool(obj, "state", path),
            status=get_enum(obj, "status", path, CommandStatus),
            created=get_time(obj, "created", path),
            updated=get_time(obj, "updated", path),
            expires=None if obj.get("expires") is None else get_time(obj, "expires", path),
            confirmed_state=None if confirmed is None else get_bool(obj, "confirmed_state", path),
            message=opt_str(obj, "message", path),
        )


class OutcomeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandOutcome:
    """What the terminal did with a command: the relay state it read back, or why it failed."""

    command_id: str
    status: OutcomeStatus
    time: datetime
    confirmed_state: bool | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        check_time(self.time, "time")

    def to_json(self) -> JsonObject:
        return {
            "command_id": self.command_id,
            "status": self.status.value,
            "time": format_time(self.time),
            "confirmed_state": self.confirmed_state,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        confirmed = obj.get("confirmed_state")
        return cls(
            command_id=get_str(obj, "command_id", path, pattern=NAME_PATTERN),
            status=get_enum(obj, "status", path, OutcomeStatus),
            time=get_time(obj, "time", path),
            confirmed_state=None if confirmed is None else get_bool(obj, "confirmed_state", path),
            message=opt_str(obj, "message", path),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingCommands:
    """``GET …/pending-commands``: the commands waiting for the terminal, handed over as in a
    batch acknowledgement (repeated until their outcome arrives, never one past its expiry);
    empty when none came within the wait."""

    commands: tuple[Command, ...] = ()

    def to_json(self) -> JsonObject:
        return {"commands": [command.to_json() for command in self.commands]}

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(commands=_list_of(obj, "commands", path, Command.from_json))


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """Something that happened at the terminal (input changed, mains lost, device silent, …).

    ``kind`` is a snake_case name (``input_changed``, ``mains_lost``, ``mains_restored``,
    ``device_unavailable``, ``device_available``, ``failsafe``, ``queue_gap``); ``device`` and
    ``key`` say where, ``value`` the new state where there is one.
    """

    kind: str
    time: datetime
    device: str | None = None
    key: str | None = None
    value: WireValue = None
    message: str | None = None

    def __post_init__(self) -> None:
        check_time(self.time, "time")
        check_value(self.value, "value")

    def to_json(self) -> JsonObject:
        return {
            "kind": self.kind,
            "time": format_time(self.time),
            "device": self.device,
            "key": self.key,
            "value": self.value,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            kind=get_str(obj, "kind", path, pattern=KEY_PATTERN),
            time=get_time(obj, "time", path),
            device=opt_str(obj, "device", path, pattern=NAME_PATTERN),
            key=opt_str(obj, "key", path, pattern=KEY_PATTERN),
            value=get_value(obj, "value", path) if "value" in obj else None,
            message=opt_str(obj, "message", path),
        )


# --- terminal side -------------------------------------------------------------------------


class Registration(StrEnum):
    """Network registration (:data:`hardware_bridge.cellular.Registration`)."""

    HOME = "home"
    ROAMING = "roaming"
    SEARCHING = "searching"
    DENIED = "denied"
    UNKNOWN = "unknown"


class AccessTechnology(StrEnum):
    G2 = "2G"
    G3 = "3G"
    G4 = "4G"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemReport:
    """The cellular modem's state when the batch was sent (from ``Modem.status()``)."""

    registration: Registration
    time: datetime
    access_technology: AccessTechnology | None = None
    operator: str | None = None
    signal_dbm: int | None = None
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None

    def __post_init__(self) -> None:
        check_time(self.time, "time")

    def to_json(self) -> JsonObject:
        return {
            "registration": self.registration.value,
            "time": format_time(self.time),
            "access_technology": None
            if self.access_technology is None
            else self.access_technology.value,
            "operator": self.operator,
            "signal_dbm": self.signal_dbm,
            "rsrp_dbm": self.rsrp_dbm,
            "rsrq_db": self.rsrq_db,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        technology = obj.get("access_technology")
        return cls(
            registration=get_enum(obj, "registration", path, Registration),
            time=get_time(obj, "time", path),
            access_technology=None
            if technology is None
            else get_enum(obj, "access_technology", path, AccessTechnology),
            operator=opt_str(obj, "operator", path, max_len=64),
            signal_dbm=opt_int(obj, "signal_dbm", path, minimum=-150, maximum=0),
            rsrp_dbm=opt_float(obj, "rsrp_dbm", path),
            rsrq_db=opt_float(obj, "rsrq_db", path),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrolment:
    """A terminal's first contact: its own secret (its credential from now on), the auth code
    that owners will claim it with, and the server's enrolment key if it requires one."""

    terminal_secret: str
    auth_code: str
    enrolment_key: str | None = None

    def __repr__(self) -> str:
        return "Enrolment(<secrets redacted>)"

    def to_json(self) -> JsonObject:
        return {
            "terminal_secret": self.terminal_secret,
            "auth_code": self.auth_code,
            "enrolment_key": self.enrolment_key,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        secret = get_str(obj, "terminal_secret", path, max_len=256)
        if len(secret) < SECRET_MIN:
            raise ApiValidationError(
                join(path, "terminal_secret"), f"must be at least {SECRET_MIN} characters"
            )
        return cls(
            terminal_secret=secret,
            auth_code=get_str(obj, "auth_code", path, max_len=AUTH_CODE_MAX),
            enrolment_key=opt_str(obj, "enrolment_key", path, max_len=256),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrolmentAck:
    """The server knows the terminal; ``acknowledged_seq`` is where its uploads resume."""

    modem_no: str
    enrolled: datetime
    acknowledged_seq: int = 0

    def __post_init__(self) -> None:
        check_time(self.enrolled, "enrolled")

    def to_json(self) -> JsonObject:
        return {
            "modem_no": self.modem_no,
            "enrolled": format_time(self.enrolled),
            "acknowledged_seq": self.acknowledged_seq,
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            modem_no=get_str(obj, "modem_no", path, pattern=NAME_PATTERN),
            enrolled=get_time(obj, "enrolled", path),
            acknowledged_seq=get_int(obj, "acknowledged_seq", path, minimum=0),
        )
