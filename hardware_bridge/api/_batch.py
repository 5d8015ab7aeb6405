"""The batch a terminal uploads, and its body encoding (chosen by measurement:
docs/uplink-bytes.md, ``scripts/bench_uplink_bytes.py``).

A batch carries readings and events under the terminal's sequence numbers, the gaps its
queue had to drop, command outcomes and the modem's state. The body is gzip'd JSON in which
readings are stored by poll rather than one object each::

    "readings": {
      "t0": 1764460800000,          # epoch ms every time counts from
      "s0": 1201,                   # sequence number every sequence counts from
      "groups": [{                  # one group per device and set of keys read together
        "device": "sdm630", "keys": ["voltage_l1", …], "units": ["V", …],
        "seq":  [0, 31, 31, …],     # first sequence of each poll, delta-coded (from s0)
        "time": [0, 10000, 9998, …],# time of each poll in ms, delta-coded (from t0)
        "columns": [COLUMN, …]      # one per key: that key's value in each poll
      }]
    }

A poll's readings take consecutive sequence numbers in the order of ``keys``. A column is a
plain JSON array (numbers, booleans, strings, null), or — when it is exact — one of:

- ``{"int": [deltas]}``: integers, delta-coded;
- ``{"scale": s, "raw": [deltas]}``: each value is ``raw × s`` exactly (a scaled register);
- ``{"f32": [numbers]}``: each value is a float32 (a float register), written with the
  fewest digits that give back the same float32.

The encoder checks each column's round trip before choosing its form, so decoding gives back
every value exactly (type, float bits, None); times keep the millisecond.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    get_int,
    get_str,
    get_time,
    join,
    opt_str,
    opt_time,
)
from hardware_bridge.api._model import Alarm, Command, CommandOutcome, ModemReport

__all__ = [
    "BATCH_CONTENT_TYPE",
    "MAX_BATCH_BYTES",
    "Batch",
    "BatchAck",
    "BatchEvent",
    "BatchReading",
    "Gap",
    "decode_batch",
    "encode_batch",
    "parse_batch",
    "to_millisecond",
]

BATCH_CONTENT_TYPE = "application/json"
MAX_BATCH_BYTES = 16 * 1024 * 1024
"""The most a batch body may inflate to (a bound against gzip bombs)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEQ_MAX = 2**63 - 1
"""Sequence numbers are SQLite integers."""
_MS_MIN = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_MS_MAX = (datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_SCALES = (1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001)
_F32 = struct.Struct("<f")


def to_millisecond(value: datetime) -> datetime:
    """``value`` truncated to the millisecond, the resolution a batch keeps."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _check_ms(value: datetime, field: str) -> None:
    check_time(value, field)
    if value.microsecond % 1000:
        raise ApiValidationError(field, "must be whole milliseconds (use to_millisecond)")


def _epoch_ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchReading:
    """A reading under the terminal's sequence number."""

    seq: int
    device: str
    key: str
    value: WireValue
    unit: str | None
    time: datetime

    def __post_init__(self) -> None:
        _check_ms(self.time, "time")
        check_value(self.value, "value")


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchEvent:
    """An event (:class:`Alarm`) under the terminal's sequence number."""

    seq: int
    alarm: Alarm

    def __post_init__(self) -> None:
        _check_ms(self.alarm.time, "time")

    def to_json(self) -> JsonObject:
        return {"seq": self.seq, **self.alarm.to_json()}

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return cls(
            seq=get_int(obj, "seq", path, minimum=1, maximum=SEQ_MAX),
            alarm=Alarm.from_json(obj, path),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Readings the terminal's queue dropped when it was full (oldest first): ``count`` of
    them, numbered ``first_seq``..``last_seq``, polled between ``first_time`` and
    ``last_time`` where known."""

    first_seq: int
    last_seq: int
    count: int
    first_time: datetime | None = None
    last_time: datetime | None = None

    def __post_init__(self) -> None:
        if self.last_seq < self.first_seq:
            raise ApiValidationError("last_seq", "must not be below first_seq")
        if not 1 <= self.count <= self.last_seq - self.first_seq + 1:
            raise ApiValidationError("count", "must be between 1 and the size of the range")
        for name in ("first_time", "last_time"):
            value = getattr(self, name)
            if value is not None:
                _check_ms(value, name)

    def to_json(self) -> JsonObject:
        return {
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "count": self.count,
            "first_time": None if self.first_time is None else format_time(self.first_time),
            "last_time": None if self.last_time is None else format_time(self.last_time),
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        return _reraise_at(
            path,
            lambda: cls(
                first_seq=get_int(obj, "first_seq", path, minimum=1, maximum=SEQ_MAX),
                last_seq=get_int(obj, "last_seq", path, minimum=1, maximum=SEQ_MAX),
                count=get_int(obj, "count", path, minimum=1, maximum=SEQ_MAX),
                first_time=opt_time(obj, "first_time", path),
                last_time=opt_time(obj, "last_time", path),
            ),
        )


def _reraise_at[T](path: str, build: Callable[[], T]) -> T:
    """Run a constructor; a check in ``__post_init__`` names its field under ``path``."""
    try:
        result = build()
    except ApiValidationError as err:
        if path and not err.field.startswith(path):
            raise ApiValidationError(join(path, err.field), err.message) from None
        raise
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """One upload. ``batch_id`` plus the range ``first_seq``..``last_seq`` make it
    idempotent: the server acknowledges a batch it already has without storing it twice."""

    batch_id: str
    first_seq: int
    last_seq: int
    created: datetime
    readings: tuple[BatchReading, ...] = ()
    events: tuple[BatchEvent, ...] = ()
    gaps: tuple[Gap, ...] = ()
    outcomes: tuple[CommandOutcome, ...] = ()
    modem: ModemReport | None = None
    stream: str | None = None
    """The terminal's queue id. A new one means its sequence numbers restarted (a new queue
    database): without it a server would take the new readings for ones it already has."""

    def __post_init__(self) -> None:
        check_time(self.created, "created")
        if self.first_seq < 1:
            raise ApiValidationError("first_seq", "must be at least 1")
        if self.last_seq < self.first_seq:
            raise ApiValidationError("last_seq", "must not be below first_seq")
        self._check_sequences()

    def _check_sequences(self) -> None:
        spans: list[tuple[int, int, str]] = [
            (r.seq, r.seq, f"readings[{i}].seq") for i, r in enumerate(self.readings)
        ]
        spans += [(e.seq, e.seq, f"events[{i}].seq") for i, e in enumerate(self.events)]
        spans += [(g.first_seq, g.last_seq, f"gaps[{i}]") for i, g in enumerate(self.gaps)]
        for name, items in (("readings", self.readings), ("events", self.events)):
            for index in range(1, len(items)):
                if items[index].seq <= items[index - 1].seq:
                    raise ApiValidationError(
                        f"{name}[{index}].seq", "must be above the one before it"
                    )
        spans.sort()
        previous_end = self.first_seq - 1
        for first, last, field in spans:
            if first < self.first_seq or last > self.last_seq:
                raise ApiValidationError(field, "must lie within first_seq..last_seq")
            if first <= previous_end:
                raise ApiValidationError(field, "repeats a sequence number")
            previous_end = last

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "batch_id": self.batch_id,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "created": format_time(self.created),
            "readings": _encode_readings(self.readings, self.first_seq),
            "events": [event.to_json() for event in self.events],
            "gaps": [gap.to_json() for gap in self.gaps],
            "outcomes": [outcome.to_json() for outcome in self.outcomes],
            "modem": None if self.modem is None else self.modem.to_json(),
        }
        if self.stream is not None:
            out["stream"] = self.stream
        return out

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        modem = obj.get("modem")

        def items(name: str, parse: Any) -> tuple[Any, ...]:
            field = join(path, name)
            values = as_list(obj.get(name, []), field)
            return tuple(parse(item, join(field, i)) for i, item in enumerate(values))

        return _reraise_at(
            path,
            lambda: cls(
                batch_id=get_str(obj, "batch_id", path, pattern=NAME_PATTERN),
                first_seq=get_int(obj, "first_seq", path, minimum=1, maximum=SEQ_MAX),
                last_seq=get_int(obj, "last_seq", path, minimum=1, maximum=SEQ_MAX),
                created=get_time(obj, "created", path),
                readings=_decode_readings(obj.get("readings"), join(path, "readings")),
                events=items("events", BatchEvent.from_json),
                gaps=items("gaps", Gap.from_json),
                outcomes=items("outcomes", CommandOutcome.from_json),
                modem=None if modem is None else ModemReport.from_json(modem, join(path, "modem")),
                stream=opt_str(obj, "stream", path, pattern=NAME_PATTERN),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchAck:
    """The server has everything up to ``acknowledged_seq``; the terminal may delete it.
    ``commands`` are waiting for the terminal (a relay to switch, …)."""

    batch_id: str
    acknowledged_seq: int
    duplicate: bool = False
    commands: tuple[Command, ...] = ()

    def to_json(self) -> JsonObject:
        return {
            "batch_id": self.batch_id,
            "acknowledged_seq": self.acknowledged_seq,
            "duplicate": self.duplicate,
            "commands": [command.to_json() for command in self.commands],
        }

    @classmethod
    def from_json(cls, data: object, path: str = "") -> Self:
        obj = as_object(data, path)
        field = join(path, "commands")
        commands = as_list(obj.get("commands", []), field)
        return cls(
            batch_id=get_str(obj, "batch_id", path, pattern=NAME_PATTERN),
            acknowledged_seq=get_int(obj, "acknowledged_seq", path, minimum=0, maximum=SEQ_MAX),
            duplicate=get_bool(obj, "duplicate", path, default=False),
            commands=tuple(Command.from_json(c, join(field, i)) for i, c in enumerate(commands)),
        )


# --- body ----------------------------------------------------------------------------------


def encode_batch(batch: Batch, *, level: int = 9) -> bytes:
    """The request body: the batch as compact JSON, gzip'd."""
    text = json.dumps(batch.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return gzip.compress(text.encode(), compresslevel=level, mtime=0)


def decode_batch(body: bytes, *, max_bytes: int = MAX_BATCH_BYTES) -> Batch:
    """Inflate (bounded by ``max_bytes``), parse and validate a gzip'd request body."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        text = inflater.decompress(body, max_bytes)
    except zlib.error as err:
        raise ApiValidationError("", f"body is not gzip data ({err})") from None
    if inflater.unconsumed_tail:
        raise ApiValidationError("", f"body inflates to more than {max_bytes} bytes")
    if not inflater.eof:
        raise ApiValidationError("", "body is truncated gzip data")
    return parse_batch(text)


def parse_batch(text: bytes | str) -> Batch:
    """Parse and validate a batch body that is already inflated. (aiohttp's server inflates a
    ``Content-Encoding: gzip`` request itself; its ``client_max_size`` bounds the result.)"""
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiValidationError("", f"body is not JSON ({err})") from None
    return Batch.from_json(data)


# --- readings columns ----------------------------------------------------------------------


def _deltas(values: Sequence[int], base: int) -> list[int]:
    out: list[int] = []
    previous = base
    for value in values:
        out.append(value - previous)
        previous = value
    return out


def _undelta(deltas: Iterable[object], base: int, field: str) -> list[int]:
    out: list[int] = []
    total = base
    for index, delta in enumerate(deltas):
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise ApiValidationError(join(field, index), "must be an integer")
        total += delta
        out.append(total)
    return out


def _f32(value: float) -> float:
    result: float = _F32.unpack(_F32.pack(value))[0]
    return result


def _short_f32(value: float) -> float | int | None:
    """The shortest JSON number that comes back as ``value`` (bit for bit, the sign of zero
    included) through float32, if any."""
    try:
        bits = _F32.pack(value)
        if _F32.unpack(bits)[0] != value:
            return None
    except OverflowError:
        return None
    for digits in range(1, 10):
        number: float | int = json.loads(f"{value:.{digits}g}")
        if _F32.pack(float(number)) == bits and math.copysign(1, number) == math.copysign(1, value):
            return number
    return None


def _encode_column(values: Sequence[WireValue]) -> list[WireValue] | JsonObject:
    if not values or any(v is None or isinstance(v, bool | str) for v in values):
        return list(values)
    if all(isinstance(v, int) for v in values):
        return {"int": _deltas([int(v) for v in values if isinstance(v, int)], 0)}
    if not all(isinstance(v, float) for v in values):
        return list(values)
    floats = [float(v) for v in values if isinstance(v, float)]
    for scale in _SCALES:
        try:
            raws = [round(v / scale) for v in floats]
        except OverflowError:  # a huge value over a small scale: not this form
            continue
        if all(
            raw * scale == v and math.copysign(1, raw * scale) == math.copysign(1, v)
            for raw, v in zip(raws, floats, strict=True)
        ):
            return {"scale": scale, "raw": _deltas(raws, 0)}
    short = [_short_f32(v) for v in floats]
    if all(s is not None for s in short):
        return {"f32": short}
    return list(values)


def _decode_column(column: object, size: int, field: str) -> list[WireValue]:
    if isinstance(column, list):
        values = [check_value(v, join(field, i)) for i, v in enumerate(column)]
    else:
        obj = as_object(column, field)
        if "int" in obj:
            values = list(_undelta(as_list(obj["int"], join(field, "int")), 0, join(field, "int")))
        elif "raw" in obj:
            scale = obj.get("scale")
            if isinstance(scale, bool) or not isinstance(scale, float | int) or not scale:
                raise ApiValidationError(join(field, "scale"), "must be a non-zero number")
            raws = _undelta(as_list(obj["raw"], join(field, "raw")), 0, join(field, "raw"))
            try:
                values = [raw * float(scale) for raw in raws]
            except OverflowError:
                raise ApiValidationError(join(field, "raw"), "is out of range") from None
        elif "f32" in obj:
            numbers = as_list(obj["f32"], join(field, "f32"))
            values = []
            for index, number in enumerate(numbers):
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise ApiValidationError(join(field, f"f32[{index}]"), "must be a number")
                try:
                    values.append(_f32(float(number)))
                except OverflowError:
                    raise ApiValidationError(
                        join(field, f"f32[{index}]"), "is out of float32 range"
                    ) from None
        else:
            raise ApiValidationError(field, "must be an array or have int, raw or f32")
    if len(values) != size:
        raise ApiValidationError(field, f"must have {size} values, one per poll")
    return values


def _encode_readings(readings: Sequence[BatchReading], s0: int) -> JsonObject:
    t0 = _epoch_ms(readings[0].time) if readings else 0
    groups: dict[tuple[str, tuple[str, ...], tuple[str | None, ...]], list[list[BatchReading]]]
    groups = {}
    poll: list[BatchReading] = []

    def close() -> None:
        if poll:
            ident = (poll[0].device, tuple(r.key for r in poll), tuple(r.unit for r in poll))
            groups.setdefault(ident, []).append(list(poll))
            poll.clear()

    for reading in readings:
        if poll and not (
            reading.device == poll[0].device
            and reading.time == poll[0].time
            and reading.seq == poll[-1].seq + 1
            and all(r.key != reading.key for r in poll)
        ):
            close()
        poll.append(reading)
    close()
    out: list[JsonObject] = []
    for (device, keys, units), polls in groups.items():
        out.append(
            {
                "device": device,
                "keys": list(keys),
                "units": list(units),
                "seq": _deltas([p[0].seq for p in polls], s0),
                "time": _deltas([_epoch_ms(p[0].time) for p in polls], t0),
                "columns": [
                    _encode_column([p[index].value for p in polls]) for index in range(len(keys))
                ],
            }
        )
    return {"t0": t0, "s0": s0, "groups": out}


def _decode_readings(data: object, path: str) -> tuple[BatchReading, ...]:
    if data is None:
        return ()
    obj = as_object(data, path)
    t0 = get_int(obj, "t0", path, minimum=_MS_MIN, maximum=_MS_MAX)
    s0 = get_int(obj, "s0", path, minimum=0, maximum=SEQ_MAX)
    readings: list[BatchReading] = []
    groups_field = join(path, "groups")
    for g_index, group_data in enumerate(as_list(obj.get("groups", []), groups_field)):
        field = join(groups_field, g_index)
        group = as_object(group_data, field)
        device = get_str(group, "device", field, pattern=NAME_PATTERN)
        keys = [
            _key(k, join(join(field, "keys"), i))
            for i, k in enumerate(as_list(group.get("keys"), join(field, "keys")))
        ]
        units = as_list(group.get("units"), join(field, "units"))
        if len(units) != len(keys):
            raise ApiValidationError(join(field, "units"), "must have one unit per key")
        for i, unit in enumerate(units):
            if unit is not None and not isinstance(unit, str):
                raise ApiValidationError(join(join(field, "units"), i), "must be a string or null")
        seqs = _undelta(as_list(group.get("seq"), join(field, "seq")), s0, join(field, "seq"))
        times = _undelta(as_list(group.get("time"), join(field, "time")), t0, join(field, "time"))
        if len(times) != len(seqs):
            raise ApiValidationError(join(field, "time"), "must have one time per poll")
        columns = as_list(group.get("columns"), join(field, "columns"))
        if len(columns) != len(keys):
            raise ApiValidationError(join(field, "columns"), "must have one column per key")
        decoded = [
            _decode_column(column, len(seqs), join(join(field, "columns"), i))
            for i, column in enumerate(columns)
        ]
        for p_index, (first, ms) in enumerate(zip(seqs, times, strict=True)):
            if not _MS_MIN <= ms <= _MS_MAX:
                raise ApiValidationError(join(join(field, "time"), p_index), "is out of range")
            time = _from_ms(ms)
            for k_index, key in enumerate(keys):
                try:
                    reading = BatchReading(
                        seq=first + k_index,
                        device=device,
                        key=key,
                        value=decoded[k_index][p_index],
                        unit=units[k_index],
                        time=time,
                    )
                except ApiValidationError as err:
                    column = join(join(field, "columns"), k_index)
                    raise ApiValidationError(join(column, p_index), err.message) from None
                readings.append(reading)
    readings.sort(key=lambda r: r.seq)
    return tuple(readings)


def _key(value: object, field: str) -> str:
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value):
        raise ApiValidationError(field, f"must match {KEY_PATTERN.pattern}")
    return value
