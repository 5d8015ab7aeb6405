"""Typed errors of the uplink: the reading queue's storage and the terminal's identity.

Every error names the file it is about, so the daemon can say what to fix without a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "IdentityError",
    "IdentityPermissionError",
    "QueueFullError",
    "StorageError",
    "UplinkError",
]


class UplinkError(Exception):
    """Base of every error raised by :mod:`hardware_bridge.uplink`."""


class StorageError(UplinkError):
    """The reading queue's database could not be read or written.

    Nothing of the failed call was committed: the database is as it was before the call.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"reading queue {path}: {reason}")


class QueueFullError(StorageError):
    """The disk (or the database's page limit) is full; nothing of this call was committed.

    The queue stays consistent and accepts appends again once space is freed.
    """


class IdentityError(UplinkError):
    """The terminal's identity file is missing something, unreadable or malformed."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"terminal identity {path}: {reason}")


class IdentityPermissionError(IdentityError):
    """The identity file can be read or written by users other than its owner."""

    def __init__(self, path: Path, mode: int) -> None:
        self.mode = mode
        super().__init__(
            path,
            f"mode is {mode:04o}, but it holds the terminal's secrets and must be readable and "
            f"writable by its owner only; run: chmod 600 {path}",
        )
