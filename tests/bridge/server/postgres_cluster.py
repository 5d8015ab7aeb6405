"""A throwaway PostgreSQL server from Debian's ``postgresql`` binaries, for tests and benchmarks.

``initdb`` a data directory in a temporary directory, start ``postgres`` on 127.0.0.1 and a free
port with trust authentication, and remove everything on stop. PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` user (or ``nobody``), which owns the data
directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ClusterUnavailableError", "find_binaries", "throwaway_cluster"]


class ClusterUnavailableError(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start (the message says which)."""


def find_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has ``initdb`` and ``pg_ctl``."""
    found = [
        Path(path).parent
        for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if Path(path).with_name("pg_ctl").exists()
    ]
    if not found:
        return None
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ClusterUnavailableError("running as root and neither 'postgres' nor 'nobody' exists")


def _command(user: str | None, *args: str) -> list[str]:
    if user is None:
        return list(args)
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ClusterUnavailableError("running as root and 'runuser' is missing")
    return [runuser, "-u", user, "--", *args]


@contextlib.contextmanager
def throwaway_cluster(bindir: Path | None = None, *, durable: bool = False) -> Iterator[str]:
    """Run a PostgreSQL server for the duration of the block; yields its connection URL.

    Tests run it without fsync (nothing here must survive a crash); ``durable`` keeps
    PostgreSQL's defaults, for benchmarks whose figures must mean what a real server does.
    """
    bindir = bindir or find_binaries()
    if bindir is None:
        raise ClusterUnavailableError(
            "no PostgreSQL binaries (/usr/lib/postgresql/*/bin; Debian package 'postgresql')"
        )
    user = _run_as_user()
    top = Path(tempfile.mkdtemp(prefix="smartpower-pg-"))
    data = top / "data"
    data.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        top.chmod(0o755)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    started = False
    try:
        port = _free_port()
        initdb = subprocess.run(
            _command(
                user,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if initdb.returncode != 0:
            raise ClusterUnavailableError(f"initdb failed: {initdb.stderr.strip()[-500:]}")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{data}' "
            "-c max_connections=200"
        )
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        logfile = data / "server.log"
        start = subprocess.run(
            _command(
                user,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(logfile),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        started = True
        if start.returncode != 0:
            detail = logfile.read_text(errors="replace")[-800:] if logfile.exists() else ""
            raise ClusterUnavailableError(f"pg_ctl start failed: {start.stderr.strip()} {detail}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                _command(
                    user,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ),
                capture_output=True,
                check=False,
            )
            deadline = time.monotonic() + 10
            while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(top, ignore_errors=True)
