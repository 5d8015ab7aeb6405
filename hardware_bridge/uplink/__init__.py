"""Store-and-forward uplink: the durable reading queue and the terminal's identity."""

from hardware_bridge.uplink._async_queue import AsyncReadingQueue
from hardware_bridge.uplink._errors import (
    IdentityError,
    IdentityPermissionError,
    QueueFullError,
    StorageError,
    UplinkError,
)
from hardware_bridge.uplink._queue import (
    DEFAULT_MAX_BYTES,
    DEFAULT_RETENTION,
    Batch,
    HistoryPage,
    QueueStats,
    ReadingQueue,
    SeqRange,
)
from hardware_bridge.uplink._ratelimit import ClaimRateLimiter
from hardware_bridge.uplink._records import Gap, QueuedRecord, Record, RecordKind, RecordValue
from hardware_bridge.uplink.identity import (
    AUTH_CODE_ALPHABET,
    AUTH_CODE_LENGTH,
    IDENTITY_FILE,
    MAX_TOKENS,
    OpenedIdentity,
    TerminalIdentity,
    modem_no_is_valid,
    normalize_auth_code,
)

__all__ = [
    "AUTH_CODE_ALPHABET",
    "AUTH_CODE_LENGTH",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_RETENTION",
    "IDENTITY_FILE",
    "MAX_TOKENS",
    "AsyncReadingQueue",
    "Batch",
    "ClaimRateLimiter",
    "Gap",
    "HistoryPage",
    "IdentityError",
    "IdentityPermissionError",
    "OpenedIdentity",
    "QueueFullError",
    "QueueStats",
    "QueuedRecord",
    "ReadingQueue",
    "Record",
    "RecordKind",
    "RecordValue",
    "SeqRange",
    "StorageError",
    "TerminalIdentity",
    "UplinkError",
    "modem_no_is_valid",
    "normalize_auth_code",
]
