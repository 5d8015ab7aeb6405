"""The storage on PostgreSQL, for a fleet: several stateless server processes, one database.

Through asyncpg and its connection pool: asyncpg speaks PostgreSQL's binary protocol itself
(no libpq), installs as a wheel on every platform the server runs on, and is the fastest async
driver for the bulk inserts uploads are made of.

Each batch is stored in one transaction that first locks its terminal's row (``FOR UPDATE``):
two processes receiving the same batch (a retry that crossed a slow reply) take turns, and the
second finds every sequence number held. Readings are partitioned by month (native declarative
partitioning; partitions are made ahead and on demand, under an advisory lock), or a
TimescaleDB hypertable with monthly chunks when the extension is installed in the database at
the first migration. Retention drops whole partitions (or chunks): no row-by-row delete, no
bloat.
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from hardware_bridge.server.storage._batch import (
    advance,
    coverage,
    newest_per_key,
    plan_batch,
    plan_intervals,
    validate,
)
from hardware_bridge.server.storage._errors import (
    EnrolmentConflictError,
    SchemaTooNewError,
    ServerStorageError,
    UnknownTerminalError,
)
from hardware_bridge.server.storage._models import (
    EXPIRED_MESSAGE,
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
    decode_value,
    encode_value,
    from_micros,
    to_micros,
)
from hardware_bridge.uplink import Gap, QueuedRecord, Record, RecordKind, RecordValue

__all__ = ["MIGRATIONS", "PostgresStorage"]

type _Connection = Any  # asyncpg ships no type information
_MIGRATION_LOCK = 0x5350_0001
_PARTITION_LOCK = 0x5350_0002
_PARTITION = re.compile(r"^readings_p(\d{4})(\d{2})$")
_MONTHS_AHEAD = 2


@dataclass(frozen=True, slots=True)
class _PgMigration:
    version: int
    description: str
    apply: Callable[[_Connection], Coroutine[Any, Any, None]]


async def _migration_1(conn: _Connection) -> None:
    timescale = await conn.fetchval(
        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
    )
    layout = "hypertable" if timescale else "partitioned"
    await conn.execute(
        """
        CREATE TABLE storage_settings (name text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE terminals (
            modem_no text PRIMARY KEY,
            upload_secret_hash text NOT NULL,
            enrolled timestamptz NOT NULL,
            auth_code text,
            auth_code_set timestamptz,
            tokens_revoked_before timestamptz,
            stream text,
            epoch integer NOT NULL DEFAULT 0,
            acked_seq bigint,
            last_contact timestamptz,
            signal_dbm integer,
            registration text
        );
        CREATE TABLE streams (
            modem_no text NOT NULL,
            stream text NOT NULL,
            epoch integer NOT NULL,
            acked_seq bigint,
            PRIMARY KEY (modem_no, stream),
            UNIQUE (modem_no, epoch)
        );
        CREATE TABLE gaps (
            modem_no text NOT NULL,
            epoch integer NOT NULL,
            first_seq bigint NOT NULL,
            last_seq bigint NOT NULL,
            count bigint NOT NULL,
            start_time timestamptz NOT NULL,
            end_time timestamptz NOT NULL,
            PRIMARY KEY (modem_no, epoch, last_seq)
        );
        CREATE INDEX gaps_by_time ON gaps (modem_no, end_time);
        CREATE TABLE latest (
            modem_no text NOT NULL,
            device text NOT NULL,
            key text NOT NULL,
            epoch integer NOT NULL,
            seq bigint NOT NULL,
            time timestamptz NOT NULL,
            kind text NOT NULL,
            vtype text NOT NULL,
            vint bigint,
            vreal double precision,
            vtext text,
            unit text,
            PRIMARY KEY (modem_no, device, key)
        );
        CREATE TABLE token_grants (
            token_hash text NOT NULL,
            modem_no text NOT NULL,
            granted timestamptz NOT NULL,
            PRIMARY KEY (token_hash, modem_no)
        );
        CREATE INDEX token_grants_by_modem ON token_grants (modem_no);
        CREATE TABLE commands (
            id text PRIMARY KEY,
            modem_no text NOT NULL,
            device text NOT NULL,
            key text NOT NULL,
            vtype text NOT NULL,
            vint bigint,
            vreal double precision,
            vtext text,
            created timestamptz NOT NULL,
            state text NOT NULL,
            outcome_time timestamptz,
            message text
        );
        CREATE INDEX commands_by_modem ON commands (modem_no, state, created);
        """
    )
    readings = """
        CREATE TABLE readings (
            modem_no text NOT NULL,
            epoch integer NOT NULL,
            seq bigint NOT NULL,
            time timestamptz NOT NULL,
            kind text NOT NULL,
            device text NOT NULL,
            key text NOT NULL,
            vtype text NOT NULL,
            vint bigint,
            vreal double precision,
            vtext text,
            unit text,
            PRIMARY KEY (modem_no, epoch, seq, time)
        )"""
    if layout == "hypertable":
        await conn.execute(readings)
        await conn.execute(
            "SELECT create_hypertable('readings', 'time', "
            "chunk_time_interval => interval '1 month')"
        )
    else:
        await conn.execute(readings + " PARTITION BY RANGE (time)")
    await conn.execute("CREATE INDEX readings_by_time ON readings (modem_no, time, epoch, seq)")
    await conn.execute("INSERT INTO storage_settings VALUES ('readings_layout', $1)", layout)


async def _migration_2(conn: _Connection) -> None:
    await conn.execute(
        """
        CREATE TABLE descriptions (
            modem_no text PRIMARY KEY,
            document text NOT NULL,
            stored timestamptz NOT NULL
        );
        ALTER TABLE commands ADD COLUMN expires timestamptz, ADD COLUMN delivered timestamptz;
        CREATE INDEX commands_to_expire ON commands (state, expires) WHERE delivered IS NULL;
        CREATE INDEX terminals_by_secret ON terminals (upload_secret_hash);
        """
    )


MIGRATIONS: tuple[_PgMigration, ...] = (
    _PgMigration(
        1, "terminals, readings by month, gaps, latest values, tokens, commands", _migration_1
    ),
    _PgMigration(
        2,
        "descriptions in the database, command expiry and delivery, secrets looked up",
        _migration_2,
    ),
)


def _month_start(time: datetime) -> datetime:
    time = time.astimezone(UTC)
    return datetime(time.year, time.month, 1, tzinfo=UTC)


def _next_month(month: datetime) -> datetime:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def _partition_name(month: datetime) -> str:
    return f"readings_p{month.year:04d}{month.month:02d}"


def _terminal(row: Any) -> Terminal:
    status = None
    if row["last_contact"] is not None:
        status = TerminalStatus(
            last_contact=row["last_contact"],
            signal_dbm=row["signal_dbm"],
            registration=row["registration"],
        )
    return Terminal(
        modem_no=row["modem_no"],
        upload_secret_hash=row["upload_secret_hash"],
        enrolled=row["enrolled"],
        auth_code=None if row["auth_code"] is None else AuthCodeHash.from_json(row["auth_code"]),
        auth_code_set=row["auth_code_set"],
        tokens_revoked_before=row["tokens_revoked_before"],
        stream=row["stream"],
        acked_seq=row["acked_seq"] or 0,
        status=status,
    )


def _command(row: Any) -> Command:
    return Command(
        id=row["id"],
        modem_no=row["modem_no"],
        device=row["device"],
        key=row["key"],
        value=decode_value(row["vtype"], row["vint"], row["vreal"], row["vtext"]),
        created=row["created"],
        state=CommandState(row["state"]),
        outcome_time=row["outcome_time"],
        message=row["message"],
        expires=row["expires"],
        delivered=row["delivered"],
    )


def _reading(row: Any) -> StoredReading:
    return StoredReading(
        device=row["device"],
        key=row["key"],
        value=decode_value(row["vtype"], row["vint"], row["vreal"], row["vtext"]),
        unit=row["unit"],
        time=row["time"],
        seq=row["seq"],
        kind=RecordKind(row["kind"]),
    )


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresStorage:
    """:class:`Storage` on PostgreSQL; open it with :meth:`open`."""

    def __init__(self, pool: Any, url: str, retention: timedelta | None, layout: str) -> None:
        self._pool = pool
        self._url = url
        self._retention = retention
        self.layout = layout
        """``partitioned`` (native, by month) or ``hypertable`` (TimescaleDB)."""
        self._partitions: set[str] = set()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        retention: timedelta | None = None,
        min_size: int = 2,
        max_size: int = 10,
    ) -> PostgresStorage:
        where = _redacted(url)
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise ServerStorageError(f"{where}: cannot connect: {err}") from err
        try:
            async with pool.acquire() as conn:
                await cls._migrate(conn, where)
                layout = await conn.fetchval(
                    "SELECT value FROM storage_settings WHERE name = 'readings_layout'"
                )
            storage = cls(pool, where, retention, str(layout))
            await storage._load_partitions()
            await storage.ensure_partitions()  # this month and the next ones
        except BaseException:
            await pool.close()
            raise
        return storage

    @staticmethod
    async def _migrate(conn: _Connection, where: str) -> None:
        async with conn.transaction():
            # One process migrates; the others wait here and then find nothing to do.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "description text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"
            )
            found = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
            if found > len(MIGRATIONS):
                raise SchemaTooNewError(where, found, len(MIGRATIONS))
            for migration in MIGRATIONS[found:]:
                await migration.apply(conn)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
                    migration.version,
                    migration.description,
                )

    @property
    def retention(self) -> timedelta | None:
        return self._retention

    async def close(self) -> None:
        await self._pool.close()

    async def schema_version(self) -> int:
        return int(await self._pool.fetchval("SELECT max(version) FROM schema_migrations"))

    # -- partitions ----------------------------------------------------------------------------

    async def _load_partitions(self) -> None:
        rows = await self._pool.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'readings'::regclass"
        )
        self._partitions = {row["relname"] for row in rows if _PARTITION.match(row["relname"])}

    async def partitions(self) -> tuple[str, ...]:
        """The monthly partitions of readings, oldest first (none for a hypertable)."""
        await self._load_partitions()
        return tuple(sorted(self._partitions))

    async def ensure_partitions(self, *times: datetime, ahead: int = _MONTHS_AHEAD) -> None:
        """Make the partitions the given times fall in; with no times, this month and the
        ``ahead`` next ones (what a periodic task calls)."""
        if self.layout != "partitioned":
            return
        months: set[datetime] = {_month_start(time) for time in times}
        if not times:
            month = _month_start(datetime.now(UTC))
            for _ in range(ahead + 1):
                months.add(month)
                month = _next_month(month)
        missing = sorted(m for m in months if _partition_name(m) not in self._partitions)
        if not missing:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK)
            for month in missing:
                name = _partition_name(month)
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings "
                    f"FOR VALUES FROM ('{month.isoformat()}') "
                    f"TO ('{_next_month(month).isoformat()}')"
                )
        self._partitions.update(_partition_name(m) for m in missing)

    # -- terminals -----------------------------------------------------------------------------

    async def enrol(self, modem_no: str, upload_secret_hash: str, *, at: datetime) -> Terminal:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO terminals (modem_no, upload_secret_hash, enrolled) "
                "VALUES ($1, $2, $3) ON CONFLICT (modem_no) DO NOTHING",
                modem_no,
                upload_secret_hash,
                at,
            )
            row = await conn.fetchrow("SELECT * FROM terminals WHERE modem_no = $1", modem_no)
        terminal = _terminal(row)
        if not hmac.compare_digest(
            terminal.upload_secret_hash.encode(), upload_secret_hash.encode()
        ):
            raise EnrolmentConflictError(modem_no)
        return terminal

    async def terminal(self, modem_no: str) -> Terminal | None:
        row = await self._pool.fetchrow("SELECT * FROM terminals WHERE modem_no = $1", modem_no)
        return None if row is None else _terminal(row)

    async def set_auth_code(
        self, modem_no: str, auth_code: AuthCodeHash, *, at: datetime, revoke_tokens: bool
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE terminals SET auth_code = $1, auth_code_set = $2 WHERE modem_no = $3",
                auth_code.to_json(),
                at,
                modem_no,
            )
            if status == "UPDATE 0":
                raise UnknownTerminalError(modem_no)
            if revoke_tokens:
                await self._revoke_tokens(conn, modem_no, at)

    async def record_status(self, modem_no: str, status: TerminalStatus) -> None:
        result = await self._pool.execute(
            "UPDATE terminals SET last_contact = $1, signal_dbm = $2, registration = $3 "
            "WHERE modem_no = $4",
            status.last_contact,
            status.signal_dbm,
            status.registration,
            modem_no,
        )
        if result == "UPDATE 0":
            raise UnknownTerminalError(modem_no)

    async def modem_for_secret(self, upload_secret_hash: str) -> str | None:
        modem: str | None = await self._pool.fetchval(
            "SELECT modem_no FROM terminals WHERE upload_secret_hash = $1", upload_secret_hash
        )
        return modem

    # -- descriptions --------------------------------------------------------------------------

    async def put_description(
        self, modem_no: str, document: str, *, at: datetime, replace: bool = True
    ) -> bool:
        conflict = (
            "DO UPDATE SET document = excluded.document, stored = excluded.stored"
            if replace
            else "DO NOTHING"
        )
        status = await self._pool.execute(
            f"INSERT INTO descriptions VALUES ($1, $2, $3) ON CONFLICT (modem_no) {conflict}",
            modem_no,
            document,
            at,
        )
        return bool(status.split()[-1] != "0")

    async def description(self, modem_no: str) -> str | None:
        document: str | None = await self._pool.fetchval(
            "SELECT document FROM descriptions WHERE modem_no = $1", modem_no
        )
        return document

    # -- uploads -------------------------------------------------------------------------------

    async def store_batch(
        self,
        modem_no: str,
        records: Sequence[QueuedRecord],
        *,
        stream: str | None = None,
        status: TerminalStatus | None = None,
    ) -> BatchResult:
        records = tuple(records)
        validate(records)
        await self.ensure_partitions(
            *(item.item.time for item in records if isinstance(item.item, Record))
        )
        try:
            return await self._store_batch(modem_no, records, stream, status)
        except asyncpg.CheckViolationError:
            # Another process dropped a partition this one still counted (retention of an
            # old month): make it again and retry once.
            await self._load_partitions()
            await self.ensure_partitions(
                *(item.item.time for item in records if isinstance(item.item, Record))
            )
            return await self._store_batch(modem_no, records, stream, status)

    async def _store_batch(
        self,
        modem_no: str,
        records: tuple[QueuedRecord, ...],
        stream: str | None,
        status: TerminalStatus | None,
    ) -> BatchResult:
        async with self._pool.acquire() as conn, conn.transaction():
            # The terminal's row is the lock that makes check-then-insert atomic. The queue's
            # row is read after the lock is held, by a statement of its own: one statement
            # joining both would see the queue as it was before the lock was granted.
            if status is None:
                current = await conn.fetchrow(
                    "SELECT stream FROM terminals WHERE modem_no = $1 FOR UPDATE", modem_no
                )
            else:  # the update locks the row as FOR UPDATE does, in the same round trip
                current = await conn.fetchrow(
                    "UPDATE terminals SET last_contact = $2, signal_dbm = $3, registration = $4 "
                    "WHERE modem_no = $1 RETURNING stream",
                    modem_no,
                    status.last_contact,
                    status.signal_dbm,
                    status.registration,
                )
            if current is None:
                raise UnknownTerminalError(modem_no)
            name = stream if stream is not None else (current["stream"] or "")
            row = await conn.fetchrow(
                "SELECT stream, epoch, acked_seq FROM streams WHERE modem_no = $1 AND stream = $2",
                modem_no,
                name,
            )
            if row is None:  # a new queue: its numbers restart, in a new epoch
                epoch: int = await conn.fetchval(
                    "WITH e AS (SELECT coalesce(max(epoch) + 1, 0) AS epoch FROM streams "
                    "WHERE modem_no = $1), s AS (INSERT INTO streams SELECT $1, $2, epoch, NULL "
                    "FROM e), t AS (UPDATE terminals SET stream = $2, epoch = e.epoch, "
                    "acked_seq = NULL FROM e WHERE modem_no = $1) SELECT epoch FROM e",
                    modem_no,
                    name,
                )
                acked: int | None = None
            else:
                epoch, acked = row["epoch"], row["acked_seq"]
            if not records:
                return BatchResult(acked_seq=acked or 0, stored=0, duplicates=0)
            if acked is None:  # the first batch of this queue: its numbering starts here
                acked = min(coverage(item)[0] for item in records) - 1
            # What is held above the acknowledgement: normally nothing (batches come in order),
            # a batch's worth after a lost reply.
            held = await self._held(conn, modem_no, epoch, acked)
            plan = plan_batch(records, acked, (seq for seq, _ in held))
            await self._insert(conn, modem_no, epoch, plan.records, plan.gaps)
            new_acked = advance(
                acked, [interval for _, interval in held] + list(plan_intervals(plan))
            )
            await conn.execute(
                "WITH s AS (UPDATE streams SET acked_seq = $1 WHERE modem_no = $2 AND stream = $3) "
                "UPDATE terminals SET acked_seq = $1 WHERE modem_no = $2 AND epoch = $4",
                new_acked,
                modem_no,
                name,
                epoch,
            )
        return BatchResult(
            acked_seq=new_acked,
            stored=len(plan.records) + len(plan.gaps),
            duplicates=plan.duplicates,
        )

    @staticmethod
    async def _held(
        conn: _Connection, modem_no: str, epoch: int, after: int
    ) -> list[tuple[int, tuple[int, int]]]:
        """(key sequence number, covered interval) of what is stored above ``after``."""
        rows = await conn.fetch(
            "SELECT seq AS key, seq AS first FROM readings WHERE modem_no = $1 AND epoch = $2 "
            "AND seq > $3 UNION ALL SELECT last_seq, first_seq FROM gaps "
            "WHERE modem_no = $1 AND epoch = $2 AND last_seq > $3",
            modem_no,
            epoch,
            after,
        )
        return [(row["key"], (row["first"], row["key"])) for row in rows]

    @staticmethod
    async def _insert(
        conn: _Connection,
        modem_no: str,
        epoch: int,
        records: Sequence[tuple[int, Record]],
        gaps: Sequence[tuple[int, Gap]],
    ) -> None:
        if records:
            columns: list[list[Any]] = [[] for _ in range(10)]
            for seq, record in records:
                row = (
                    seq,
                    record.time,
                    str(record.kind),
                    record.device,
                    record.key,
                    *encode_value(record.value),
                    record.unit,
                )
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
            await conn.execute(
                "INSERT INTO readings (modem_no, epoch, seq, time, kind, device, key, vtype, "
                "vint, vreal, vtext, unit) SELECT $1, $2, * FROM unnest($3::bigint[], "
                "$4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], "
                "$9::bigint[], $10::float8[], $11::text[], $12::text[])",
                modem_no,
                epoch,
                *columns,
            )
            newest = newest_per_key(records).values()
            latest: list[list[Any]] = [[] for _ in range(10)]
            for seq, record in newest:
                latest_row = (
                    record.device,
                    record.key,
                    seq,
                    record.time,
                    str(record.kind),
                    *encode_value(record.value),
                    record.unit,
                )
                for column, value in zip(latest, latest_row, strict=True):
                    column.append(value)
            await conn.execute(
                "INSERT INTO latest AS l (modem_no, epoch, device, key, seq, time, kind, vtype, "
                "vint, vreal, vtext, unit) SELECT $1, $2, * FROM unnest($3::text[], "
                "$4::text[], $5::bigint[], $6::timestamptz[], $7::text[], $8::text[], "
                "$9::bigint[], $10::float8[], $11::text[], $12::text[]) "
                "ON CONFLICT (modem_no, device, key) DO UPDATE SET epoch = excluded.epoch, "
                "seq = excluded.seq, time = excluded.time, kind = excluded.kind, "
                "vtype = excluded.vtype, vint = excluded.vint, vreal = excluded.vreal, "
                "vtext = excluded.vtext, unit = excluded.unit "
                "WHERE (excluded.time, excluded.epoch, excluded.seq) > (l.time, l.epoch, l.seq)",
                modem_no,
                epoch,
                *latest,
            )
        if gaps:
            await conn.executemany(
                "INSERT INTO gaps VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    (modem_no, epoch, gap.first_seq, gap.last_seq, gap.count, gap.start, gap.end)
                    for _, gap in gaps
                ],
            )

    async def latest(self, modem_no: str) -> tuple[StoredReading, ...]:
        rows = await self._pool.fetch(
            # Byte order, as SQLite sorts, whatever the database's collation.
            'SELECT * FROM latest WHERE modem_no = $1 ORDER BY device COLLATE "C", key COLLATE "C"',
            modem_no,
        )
        return tuple(_reading(row) for row in rows)

    async def history(
        self,
        modem_no: str,
        start: datetime,
        end: datetime,
        *,
        cursor: HistoryCursor | None = None,
        limit: int = 500,
    ) -> ReadingsPage:
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise ValueError(f"history limit {limit} is not within 1…{MAX_HISTORY_LIMIT}")
        after = cursor or HistoryCursor(to_micros(start) - 1, 2**30, 2**62)
        rows = await self._pool.fetch(
            "SELECT * FROM readings WHERE modem_no = $1 AND time >= $2 AND time < $3 "
            "AND (time, epoch, seq) > ($4, $5, $6) ORDER BY time, epoch, seq LIMIT $7",
            modem_no,
            start,
            end,
            from_micros(after.time_us),
            after.epoch,
            after.seq,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = HistoryCursor(to_micros(last["time"]), last["epoch"], last["seq"])
        return ReadingsPage(readings=tuple(_reading(row) for row in rows), next_cursor=next_cursor)

    async def gaps(self, modem_no: str, start: datetime, end: datetime) -> tuple[StoredGap, ...]:
        rows = await self._pool.fetch(
            "SELECT * FROM gaps WHERE modem_no = $1 AND end_time >= $2 AND start_time < $3 "
            "ORDER BY start_time, epoch, last_seq",
            modem_no,
            start,
            end,
        )
        return tuple(
            StoredGap(
                first_seq=row["first_seq"],
                last_seq=row["last_seq"],
                count=row["count"],
                start=row["start_time"],
                end=row["end_time"],
            )
            for row in rows
        )

    async def apply_retention(self, now: datetime) -> RetentionResult:
        if self._retention is None:
            return RetentionResult(cutoff=from_micros(0))
        cutoff = now - self._retention
        dropped: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK)
            if self.layout == "hypertable":
                chunks = await conn.fetch(
                    "SELECT drop_chunks('readings', older_than => $1::timestamptz)", cutoff
                )
                dropped.extend(str(row[0]) for row in chunks)
            else:
                rows = await conn.fetch(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'readings'::regclass"
                )
                for row in rows:
                    match = _PARTITION.match(row["relname"])
                    if match is None:
                        continue
                    month = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
                    if _next_month(month) <= cutoff:
                        await conn.execute(f"DROP TABLE {row['relname']}")
                        dropped.append(row["relname"])
            status = await conn.execute("DELETE FROM gaps WHERE end_time < $1", cutoff)
        self._partitions.difference_update(dropped)
        return RetentionResult(
            cutoff=cutoff,
            dropped_partitions=tuple(sorted(dropped)),
            deleted_rows=int(status.split()[-1]),
        )

    # -- tokens --------------------------------------------------------------------------------

    async def grant_token(self, modem_no: str, token_hash: str, *, at: datetime) -> None:
        status = await self._pool.execute(
            "INSERT INTO token_grants SELECT $1, modem_no, $3 FROM terminals "
            "WHERE modem_no = $2 ON CONFLICT (token_hash, modem_no) "
            "DO UPDATE SET granted = excluded.granted",
            token_hash,
            modem_no,
            at,
        )
        if status.split()[-1] == "0":
            raise UnknownTerminalError(modem_no)

    async def revoke_token(self, token_hash: str) -> int:
        status = await self._pool.execute(
            "DELETE FROM token_grants WHERE token_hash = $1", token_hash
        )
        return int(status.split()[-1])

    @staticmethod
    async def _revoke_tokens(conn: _Connection, modem_no: str, at: datetime) -> int:
        await conn.execute(
            "UPDATE terminals SET tokens_revoked_before = $1 WHERE modem_no = $2", at, modem_no
        )
        status = await conn.execute("DELETE FROM token_grants WHERE modem_no = $1", modem_no)
        return int(status.split()[-1])

    async def revoke_tokens(self, modem_no: str, *, at: datetime) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._revoke_tokens(conn, modem_no, at)

    async def token_modems(self, token_hash: str) -> frozenset[str]:
        rows = await self._pool.fetch(
            "SELECT g.modem_no FROM token_grants g JOIN terminals t USING (modem_no) "
            "WHERE g.token_hash = $1 AND (t.tokens_revoked_before IS NULL "
            "OR g.granted >= t.tokens_revoked_before)",
            token_hash,
        )
        return frozenset(row["modem_no"] for row in rows)

    # -- commands ------------------------------------------------------------------------------

    async def create_command(
        self,
        modem_no: str,
        device: str,
        key: str,
        value: RecordValue,
        *,
        at: datetime,
        expires: datetime | None = None,
    ) -> Command:
        row = await self._pool.fetchrow(
            "INSERT INTO commands (id, modem_no, device, key, vtype, vint, vreal, vtext, "
            "created, state, expires) SELECT $1, modem_no, $3, $4, $5, $6, $7, $8, $9, $10, $11 "
            "FROM terminals WHERE modem_no = $2 RETURNING *",
            uuid.uuid4().hex,
            modem_no,
            device,
            key,
            *encode_value(value),
            at,
            str(CommandState.PENDING),
            expires,
        )
        if row is None:
            raise UnknownTerminalError(modem_no)
        return _command(row)

    async def pending_commands(self, modem_no: str) -> tuple[Command, ...]:
        rows = await self._pool.fetch(
            "SELECT * FROM commands WHERE modem_no = $1 AND state = $2 ORDER BY created, id",
            modem_no,
            str(CommandState.PENDING),
        )
        return tuple(_command(row) for row in rows)

    async def deliver_commands(self, modem_no: str, *, at: datetime) -> tuple[Command, ...]:
        rows = await self._pool.fetch(
            "UPDATE commands SET delivered = coalesce(delivered, $1) WHERE modem_no = $2 "
            "AND state = $3 AND (expires IS NULL OR expires > $1) RETURNING *",
            at,
            modem_no,
            str(CommandState.PENDING),
        )
        return tuple(sorted((_command(row) for row in rows), key=lambda c: (c.created, c.id)))

    async def expire_commands(
        self, now: datetime, modem_no: str | None = None
    ) -> tuple[Command, ...]:
        rows = await self._pool.fetch(
            "UPDATE commands SET state = $1, outcome_time = expires, message = $2 "
            "WHERE state = $3 AND delivered IS NULL AND expires <= $4 "
            "AND ($5::text IS NULL OR modem_no = $5) RETURNING *",
            str(CommandState.EXPIRED),
            EXPIRED_MESSAGE,
            str(CommandState.PENDING),
            now,
            modem_no,
        )
        return tuple(sorted((_command(row) for row in rows), key=lambda c: (c.created, c.id)))

    async def record_outcome(
        self,
        modem_no: str,
        command_id: str,
        state: CommandState,
        *,
        at: datetime,
        message: str | None = None,
    ) -> Command | None:
        if state not in (CommandState.CONFIRMED, CommandState.FAILED):
            raise ValueError(f"an outcome is confirmed or failed, not {state}")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE commands SET state = $1, outcome_time = $2, message = $3 "
                "WHERE id = $4 AND modem_no = $5 AND state = $6",
                str(state),
                at,
                message,
                command_id,
                modem_no,
                str(CommandState.PENDING),
            )
            row = await conn.fetchrow(
                "SELECT * FROM commands WHERE id = $1 AND modem_no = $2", command_id, modem_no
            )
        return None if row is None else _command(row)

    async def command(self, command_id: str) -> Command | None:
        row = await self._pool.fetchrow("SELECT * FROM commands WHERE id = $1", command_id)
        return None if row is None else _command(row)
