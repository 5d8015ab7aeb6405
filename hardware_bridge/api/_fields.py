"""Reading JSON documents into typed values, with the path of every refused field.

Each getter takes the parsed JSON object and the path of that object (``""`` at the top,
``readings[2]`` inside a list) and raises :class:`ApiValidationError` naming the full field.
Unknown members are ignored so that a newer server can add fields without breaking clients.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from hardware_bridge.api._errors import ApiValidationError

__all__ = [
    "KEY_PATTERN",
    "NAME_PATTERN",
    "JsonObject",
    "WireValue",
    "as_list",
    "as_object",
    "check_time",
    "check_value",
    "format_time",
    "get_bool",
    "get_enum",
    "get_float",
    "get_int",
    "get_str",
    "get_time",
    "get_value",
    "join",
    "opt_float",
    "opt_int",
    "opt_str",
    "opt_time",
    "parse_time",
    "wire_value",
]

type JsonObject = dict[str, Any]
type WireValue = float | int | bool | str | None
"""A reading's value on the wire; timestamps and dates travel as ISO 8601 strings."""

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
"""Measurement, relay and input keys: the bridge's stable snake_case names."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
"""Device keys, modem numbers, command ids: printable, no spaces, usable in a path."""

_MAX_TEXT = 4096


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def as_object(data: object, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ApiValidationError(path, "must be an object")
    return data


def as_list(data: object, path: str, *, max_items: int | None = None) -> Sequence[Any]:
    if not isinstance(data, list | tuple):
        raise ApiValidationError(path, "must be an array")
    if max_items is not None and len(data) > max_items:
        raise ApiValidationError(path, f"must have at most {max_items} items")
    return data


def _present(obj: Mapping[str, Any], name: str, path: str) -> Any:
    if name not in obj:
        raise ApiValidationError(join(path, name), "is required")
    return obj[name]


def _check_str(
    value: object, field: str, pattern: re.Pattern[str] | None, max_len: int, allow_empty: bool
) -> str:
    if not isinstance(value, str):
        raise ApiValidationError(field, "must be a string")
    if not value and not allow_empty:
        raise ApiValidationError(field, "must not be empty")
    if len(value) > max_len:
        raise ApiValidationError(field, f"must be at most {max_len} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise ApiValidationError(field, f"must match {pattern.pattern}")
    return value


def get_str(
    obj: Mapping[str, Any],
    name: str,
    path: str,
    *,
    pattern: re.Pattern[str] | None = None,
    max_len: int = _MAX_TEXT,
    allow_empty: bool = False,
) -> str:
    return _check_str(_present(obj, name, path), join(path, name), pattern, max_len, allow_empty)


def opt_str(
    obj: Mapping[str, Any],
    name: str,
    path: str,
    *,
    pattern: re.Pattern[str] | None = None,
    max_len: int = _MAX_TEXT,
) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    return _check_str(value, join(path, name), pattern, max_len, allow_empty=True)


def _check_int(value: object, field: str, minimum: int | None, maximum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiValidationError(field, "must be an integer")
    if minimum is not None and value < minimum:
        raise ApiValidationError(field, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ApiValidationError(field, f"must be at most {maximum}")
    return value


def get_int(
    obj: Mapping[str, Any],
    name: str,
    path: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    return _check_int(_present(obj, name, path), join(path, name), minimum, maximum)


def opt_int(
    obj: Mapping[str, Any],
    name: str,
    path: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    value = obj.get(name)
    return None if value is None else _check_int(value, join(path, name), minimum, maximum)


def _check_float(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiValidationError(field, "must be a number")
    try:
        number = float(value)
    except OverflowError:
        raise ApiValidationError(field, "is out of range") from None
    if not math.isfinite(number):
        raise ApiValidationError(field, "must be a finite number")
    return number


def get_float(obj: Mapping[str, Any], name: str, path: str) -> float:
    return _check_float(_present(obj, name, path), join(path, name))


def opt_float(obj: Mapping[str, Any], name: str, path: str) -> float | None:
    value = obj.get(name)
    return None if value is None else _check_float(value, join(path, name))


def get_bool(obj: Mapping[str, Any], name: str, path: str, *, default: bool | None = None) -> bool:
    if name not in obj and default is not None:
        return default
    value = _present(obj, name, path)
    if not isinstance(value, bool):
        raise ApiValidationError(join(path, name), "must be true or false")
    return value


def get_enum[E: StrEnum](
    obj: Mapping[str, Any], name: str, path: str, enum: type[E], *, default: E | None = None
) -> E:
    if name not in obj and default is not None:
        return default
    value = _present(obj, name, path)
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ApiValidationError(join(path, name), f"must be one of: {allowed}") from None


def check_value(value: object, field: str) -> WireValue:
    """A reading's value: a finite number, a boolean, a string or null."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            raise ApiValidationError(field, f"must be at most {_MAX_TEXT} characters")
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ApiValidationError(field, "must be a finite number")
        return value
    raise ApiValidationError(field, "must be a number, a boolean, a string or null")


def get_value(obj: Mapping[str, Any], name: str, path: str) -> WireValue:
    return check_value(_present(obj, name, path), join(path, name))


def check_time(value: datetime, field: str) -> datetime:
    """A time must carry its zone: a naive time is ambiguous across the uplink."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ApiValidationError(field, "must carry a time zone")
    return value


def parse_time(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise ApiValidationError(field, "must be an ISO 8601 date-time string")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ApiValidationError(field, "must be an ISO 8601 date-time") from None
    if "T" not in text.upper():
        raise ApiValidationError(field, "must be an ISO 8601 date-time")
    return check_time(parsed, field)


def get_time(obj: Mapping[str, Any], name: str, path: str) -> datetime:
    return parse_time(_present(obj, name, path), join(path, name))


def opt_time(obj: Mapping[str, Any], name: str, path: str) -> datetime | None:
    value = obj.get(name)
    return None if value is None else parse_time(value, join(path, name))


def format_time(value: datetime) -> str:
    """ISO 8601 with its zone, to the millisecond (``Z`` for UTC)."""
    text = value.isoformat(timespec="milliseconds")
    if value.utcoffset() == UTC.utcoffset(None) and text.endswith("+00:00"):
        return text[:-6] + "Z"
    return text


def wire_value(value: float | int | bool | str | datetime | date | None) -> WireValue:
    """A bridge value (:data:`hardware_bridge.models.Value`) as a reading's value: a timestamp
    becomes ISO 8601 with its zone, a date ``YYYY-MM-DD``; the rest is unchanged."""
    if isinstance(value, datetime):
        return format_time(check_time(value, "value"))
    if isinstance(value, date):
        return value.isoformat()
    return value
