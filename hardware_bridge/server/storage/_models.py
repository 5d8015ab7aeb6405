"""What the server stores, as typed values; both backends take and return exactly these."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from hardware_bridge.uplink import RecordKind, RecordValue, normalize_auth_code

__all__ = [
    "MAX_HISTORY_LIMIT",
    "AuthCodeHash",
    "BatchResult",
    "Command",
    "CommandState",
    "HistoryCursor",
    "ReadingsPage",
    "RetentionResult",
    "StoredGap",
    "StoredReading",
    "Terminal",
    "TerminalStatus",
]

MAX_HISTORY_LIMIT = 10_000
"""The most readings one history page returns."""

_MAX_SCRYPT_N = 2**16
_MAX_SCRYPT_R = 16
_MAX_SCRYPT_P = 4
_MAX_SCRYPT_COST = 2**18
"""n·r·p at most twice the terminal's own (2^14·8·1): a claim costs the server at most about
0.1 s and 32 MB, whatever a terminal uploads."""
_MAX_CODE_INPUT = 256


def _aware(time: datetime, what: str) -> datetime:
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"{what} {time.isoformat()} has no time zone")
    return time.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthCodeHash:
    """The terminal's auth code as the terminal hashed it: scrypt parameters, salt and hash.

    The terminal uploads this on enrolment and on every renewal, so the plain code never
    leaves the terminal; a claim hashes the code it was given with the same salt and compares.
    The parameters are bounded, so a terminal cannot make each claim cost the server seconds.
    """

    n: int
    r: int
    p: int
    salt: bytes
    hash: bytes
    scheme: str = "scrypt"

    def __post_init__(self) -> None:
        if self.scheme != "scrypt":
            raise ValueError(f"auth code hash: unknown scheme {self.scheme!r} (expected scrypt)")
        if not (2 <= self.n <= _MAX_SCRYPT_N and self.n & (self.n - 1) == 0):
            raise ValueError(f"auth code hash: n={self.n} is not a power of two <= {_MAX_SCRYPT_N}")
        if not (1 <= self.r <= _MAX_SCRYPT_R and 1 <= self.p <= _MAX_SCRYPT_P):
            raise ValueError(f"auth code hash: r={self.r}, p={self.p} out of range")
        if self.n * self.r * self.p > _MAX_SCRYPT_COST:
            raise ValueError(
                f"auth code hash: n·r·p = {self.n * self.r * self.p} costs more than "
                f"{_MAX_SCRYPT_COST}"
            )
        if not (8 <= len(self.salt) <= 64 and 16 <= len(self.hash) <= 64):
            raise ValueError("auth code hash: salt or hash has an unexpected length")

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> AuthCodeHash:
        """From the terminal's form (``identity.json``'s ``auth_code``: base64 salt and hash)."""
        try:
            return cls(
                scheme=str(data.get("scheme", "scrypt")),
                n=int(data["n"]),  # type: ignore[call-overload]
                r=int(data["r"]),  # type: ignore[call-overload]
                p=int(data["p"]),  # type: ignore[call-overload]
                salt=base64.b64decode(str(data["salt"]), validate=True),
                hash=base64.b64decode(str(data["hash"]), validate=True),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"auth code hash: {err}") from err

    def to_mapping(self) -> dict[str, object]:
        return {
            "scheme": self.scheme,
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "hash": base64.b64encode(self.hash).decode("ascii"),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_mapping(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuthCodeHash:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("auth code hash: not an object")
        return cls.from_mapping(data)

    def verify(self, code: str) -> bool:
        """Whether ``code`` as typed is the auth code. Costs one scrypt (tens of ms): async
        callers run it in an executor. Compares in constant time."""
        if len(code) > _MAX_CODE_INPUT:
            return False
        presented = hashlib.scrypt(
            normalize_auth_code(code).encode("utf-8"),
            salt=self.salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=128 * self.r * (self.n + self.p + 2) + 2**20,
            dklen=len(self.hash),
        )
        return hmac.compare_digest(presented, self.hash)


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalStatus:
    """How the terminal was at its last upload."""

    last_contact: datetime
    signal_dbm: int | None = None
    registration: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Terminal:
    """An enrolled terminal.

    ``acked_seq`` is the highest sequence number up to which every number of the terminal's
    current queue (``stream``, its newest) is accounted for by a reading, an event or a gap.
    ``tokens_revoked_before``: tokens granted earlier are void (set by an auth-code renewal).
    """

    modem_no: str
    upload_secret_hash: str
    enrolled: datetime
    auth_code: AuthCodeHash | None
    auth_code_set: datetime | None
    tokens_revoked_before: datetime | None
    stream: str | None
    acked_seq: int
    status: TerminalStatus | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """``acked_seq``: highest contiguous sequence number stored (what the terminal may delete);
    ``stored``: records and gaps newly stored; ``duplicates``: those already held."""

    acked_seq: int
    stored: int
    duplicates: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredReading:
    """A reading or an event as stored; ``seq`` is the terminal's sequence number."""

    device: str
    key: str
    value: RecordValue
    unit: str | None
    time: datetime
    seq: int
    kind: RecordKind = RecordKind.READING


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredGap:
    """Readings the terminal dropped (its queue was full), as it reported them."""

    first_seq: int
    last_seq: int
    count: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, order=True)
class HistoryCursor:
    """Where a history page ended: the last row's time (µs since the epoch), the terminal's
    queue epoch and sequence number. Stable: rows inserted later never shift a page."""

    time_us: int
    epoch: int
    seq: int

    def encode(self) -> str:
        return f"{self.time_us}.{self.epoch}.{self.seq}"

    @classmethod
    def decode(cls, text: str) -> HistoryCursor:
        parts = text.split(".")
        try:
            if len(parts) != 3:
                raise ValueError
            return cls(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            raise ValueError(f"history cursor {text[:40]!r} is not valid") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingsPage:
    """One page of history in (time, sequence) order; ``next_cursor`` is None at the end."""

    readings: tuple[StoredReading, ...]
    next_cursor: HistoryCursor | None


EXPIRED_MESSAGE = (
    "The terminal did not fetch the command before it expired; it was not carried out."
)


class CommandState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"
    """Not fetched by the terminal before ``expires``: never delivered after that."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A command for a terminal (a relay to set), delivered on the reply to its next upload.

    ``delivered`` is when it was first handed to the terminal (None: not yet); a command not
    delivered by ``expires`` ends ``expired`` and is never delivered after that.
    """

    id: str
    modem_no: str
    device: str
    key: str
    value: RecordValue
    created: datetime
    state: CommandState = CommandState.PENDING
    outcome_time: datetime | None = None
    message: str | None = None
    expires: datetime | None = None
    delivered: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionResult:
    """What a retention pass removed: whole partitions (PostgreSQL) or rows (SQLite)."""

    cutoff: datetime
    dropped_partitions: tuple[str, ...] = ()
    deleted_rows: int = 0


# -- values: one encoding for both backends ------------------------------------------------

_TYPE_NONE = "n"
_TYPE_BOOL = "b"
_TYPE_INT = "i"
_TYPE_FLOAT = "f"
_TYPE_STR = "s"


_TYPE_STR_ESCAPED = "S"
_NEGATIVE_ZERO = "-0"


def _storable_text(text: str) -> bool:
    """Whether both databases keep ``text`` as it is (PostgreSQL refuses NUL; neither takes
    a lone surrogate, which JSON can carry)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_name(text: str | None, what: str) -> None:
    """Device names, value keys and units are stored as text: refuse what would not be."""
    if text is not None and not _storable_text(text):
        raise ValueError(f"{what} {text[:40]!r} has a NUL or an unpaired surrogate")


def encode_value(value: RecordValue) -> tuple[str, int | None, float | None, str | None]:
    """(type, integer, real, text) columns; bool before int (bool is an int in Python).

    Exact on both databases: SQLite keeps a whole REAL as an integer, which loses the sign of
    -0.0, so that is marked in the text column; a string neither database can hold as text is
    kept as its JSON (ASCII) form.
    """
    if value is None:
        return _TYPE_NONE, None, None, None
    if isinstance(value, bool):
        return _TYPE_BOOL, int(value), None, None
    if isinstance(value, int):
        return _TYPE_INT, value, None, None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"value {value} is not a finite number")
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return _TYPE_FLOAT, None, 0.0, _NEGATIVE_ZERO
        return _TYPE_FLOAT, None, value, None
    if not _storable_text(value):
        return _TYPE_STR_ESCAPED, None, None, json.dumps(value, ensure_ascii=True)
    return _TYPE_STR, None, None, value


def decode_value(
    vtype: str, vint: int | None, vreal: float | None, vtext: str | None
) -> RecordValue:
    if vtype == _TYPE_BOOL:
        return bool(vint)
    if vtype == _TYPE_INT:
        return vint
    if vtype == _TYPE_FLOAT:
        return -0.0 if vtext == _NEGATIVE_ZERO else vreal
    if vtype == _TYPE_STR:
        return vtext
    if vtype == _TYPE_STR_ESCAPED and vtext is not None:
        return str(json.loads(vtext))
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(time: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    delta = _aware(time, "time") - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
