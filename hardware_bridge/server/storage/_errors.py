"""Errors of the server's storage; each says what to do, never with a secret in it."""

from __future__ import annotations

__all__ = [
    "EnrolmentConflictError",
    "SchemaTooNewError",
    "ServerStorageError",
    "UnknownTerminalError",
]


class ServerStorageError(Exception):
    """Base of every error raised by :mod:`hardware_bridge.server.storage`."""


class SchemaTooNewError(ServerStorageError):
    """The database was migrated by a newer release: this one must not write to it."""

    def __init__(self, database: str, found: int, known: int) -> None:
        self.found = found
        self.known = known
        super().__init__(
            f"{database}: the database schema is at version {found}, but this release of "
            f"smartpower-bridge knows versions up to {known}; upgrade smartpower-bridge "
            "(the database was migrated by a newer release and is left unchanged)"
        )


class EnrolmentConflictError(ServerStorageError):
    """A Modem No is already enrolled with another upload secret."""

    def __init__(self, modem_no: str) -> None:
        self.modem_no = modem_no
        super().__init__(f"modem {modem_no} is already enrolled with a different upload secret")


class UnknownTerminalError(ServerStorageError):
    """The Modem No is not enrolled."""

    def __init__(self, modem_no: str) -> None:
        self.modem_no = modem_no
        super().__init__(f"modem {modem_no} is not enrolled")
