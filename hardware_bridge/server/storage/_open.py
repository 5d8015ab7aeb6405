"""Choose the backend from the ``--database`` option."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hardware_bridge.server.storage._protocol import Storage
from hardware_bridge.server.storage._sqlite import SqliteStorage

__all__ = ["DEFAULT_DATABASE_FILE", "open_storage"]

DEFAULT_DATABASE_FILE = "smartpower-server.sqlite3"


async def open_storage(
    database: str | None,
    *,
    state_dir: Path | str = ".",
    retention: timedelta | None = None,
    max_connections: int = 10,
) -> Storage:
    """Open (and migrate) the storage ``database`` names.

    ``postgresql://…`` (or ``postgres://…``): PostgreSQL, which needs the ``[server]`` extra;
    ``sqlite:///path`` or a plain path: that SQLite file; None: ``smartpower-server.sqlite3``
    in ``state_dir``. ``max_connections`` bounds this process's PostgreSQL pool (the sum over
    all server processes must stay under the server's ``max_connections``).
    """
    if database is not None and database.startswith(("postgresql://", "postgres://")):
        try:
            from hardware_bridge.server.storage._postgres import (  # noqa: PLC0415
                PostgresStorage,
            )
        except ImportError as err:
            raise RuntimeError(
                "a PostgreSQL database needs asyncpg: install smartpower-hardware-bridge[server]"
            ) from err
        return await PostgresStorage.open(
            database, retention=retention, min_size=1, max_size=max_connections
        )
    if database is None:
        path = Path(state_dir) / DEFAULT_DATABASE_FILE
    elif database.startswith("sqlite:///"):
        path = Path(database.removeprefix("sqlite://"))
    elif "://" in database:
        raise ValueError(
            f"--database {database.split('://')[0]}://…: expected postgresql://… or a SQLite path"
        )
    else:
        path = Path(database)
    return await SqliteStorage.open(path, retention=retention)
