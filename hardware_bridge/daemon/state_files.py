"""Small files in the state directory that let other commands see and reach a running daemon.

* ``status.json`` — what ``smartpower-bridge status`` prints. The daemon replaces it
  atomically (write a temporary file, rename it over the old one), so a reader sees either the
  old or the new file, never half of one, and never touches the daemon's database.
* ``daemon.pid`` — the running daemon's process id, held under an exclusive ``flock`` for the
  daemon's lifetime. A second daemon on the same state directory is refused; ``upload-now``
  signals the pid only while the lock is held (a stale file from a crash names no process).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "PID_FILE",
    "STATUS_FILE",
    "DaemonRunningError",
    "PidFile",
    "read_status",
    "running_pid",
    "write_status",
]

STATUS_FILE = "status.json"
PID_FILE = "daemon.pid"
_MAX_STATUS = 64 * 1024


class DaemonRunningError(RuntimeError):
    """Another daemon already runs on this state directory."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.pid = pid
        shown = f" (pid {pid})" if pid is not None else ""
        super().__init__(f"a daemon already runs on {path.parent}{shown}")


def write_status(state_dir: Path, status: dict[str, Any]) -> None:
    """Replace ``status.json`` atomically (blocking: call it in an executor)."""
    path = state_dir / STATUS_FILE
    tmp = state_dir / f".{STATUS_FILE}.{os.getpid()}.tmp"
    data = json.dumps(status, indent=2, sort_keys=True).encode() + b"\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The last status the daemon wrote, or None if it never ran here."""
    path = state_dir / STATUS_FILE
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_STATUS + 1)
    except FileNotFoundError:
        return None
    if len(raw) > _MAX_STATUS:
        raise ValueError(f"{path}: too large for a status file")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a status object")
    return data


class PidFile:
    """``daemon.pid`` held locked while the daemon runs."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PID_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DaemonRunningError(self.path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def running_pid(state_dir: Path) -> int | None:
    """The pid of the daemon running on ``state_dir``, or None when none runs."""
    path = state_dir / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        return None  # nobody holds the lock: a file left by a crash
    finally:
        os.close(fd)
