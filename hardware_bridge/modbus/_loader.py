"""Profile files (YAML) → validated, frozen :class:`Profile` objects, and the catalogue.

Validation runs in three passes: a strict YAML reader (bounded size and nesting, no aliases,
no duplicate keys), a voluptuous schema for shapes and types, then semantic checks across
fields (overlapping registers, width vs type, word order for multi-register values, unknown
``scale_by`` references, duplicate keys, points inside holes). Every failure is a
:class:`ProfileError` naming the file and the line or field path; what a message quotes from
the file is shortened, so a hostile file cannot make the message itself expensive.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import reprlib
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

import voluptuous as vol
import yaml
from yaml.resolver import Resolver

from hardware_bridge._strict_yaml import EventSource, StrictComposer, StrictConstructor
from hardware_bridge.modbus._errors import ProfileError
from hardware_bridge.modbus._profile import (
    REGISTER_WIDTH,
    Bit,
    DataType,
    Hole,
    InitWrite,
    IoPoint,
    Point,
    Probe,
    Profile,
    ReadBack,
    SerialDefaults,
    WriteCommand,
)

__all__ = [
    "MAX_POINTS",
    "MAX_PROFILE_SIZE",
    "ProfileCatalogue",
    "load_catalogue",
    "load_profile",
    "load_profile_data",
    "load_profile_text",
    "shipped_profile_files",
]

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TYPES = ", ".join(t.value for t in DataType)

MAX_PROFILE_SIZE = 256 * 1024
"""Largest profile file read, in bytes (the biggest shipped one is under 8 KiB)."""
MAX_POINTS = 2048
"""Most points one profile may define (the largest shipped one has about 80)."""
_MAX_DEPTH = 16  # a profile nests 6 deep (points → point → bits → bit → value)

_SHORT = reprlib.Repr(
    maxlevel=2, maxtuple=4, maxlist=4, maxdict=4, maxset=4, maxstring=40, maxlong=40, maxother=40
)


def _shown(value: object) -> str:
    """A short repr of a value from a file, cheap however large or deeply shared the value is."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an integer too long to print
        return f"<{type(value).__name__}>"


class _ProfileComposer(StrictComposer):
    """A profile has no use for aliases (every point has its own key and address): they are
    refused where they appear rather than counted."""

    max_depth = _MAX_DEPTH
    where = " in a profile"

    def shown_name(self, text: object) -> str:
        return _shown(text)[1:-1]


class _ProfileConstructor(StrictConstructor):
    where = " in a profile"

    def shown_key(self, key: object) -> str:
        return _shown(key)


class _ProfileLoader(_ProfileComposer, EventSource, _ProfileConstructor, Resolver):
    """Composer first: its node building replaces libyaml's, which follows aliases unchecked."""

    def __init__(self, stream: str) -> None:
        EventSource.__init__(self, stream)
        _ProfileComposer.__init__(self)
        _ProfileConstructor.__init__(self)
        Resolver.__init__(self)


def _parse_yaml(text: str) -> object:
    loader = _ProfileLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise vol.Invalid("expected an integer")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid("expected a number")
    if not math.isfinite(value):
        raise vol.Invalid("expected a finite number")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a non-empty string")
    return value.strip()


def _key(value: Any) -> str:
    if not isinstance(value, str) or not _KEY_RE.match(value):
        raise vol.Invalid("expected a snake_case key (a-z, 0-9, _; starting with a letter)")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


def _one_of(*choices: object) -> Any:
    shown = ", ".join(str(c) for c in choices)

    def check(value: Any) -> Any:
        if isinstance(value, bool) or value not in choices:
            raise vol.Invalid(f"expected one of {shown}, got {_shown(value)}")
        return value

    return check


def _at_most(count: int) -> Any:
    """Bound a list before its entries are validated one by one (and every error collected)."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > count:
            raise vol.Invalid(f"at most {count} entries, got {len(value)}")
        return value

    return check


def _ranged(low: int, high: int) -> Any:
    return vol.All(_integer, vol.Range(min=low, max=high, msg=f"expected {low}..{high}"))


_ADDRESS = _ranged(0, 0xFFFF)
_FC = _one_of(3, 4)
_WORD_ORDER = _one_of("big", "little")
_TYPE = vol.All(
    vol.Any(str, msg=f"expected one of {_TYPES}"),
    vol.In([t.value for t in DataType], msg=f"expected one of {_TYPES}"),
)

_BIT = vol.Schema(
    {
        vol.Required("bit"): _ranged(0, 63),
        vol.Required("key"): _key,
        vol.Optional("name"): _text,
    }
)

_POINT = vol.Schema(
    {
        vol.Required("key"): _key,
        vol.Optional("name"): _text,
        vol.Required("address"): _ADDRESS,
        vol.Optional("function_code"): _FC,
        vol.Required("type"): _TYPE,
        vol.Optional("registers"): _ranged(1, 4),
        vol.Optional("word_order"): _WORD_ORDER,
        vol.Optional("scale"): _number,
        vol.Optional("offset"): _number,
        vol.Optional("unit"): _text,
        vol.Optional("device_class"): _text,
        vol.Optional("state_class"): _text,
        vol.Optional("precision"): _ranged(0, 10),
        vol.Optional("group"): _one_of("fast", "slow"),
        vol.Optional("enabled_by_default"): _boolean,
        vol.Optional("bits"): vol.All(
            _at_most(64), [_BIT], vol.Length(min=1, msg="expected at least one bit")
        ),
        vol.Optional("scale_by"): _key,
        vol.Optional("invalid_raw"): vol.All(_at_most(16), [_ranged(0, 2**64 - 1)]),
        vol.Optional("description"): _text,
        vol.Optional("verify"): _text,
    }
)

_READ_BACK = vol.Schema(
    {
        vol.Required("function_code"): _one_of(1, 2, 3, 4),
        vol.Required("address"): _ADDRESS,
        vol.Optional("bit"): _ranged(0, 15),
        vol.Optional("on_value"): _ranged(0, 0xFFFF),
        vol.Optional("off_value"): _ranged(0, 0xFFFF),
    }
)

_WRITE = vol.Schema(
    {
        vol.Required("function_code"): _one_of(5, 6, 15, 16),
        vol.Required("address"): _ADDRESS,
        vol.Optional("on_value"): _ranged(0, 0xFFFF),
        vol.Optional("off_value"): _ranged(0, 0xFFFF),
    }
)

_RELAY = vol.Schema(
    {
        vol.Required("key"): _key,
        vol.Optional("name"): _text,
        vol.Optional("write"): _WRITE,
        vol.Optional("read"): _READ_BACK,
        vol.Optional("description"): _text,
        vol.Optional("verify"): _text,
    }
)

_INPUT = vol.Schema(
    {
        vol.Required("key"): _key,
        vol.Optional("name"): _text,
        vol.Optional("read"): _READ_BACK,
        vol.Optional("description"): _text,
        vol.Optional("verify"): _text,
    }
)

_INIT = vol.Schema(
    {
        vol.Required("function_code"): _one_of(6, 16),
        vol.Required("address"): _ADDRESS,
        vol.Required("value"): vol.Any(
            _ranged(0, 0xFFFF),
            vol.All(_at_most(123), [_ranged(0, 0xFFFF)], vol.Length(min=1)),
            msg="expected a register value 0..65535 or a list of them",
        ),
        vol.Optional("description"): _text,
    }
)

_HOLE = vol.Schema(
    {
        vol.Optional("function_code"): _FC,
        vol.Required("start"): _ADDRESS,
        vol.Required("end"): _ADDRESS,
    }
)

_PROBE = vol.Schema(
    {
        vol.Optional("function_code"): _FC,
        vol.Required("address"): _ADDRESS,
        vol.Required("type"): _TYPE,
        vol.Optional("word_order"): _WORD_ORDER,
        vol.Optional("equals"): _number,
        vol.Optional("min"): _number,
        vol.Optional("max"): _number,
    }
)

_SERIAL = vol.Schema(
    {
        vol.Optional("baudrate"): _one_of(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200),
        vol.Optional("parity"): _one_of("N", "E", "O"),
        vol.Optional("stopbits"): _one_of(1, 2),
    }
)

_PROFILE = vol.Schema(
    {
        vol.Optional("id"): _text,
        vol.Required("manufacturer"): _text,
        vol.Required("model"): _text,
        vol.Optional("description"): _text,
        vol.Optional("function_code"): _FC,
        vol.Optional("word_order"): _WORD_ORDER,
        vol.Optional("max_registers_per_read"): _ranged(1, 125),
        vol.Optional("max_gap"): _ranged(0, 124),
        vol.Optional("holes"): vol.All(_at_most(256), [_HOLE]),
        vol.Optional("probe"): vol.All(_at_most(16), [_PROBE]),
        vol.Optional("serial"): _SERIAL,
        vol.Optional("points"): vol.All(
            _at_most(MAX_POINTS), [_POINT], vol.Length(min=1, msg="expected at least one point")
        ),
        vol.Optional("relays"): vol.All(_at_most(256), [_RELAY]),
        vol.Optional("inputs"): vol.All(_at_most(256), [_INPUT]),
        vol.Optional("init"): vol.All(_at_most(64), [_INIT]),
        vol.Optional("bit_read_size"): _ranged(1, 2000),
    }
)


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            name = part if isinstance(part, str) else _shown(part)
            name = str(part) if isinstance(part, vol.Marker) else name
            name = name if len(name) <= 40 else _shown(name)
            text += f".{name}" if text else name
    return text


def _schema_error(source: str, exc: vol.Invalid) -> ProfileError:
    errors = exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc]
    first = min(errors, key=lambda e: [str(p) for p in e.path])
    message = first.error_message or str(first.msg)
    # voluptuous says "extra keys not allowed"; the schema engine Home Assistant installs in
    # its place from 2026 on says "not a valid option". Our value validators word their own.
    if message in ("extra keys not allowed", "not a valid option"):
        message = "unknown field"
    elif message == "required key not provided":
        message = "required field missing"
    return ProfileError(source, _path(list(first.path)), message)


def _build(source: str, profile_id: str, doc: dict[str, Any]) -> Profile:
    def fail(path: str, reason: str) -> ProfileError:
        return ProfileError(source, path, reason)

    if "id" in doc and doc["id"] != profile_id:
        raise fail("id", f"must match the file name ({profile_id!r}), got {_shown(doc['id'])}")
    default_fc = cast("int", doc.get("function_code", 3))
    default_wo = doc.get("word_order")

    def word_order(path: str, entry: Mapping[str, Any], data_type: DataType) -> str:
        order = entry.get("word_order", default_wo)
        if order is None:
            if REGISTER_WIDTH[data_type] > 1:
                raise fail(
                    f"{path}.word_order",
                    f"required for {data_type.value} (set it here or as the profile's word_order)",
                )
            order = "big"
        return cast("str", order)

    holes: list[Hole] = []
    for i, h in enumerate(doc.get("holes", [])):
        if h["start"] > h["end"]:
            raise fail(f"holes[{i}].end", f"must not be below start ({h['start']})")
        holes.append(
            Hole(function_code=h.get("function_code", default_fc), **_pick(h, "start", "end"))
        )

    if not doc.get("points") and not doc.get("relays") and not doc.get("inputs"):
        raise fail("points", "required field missing (a profile needs points, relays or inputs)")
    points: list[Point] = []
    owner: dict[str, str] = {}
    for i, p in enumerate(doc.get("points", [])):
        path = f"points[{i}]"
        data_type = DataType(p["type"])
        width = REGISTER_WIDTH[data_type]
        if "registers" in p and p["registers"] != width:
            raise fail(
                f"{path}.registers", f"{data_type.value} occupies {width}, not {p['registers']}"
            )
        if p["address"] + width - 1 > 0xFFFF:
            raise fail(f"{path}.address", f"{data_type.value} at {p['address']} runs past 65535")
        if p.get("scale") == 0:
            raise fail(f"{path}.scale", "must not be 0")
        for key, where in [(p["key"], f"{path}.key")] + [
            (b["key"], f"{path}.bits[{k}].key") for k, b in enumerate(p.get("bits", []))
        ]:
            if key in owner:
                raise fail(where, f"duplicate key {_shown(key)} (already used by {owner[key]})")
            owner[key] = where.rsplit(".", 1)[0]
        bits: list[Bit] = []
        if p.get("bits"):
            if data_type is DataType.FLOAT32:
                raise fail(f"{path}.bits", "bitfields need an integer type, not float32")
            seen: set[int] = set()
            for k, b in enumerate(p["bits"]):
                if b["bit"] >= 16 * width:
                    raise fail(
                        f"{path}.bits[{k}].bit",
                        f"bit {b['bit']} does not fit {data_type.value} ({16 * width} bits)",
                    )
                if b["bit"] in seen:
                    raise fail(f"{path}.bits[{k}].bit", f"bit {b['bit']} listed twice")
                seen.add(b["bit"])
                bits.append(Bit(bit=b["bit"], key=b["key"], name=b.get("name", b["key"])))
        fc = p.get("function_code", default_fc)
        points.append(
            Point(
                key=p["key"],
                name=p.get("name", p["key"].replace("_", " ").capitalize()),
                address=p["address"],
                function_code=fc,
                type=data_type,
                word_order=cast("Any", word_order(path, p, data_type)),
                scale=float(p.get("scale", 1.0)),
                offset=float(p.get("offset", 0.0)),
                unit=p.get("unit"),
                device_class=p.get("device_class"),
                state_class=p.get("state_class"),
                precision=p.get("precision"),
                group=p.get("group", "fast"),
                enabled_by_default=p.get("enabled_by_default", True),
                bits=tuple(bits),
                scale_by=p.get("scale_by"),
                invalid_raw=tuple(p.get("invalid_raw", ())),
            )
        )
        for k, hole in enumerate(holes):
            if hole.overlaps(fc, p["address"], p["address"] + width):
                raise fail(f"{path}.address", f"lies in holes[{k}] ({hole.start}..{hole.end})")

    index = {pt.key: i for i, pt in enumerate(points)}
    for i, pt in enumerate(points):
        if pt.scale_by is None:
            continue
        ref = index.get(pt.scale_by)
        if ref is None:
            raise fail(f"points[{i}].scale_by", f"unknown point {_shown(pt.scale_by)}")
        if ref == i:
            raise fail(f"points[{i}].scale_by", "a point cannot scale itself")
        if points[ref].scale_by is not None:
            raise fail(
                f"points[{i}].scale_by",
                f"{_shown(pt.scale_by)} is itself scaled by another point",
            )

    order = sorted(range(len(points)), key=lambda n: (points[n].function_code, points[n].address))
    for before, after in itertools.pairwise(order):
        a, b = points[before], points[after]
        if a.function_code == b.function_code and b.address < a.end:
            raise fail(
                f"points[{after}].address",
                f"registers {b.address}..{b.end - 1} overlap points[{before}] "
                f"({a.key}, {a.address}..{a.end - 1})",
            )

    probes: list[Probe] = []
    for i, pr in enumerate(doc.get("probe", [])):
        data_type = DataType(pr["type"])
        if "equals" not in pr and "min" not in pr and "max" not in pr:
            raise fail(f"probe[{i}]", "needs equals, min or max")
        if "min" in pr and "max" in pr and pr["min"] > pr["max"]:
            raise fail(f"probe[{i}].max", "must not be below min")
        probes.append(
            Probe(
                function_code=pr.get("function_code", default_fc),
                address=pr["address"],
                type=data_type,
                word_order=cast("Any", word_order(f"probe[{i}]", pr, data_type)),
                equals=pr.get("equals"),
                minimum=pr.get("min"),
                maximum=pr.get("max"),
            )
        )

    io = _build_io(fail, doc, owner)
    init = tuple(
        InitWrite(
            function_code=w["function_code"],
            address=w["address"],
            values=tuple(w["value"]) if isinstance(w["value"], list) else (w["value"],),
        )
        for w in doc.get("init", [])
    )
    for i, w in enumerate(init):
        if w.function_code == 6 and len(w.values) != 1:
            raise fail(f"init[{i}].value", "function 6 writes one register; use 16 for several")
        if w.address + len(w.values) - 1 > 0xFFFF:
            raise fail(f"init[{i}].value", "runs past register 65535")

    serial = doc.get("serial", {})
    return Profile(
        id=profile_id,
        manufacturer=doc["manufacturer"],
        model=doc["model"],
        source=source,
        description=doc.get("description", ""),
        function_code=cast("Any", default_fc),
        word_order=cast("Any", default_wo),
        max_registers_per_read=doc.get("max_registers_per_read", 125),
        max_gap=doc.get("max_gap"),
        holes=tuple(holes),
        probes=tuple(probes),
        serial=SerialDefaults(**serial),
        points=tuple(points),
        io=io,
        init=init,
        bit_read_size=doc.get("bit_read_size", 1),
    )


def _build_io(fail: Any, doc: Mapping[str, Any], owner: dict[str, str]) -> tuple[IoPoint, ...]:
    """Relays and inputs: every relay must say how its state is read back."""
    out: list[IoPoint] = []
    for section, kind in (("relays", "relay"), ("inputs", "input")):
        for i, entry in enumerate(doc.get(section, [])):
            path = f"{section}[{i}]"
            if entry["key"] in owner:
                raise fail(
                    f"{path}.key",
                    f"duplicate key {_shown(entry['key'])} (already used by {owner[entry['key']]})",
                )
            owner[entry["key"]] = path
            if "read" not in entry:
                what = "a writable point needs a read-back" if kind == "relay" else "required"
                raise fail(
                    f"{path}.read",
                    f"{what} (read: coil FC01, discrete input FC02, or register FC03/FC04 + bit)",
                )
            if kind == "relay" and "write" not in entry:
                raise fail(f"{path}.write", "required field missing (how the relay is switched)")
            read = entry["read"]
            compares = "on_value" in read or "off_value" in read
            if read["function_code"] in (1, 2) and ("bit" in read or compares):
                raise fail(f"{path}.read", "a coil or discrete input is one bit: no bit/on_value")
            if "bit" in read and compares:
                raise fail(f"{path}.read.bit", "give either bit or on_value/off_value, not both")
            if read.get("on_value", 1) == read.get("off_value", 0):
                raise fail(f"{path}.read.off_value", "must differ from on")
            write: WriteCommand | None = None
            if kind == "relay":
                w = entry["write"]
                if w["function_code"] in (6, 16):
                    for name in ("on_value", "off_value"):
                        if name not in w:
                            raise fail(
                                f"{path}.write.{name}",
                                "required for a register write (the board's command value)",
                            )
                    if w["on_value"] == w["off_value"]:
                        raise fail(f"{path}.write.off_value", "must differ from on")
                elif "on_value" in w or "off_value" in w:
                    raise fail(f"{path}.write", "a coil write is FF00 on / 0000 off: no on_value")
                write = WriteCommand(
                    function_code=w["function_code"],
                    address=w["address"],
                    on=w.get("on_value", 0xFF00),
                    off=w.get("off_value", 0x0000),
                )
            out.append(
                IoPoint(
                    key=entry["key"],
                    name=entry.get("name", entry["key"].replace("_", " ").capitalize()),
                    kind=cast("Any", kind),
                    read=ReadBack(
                        function_code=read["function_code"],
                        address=read["address"],
                        bit=read.get("bit"),
                        on_raw=read.get("on_value", 1),
                        off_raw=read.get("off_value", 0),
                    ),
                    write=write,
                )
            )
    return tuple(out)


def _pick(mapping: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: mapping[name] for name in names}


def load_profile_data(data: object, *, source: str, profile_id: str | None = None) -> Profile:
    """Validate an already parsed document (a dict from YAML) into a :class:`Profile`."""
    pid = profile_id if profile_id is not None else Path(source).stem
    if not _ID_RE.match(pid):
        raise ProfileError(source, "", f"profile id {pid!r} must be snake_case (vendor_model)")
    if not isinstance(data, dict):
        raise ProfileError(source, "", "expected a mapping of profile fields at the top level")
    try:
        doc = _PROFILE(data)
    except vol.Invalid as exc:
        raise _schema_error(source, exc) from None
    return _build(source, pid, doc)


def load_profile_text(text: str, *, source: str, profile_id: str | None = None) -> Profile:
    """Parse YAML text; ``source`` (a file name) names the profile id and appears in errors."""
    if len(text) > MAX_PROFILE_SIZE:
        raise ProfileError(source, "", f"too large for a profile (over {MAX_PROFILE_SIZE} bytes)")
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ProfileError(source, where, f"invalid YAML: {problem}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ProfileError(source, "", f"invalid YAML: {exc}") from None
    return load_profile_data(data, source=source, profile_id=profile_id)


def load_profile(path: str | Path, *, source: str | None = None) -> Profile:
    """Load one profile file; the id is the file name without ``.yaml``."""
    path = Path(path)
    name = source if source is not None else str(path)
    try:
        raw = _read_bounded(path)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(name, "", f"cannot read file: {exc}") from None
    if len(raw) > MAX_PROFILE_SIZE:
        raise ProfileError(name, "", f"too large for a profile (over {MAX_PROFILE_SIZE} bytes)")
    return load_profile_text(text, source=name, profile_id=path.stem)


def _read_bounded(path: Path) -> bytes:
    """At most one byte more than a profile may have, from a regular file only.

    Opened without blocking and checked after opening: a FIFO or a device named ``x.yaml``
    in the user's folder would otherwise stall the loader (and Home Assistant's setup).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file: {path}")
        return file.read(MAX_PROFILE_SIZE + 1)


def shipped_profile_files() -> list[Path]:
    """The YAML files that ship inside the package."""
    folder = resources.files("hardware_bridge").joinpath("profiles")
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".yaml"))


@dataclass(frozen=True, slots=True)
class ProfileCatalogue:
    """Shipped profiles plus a user's own; a user file with the same id replaces the shipped one."""

    profiles: Mapping[str, Profile]
    errors: tuple[ProfileError, ...] = field(default=())
    """Files that failed to load (each error names its file and field); the rest still work."""

    def get(self, profile_id: str) -> Profile:
        """The profile with this id, or a :class:`ProfileError` saying it is unknown."""
        try:
            return self.profiles[profile_id]
        except KeyError:
            for error in self.errors:
                if Path(error.source).stem == profile_id:
                    raise error from None
            known = ", ".join(sorted(self.profiles))
            raise ProfileError(profile_id, "", f"unknown profile (known: {known})") from None

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self.profiles

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.profiles[k] for k in sorted(self.profiles))

    def __len__(self) -> int:
        return len(self.profiles)

    def ids(self) -> list[str]:
        return sorted(self.profiles)


def load_catalogue(user_dir: str | Path | None = None) -> ProfileCatalogue:
    """Load the shipped profiles and, if given, every ``*.yaml`` in ``user_dir``."""
    profiles: dict[str, Profile] = {}
    errors: list[ProfileError] = []
    for path in shipped_profile_files():
        try:
            profile = load_profile(path, source=path.name)
        except ProfileError as exc:
            errors.append(exc)
        else:
            profiles[profile.id] = profile
    if user_dir is not None:
        folder = Path(user_dir)
        paths: list[Path] | None = None
        # stat() itself, not is_dir(): is_dir() answers False for any error on Python 3.14
        # (a name too long would read "does not exist").
        try:
            if not stat.S_ISDIR(folder.stat().st_mode):
                errors.append(ProfileError(str(folder), "", "profile directory is not a directory"))
            else:
                paths = sorted(folder.glob("*.yaml"))
        except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL
            errors.append(ProfileError(str(folder), "", "profile directory does not exist"))
        except OSError as exc:  # a name too long, no permission
            reason = exc.strerror or str(exc)
            errors.append(ProfileError(str(folder), "", f"cannot read profile directory: {reason}"))
        for path in paths or ():
            try:
                profile = load_profile(path)
            except ProfileError as exc:
                errors.append(exc)
            else:
                profiles[profile.id] = profile
    return ProfileCatalogue(profiles, tuple(errors))
