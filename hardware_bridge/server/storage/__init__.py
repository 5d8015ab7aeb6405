"""The server's storage: SQLite for one machine, PostgreSQL for a fleet, one protocol.

:func:`open_storage` picks the backend from the ``--database`` option and migrates the schema;
everything else goes through :class:`Storage`.
"""

from hardware_bridge.server.storage._errors import (
    EnrolmentConflictError,
    SchemaTooNewError,
    ServerStorageError,
    UnknownTerminalError,
)
from hardware_bridge.server.storage._models import (
    MAX_HISTORY_LIMIT,
    AuthCodeHash,
    BatchResult,
    Command,
    CommandState,
    HistoryCursor,
    ReadingsPage,
    RetentionResult,
    StoredGap,
    StoredReading,
    Terminal,
    TerminalStatus,
)
from hardware_bridge.server.storage._open import DEFAULT_DATABASE_FILE, open_storage
from hardware_bridge.server.storage._protocol import Storage
from hardware_bridge.server.storage._sqlite import SqliteStorage

__all__ = [
    "DEFAULT_DATABASE_FILE",
    "MAX_HISTORY_LIMIT",
    "AuthCodeHash",
    "BatchResult",
    "Command",
    "CommandState",
    "EnrolmentConflictError",
    "HistoryCursor",
    "ReadingsPage",
    "RetentionResult",
    "SchemaTooNewError",
    "ServerStorageError",
    "SqliteStorage",
    "Storage",
    "StoredGap",
    "StoredReading",
    "Terminal",
    "TerminalStatus",
    "UnknownTerminalError",
    "open_storage",
]
