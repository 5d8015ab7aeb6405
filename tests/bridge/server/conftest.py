"""Both storage backends for the server's storage tests.

PostgreSQL comes from ``SMARTPOWER_TEST_POSTGRES_URL`` (a server where the user may create
databases) or, failing that, a throwaway server started from Debian's ``postgresql`` binaries
for the session. Without either, the PostgreSQL cases are skipped — or fail when
``SMARTPOWER_POSTGRES_TEST=required`` (``.ci/run`` sets it), so CI cannot pass without them.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from .postgres_cluster import ClusterUnavailableError, throwaway_cluster

URL_ENV = "SMARTPOWER_TEST_POSTGRES_URL"
REQUIRED_ENV = "SMARTPOWER_POSTGRES_TEST"

BACKENDS = ("sqlite", "postgresql")


def _allow_sockets(request: pytest.FixtureRequest) -> None:
    """PostgreSQL is reached over loopback TCP; Home Assistant's test plugin blocks sockets."""
    # Without pytest-socket nothing is blocked, and there is no such fixture.
    with contextlib.suppress(pytest.FixtureLookupError):
        request.getfixturevalue("socket_enabled")


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED_ENV, "").strip() == "required":
        pytest.fail(f"PostgreSQL is required ({REQUIRED_ENV}=required) but {reason}")
    pytest.skip(f"no PostgreSQL: {reason}; set {URL_ENV} or install Debian's postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for the session (request it after ``socket_enabled``)."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        yield url
        return
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _unavailable("asyncpg is not installed (the [server] extra)")
    try:
        cluster = throwaway_cluster()
        url = cluster.__enter__()
    except ClusterUnavailableError as err:
        _unavailable(str(err))
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


async def _new_database(server: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh database on ``server``: its URL and how to drop it."""
    import asyncpg

    name = f"sp_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    base, _, _ = server.rpartition("/")

    async def drop() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    return f"{base}/{name}", drop


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A fresh, empty database of the backend: a SQLite path or a PostgreSQL URL."""
    if backend == "sqlite":
        yield str(tmp_path / "server.sqlite3")
        return
    _allow_sockets(request)
    server = request.getfixturevalue("postgres_server")
    url, drop = await _new_database(server)
    try:
        yield url
    finally:
        await drop()


@pytest.fixture
def postgres_database_factory(
    request: pytest.FixtureRequest,
) -> Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]:
    """Make fresh PostgreSQL databases (for tests that need one per example)."""
    _allow_sockets(request)
    server = request.getfixturevalue("postgres_server")
    return lambda: _new_database(server)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL server (its default database), sockets allowed."""
    _allow_sockets(request)
    return str(request.getfixturevalue("postgres_server"))
