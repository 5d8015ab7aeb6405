"""The storage on SQLite: one file in the state directory, for a server on one machine.

Every call runs in one worker thread that owns the connection (as the terminal's queue does):
SQLite connections belong to the thread that made them, and one writer keeps each batch's
check-then-insert atomic without locks of our own. WAL lets readers of the file (a backup, the
``sqlite3`` shell) proceed while the server writes; ``synchronous=FULL`` fsyncs the log at
every commit, because an acknowledged batch is deleted on the terminal and must survive a power
cut here. Readings are a plain indexed table; retention deletes them by time.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from hardware_bridge.server.storage._migrations import Migration, check_known
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
from hardware_bridge.uplink import QueuedRecord, RecordKind, RecordValue

__all__ = ["MIGRATIONS", "SqliteStorage"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "terminals, readings, gaps, latest values, token grants, commands",
        (
            """CREATE TABLE terminals (
                modem_no TEXT PRIMARY KEY,
                upload_secret_hash TEXT NOT NULL,
                enrolled_us INTEGER NOT NULL,
                auth_code TEXT,
                auth_code_set_us INTEGER,
                tokens_revoked_before_us INTEGER,
                stream TEXT,
                epoch INTEGER NOT NULL DEFAULT 0,
                acked_seq INTEGER,
                last_contact_us INTEGER,
                signal_dbm INTEGER,
                registration TEXT
            )""",
            """CREATE TABLE readings (
                modem_no TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                time_us INTEGER NOT NULL,
                kind TEXT NOT NULL,
                device TEXT NOT NULL,
                key TEXT NOT NULL,
                vtype TEXT NOT NULL,
                vint INTEGER,
                vreal REAL,
                vtext TEXT,
                unit TEXT,
                PRIMARY KEY (modem_no, epoch, seq)
            ) WITHOUT ROWID""",
            """CREATE TABLE streams (
                modem_no TEXT NOT NULL,
                stream TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                acked_seq INTEGER,
                PRIMARY KEY (modem_no, stream),
                UNIQUE (modem_no, epoch)
            )""",
            "CREATE INDEX readings_by_time ON readings (modem_no, time_us, epoch, seq)",
            "CREATE INDEX readings_retention ON readings (time_us)",
            """CREATE TABLE gaps (
                modem_no TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                first_seq INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                count INTEGER NOT NULL,
                start_us INTEGER NOT NULL,
                end_us INTEGER NOT NULL,
                PRIMARY KEY (modem_no, epoch, last_seq)
            )""",
            "CREATE INDEX gaps_by_time ON gaps (modem_no, end_us)",
            """CREATE TABLE latest (
                modem_no TEXT NOT NULL,
                device TEXT NOT NULL,
                key TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                time_us INTEGER NOT NULL,
                kind TEXT NOT NULL,
                vtype TEXT NOT NULL,
                vint INTEGER,
                vreal REAL,
                vtext TEXT,
                unit TEXT,
                PRIMARY KEY (modem_no, device, key)
            )""",
            """CREATE TABLE token_grants (
                token_hash TEXT NOT NULL,
                modem_no TEXT NOT NULL,
                granted_us INTEGER NOT NULL,
                PRIMARY KEY (token_hash, modem_no)
            )""",
            "CREATE INDEX token_grants_by_modem ON token_grants (modem_no)",
            """CREATE TABLE commands (
                id TEXT PRIMARY KEY,
                modem_no TEXT NOT NULL,
                device TEXT NOT NULL,
                key TEXT NOT NULL,
                vtype TEXT NOT NULL,
                vint INTEGER,
                vreal REAL,
                vtext TEXT,
                created_us INTEGER NOT NULL,
                state TEXT NOT NULL,
                outcome_us INTEGER,
                message TEXT
            )""",
            "CREATE INDEX commands_by_modem ON commands (modem_no, state, created_us)",
        ),
    ),
    Migration(
        2,
        "descriptions in the database, command expiry and delivery, secrets looked up",
        (
            """CREATE TABLE descriptions (
                modem_no TEXT PRIMARY KEY,
                document TEXT NOT NULL,
                stored_us INTEGER NOT NULL
            )""",
            "ALTER TABLE commands ADD COLUMN expires_us INTEGER",
            "ALTER TABLE commands ADD COLUMN delivered_us INTEGER",
            "CREATE INDEX commands_to_expire ON commands (state, expires_us) "
            "WHERE delivered_us IS NULL",
            "CREATE INDEX terminals_by_secret ON terminals (upload_secret_hash)",
        ),
    ),
)
check_known(MIGRATIONS)

_TERMINAL_COLUMNS = (
    "modem_no, upload_secret_hash, enrolled_us, auth_code, auth_code_set_us, "
    "tokens_revoked_before_us, stream, epoch, acked_seq, last_contact_us, signal_dbm, registration"
)
_COMMAND_COLUMNS = (
    "id, modem_no, device, key, vtype, vint, vreal, vtext, created_us, state, outcome_us, message, "
    "expires_us, delivered_us"
)


def _opt_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _terminal(row: sqlite3.Row) -> Terminal:
    status = None
    if row["last_contact_us"] is not None:
        status = TerminalStatus(
            last_contact=from_micros(row["last_contact_us"]),
            signal_dbm=row["signal_dbm"],
            registration=row["registration"],
        )
    return Terminal(
        modem_no=row["modem_no"],
        upload_secret_hash=row["upload_secret_hash"],
        enrolled=from_micros(row["enrolled_us"]),
        auth_code=None if row["auth_code"] is None else AuthCodeHash.from_json(row["auth_code"]),
        auth_code_set=_opt_time(row["auth_code_set_us"]),
        tokens_revoked_before=_opt_time(row["tokens_revoked_before_us"]),
        stream=row["stream"],
        acked_seq=row["acked_seq"] or 0,
        status=status,
    )


def _command(row: sqlite3.Row) -> Command:
    return Command(
        id=row["id"],
        modem_no=row["modem_no"],
        device=row["device"],
        key=row["key"],
        value=decode_value(row["vtype"], row["vint"], row["vreal"], row["vtext"]),
        created=from_micros(row["created_us"]),
        state=CommandState(row["state"]),
        outcome_time=_opt_time(row["outcome_us"]),
        message=row["message"],
        expires=_opt_time(row["expires_us"]),
        delivered=_opt_time(row["delivered_us"]),
    )


def _reading(row: sqlite3.Row) -> StoredReading:
    return StoredReading(
        device=row["device"],
        key=row["key"],
        value=decode_value(row["vtype"], row["vint"], row["vreal"], row["vtext"]),
        unit=row["unit"],
        time=from_micros(row["time_us"]),
        seq=row["seq"],
        kind=RecordKind(row["kind"]),
    )


class _Database:
    """The synchronous side: every method runs in the worker thread."""

    def __init__(self, path: Path, retention: timedelta | None) -> None:
        self.path = path
        self.retention = retention
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        except (OSError, sqlite3.Error) as err:
            raise ServerStorageError(f"{path}: cannot open the database: {err}") from err
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_us INTEGER NOT NULL)"
            )
            found = db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
            if found > len(MIGRATIONS):
                raise SchemaTooNewError(str(self.path), found, len(MIGRATIONS))
            for migration in MIGRATIONS[found:]:
                for statement in migration.statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (migration.version, migration.description, to_micros(_now())),
                )

    def close(self) -> None:
        self.db.close()

    def durability(self) -> tuple[str, int]:
        journal = self.db.execute("PRAGMA journal_mode").fetchone()[0]
        return str(journal), int(self.db.execute("PRAGMA synchronous").fetchone()[0])

    def schema_version(self) -> int:
        return int(self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0])

    # -- terminals -------------------------------------------------------------------------------

    def _get_terminal(self, modem_no: str) -> Terminal | None:
        row = self.db.execute(
            f"SELECT {_TERMINAL_COLUMNS} FROM terminals WHERE modem_no = ?", (modem_no,)
        ).fetchone()
        return None if row is None else _terminal(row)

    def terminal(self, modem_no: str) -> Terminal | None:
        return self._get_terminal(modem_no)

    def enrol(self, modem_no: str, upload_secret_hash: str, at: datetime) -> Terminal:
        with self._write() as db:
            existing = self._get_terminal(modem_no)
            if existing is not None:
                if not hmac.compare_digest(
                    existing.upload_secret_hash.encode(), upload_secret_hash.encode()
                ):
                    raise EnrolmentConflictError(modem_no)
                return existing
            db.execute(
                "INSERT INTO terminals (modem_no, upload_secret_hash, enrolled_us) "
                "VALUES (?, ?, ?)",
                (modem_no, upload_secret_hash, to_micros(at)),
            )
            terminal = self._get_terminal(modem_no)
        assert terminal is not None
        return terminal

    def set_auth_code(
        self, modem_no: str, auth_code: AuthCodeHash, at: datetime, revoke_tokens: bool
    ) -> None:
        with self._write() as db:
            changed = db.execute(
                "UPDATE terminals SET auth_code = ?, auth_code_set_us = ? WHERE modem_no = ?",
                (auth_code.to_json(), to_micros(at), modem_no),
            ).rowcount
            if not changed:
                raise UnknownTerminalError(modem_no)
            if revoke_tokens:
                self._revoke_tokens(db, modem_no, at)

    def record_status(self, modem_no: str, status: TerminalStatus) -> None:
        with self._write() as db:
            changed = db.execute(
                "UPDATE terminals SET last_contact_us = ?, signal_dbm = ?, registration = ? "
                "WHERE modem_no = ?",
                (to_micros(status.last_contact), status.signal_dbm, status.registration, modem_no),
            ).rowcount
            if not changed:
                raise UnknownTerminalError(modem_no)

    def modem_for_secret(self, upload_secret_hash: str) -> str | None:
        row = self.db.execute(
            "SELECT modem_no FROM terminals WHERE upload_secret_hash = ?", (upload_secret_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    # -- descriptions ----------------------------------------------------------------------------

    def put_description(self, modem_no: str, document: str, at: datetime, replace: bool) -> bool:
        with self._write() as db:
            conflict = (
                "DO UPDATE SET document = excluded.document, stored_us = excluded.stored_us"
                if replace
                else "DO NOTHING"
            )
            return bool(
                db.execute(
                    f"INSERT INTO descriptions VALUES (?, ?, ?) ON CONFLICT (modem_no) {conflict}",
                    (modem_no, document, to_micros(at)),
                ).rowcount
            )

    def description(self, modem_no: str) -> str | None:
        row = self.db.execute(
            "SELECT document FROM descriptions WHERE modem_no = ?", (modem_no,)
        ).fetchone()
        return None if row is None else str(row[0])

    # -- uploads ---------------------------------------------------------------------------------

    def store_batch(
        self,
        modem_no: str,
        records: Sequence[QueuedRecord],
        stream: str | None,
        status: TerminalStatus | None,
    ) -> BatchResult:
        validate(records)
        with self._write() as db:
            row = db.execute(
                "SELECT stream FROM terminals WHERE modem_no = ?", (modem_no,)
            ).fetchone()
            if row is None:
                raise UnknownTerminalError(modem_no)
            if status is not None:  # in the batch's commit: one fsync per upload, not two
                db.execute(
                    "UPDATE terminals SET last_contact_us = ?, signal_dbm = ?, registration = ? "
                    "WHERE modem_no = ?",
                    (
                        to_micros(status.last_contact),
                        status.signal_dbm,
                        status.registration,
                        modem_no,
                    ),
                )
            name = stream if stream is not None else (row["stream"] or "")
            known = db.execute(
                "SELECT epoch, acked_seq FROM streams WHERE modem_no = ? AND stream = ?",
                (modem_no, name),
            ).fetchone()
            if known is None:  # a new queue: its numbers restart, in a new epoch
                epoch: int = db.execute(
                    "SELECT coalesce(max(epoch) + 1, 0) FROM streams WHERE modem_no = ?",
                    (modem_no,),
                ).fetchone()[0]
                acked: int | None = None
                db.execute("INSERT INTO streams VALUES (?, ?, ?, NULL)", (modem_no, name, epoch))
                db.execute(
                    "UPDATE terminals SET stream = ?, epoch = ?, acked_seq = NULL "
                    "WHERE modem_no = ?",
                    (name, epoch, modem_no),
                )
            else:
                epoch, acked = known["epoch"], known["acked_seq"]
            if not records:
                return BatchResult(acked_seq=acked or 0, stored=0, duplicates=0)
            if acked is None:  # the first batch of this queue: its numbering starts here
                acked = min(coverage(item)[0] for item in records) - 1
            # What is held above the acknowledgement: normally nothing (batches come in order),
            # a batch's worth after a lost reply.
            held = self._held(db, modem_no, epoch, acked)
            plan = plan_batch(records, acked, (seq for seq, _ in held))
            self._insert(db, modem_no, epoch, plan.records, plan.gaps)
            new_acked = advance(
                acked, [interval for _, interval in held] + list(plan_intervals(plan))
            )
            db.execute(
                "UPDATE streams SET acked_seq = ? WHERE modem_no = ? AND stream = ?",
                (new_acked, modem_no, name),
            )
            db.execute(
                "UPDATE terminals SET acked_seq = ? WHERE modem_no = ? AND epoch = ?",
                (new_acked, modem_no, epoch),
            )
        return BatchResult(
            acked_seq=new_acked,
            stored=len(plan.records) + len(plan.gaps),
            duplicates=plan.duplicates,
        )

    @staticmethod
    def _held(
        db: sqlite3.Connection, modem_no: str, epoch: int, after: int
    ) -> list[tuple[int, tuple[int, int]]]:
        """(key sequence number, covered interval) of what is stored above ``after``."""
        rows = db.execute(
            "SELECT seq, seq FROM readings WHERE modem_no = :m AND epoch = :e AND seq > :a "
            "UNION ALL SELECT last_seq, first_seq FROM gaps "
            "WHERE modem_no = :m AND epoch = :e AND last_seq > :a",
            {"m": modem_no, "e": epoch, "a": after},
        ).fetchall()
        return [(row[0], (row[1], row[0])) for row in rows]

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        modem_no: str,
        epoch: int,
        records: Sequence[tuple[int, Any]],
        gaps: Sequence[tuple[int, Any]],
    ) -> None:
        db.executemany(
            "INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    modem_no,
                    epoch,
                    seq,
                    to_micros(record.time),
                    str(record.kind),
                    record.device,
                    record.key,
                    *encode_value(record.value),
                    record.unit,
                )
                for seq, record in records
            ],
        )
        db.executemany(
            "INSERT INTO gaps VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    modem_no,
                    epoch,
                    gap.first_seq,
                    gap.last_seq,
                    gap.count,
                    to_micros(gap.start),
                    to_micros(gap.end),
                )
                for _, gap in gaps
            ],
        )
        db.executemany(
            "INSERT INTO latest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (modem_no, device, key) DO UPDATE SET epoch = excluded.epoch, "
            "seq = excluded.seq, time_us = excluded.time_us, kind = excluded.kind, "
            "vtype = excluded.vtype, vint = excluded.vint, vreal = excluded.vreal, "
            "vtext = excluded.vtext, unit = excluded.unit "
            "WHERE (excluded.time_us, excluded.epoch, excluded.seq) "
            "> (latest.time_us, latest.epoch, latest.seq)",
            [
                (
                    modem_no,
                    record.device,
                    record.key,
                    epoch,
                    seq,
                    to_micros(record.time),
                    str(record.kind),
                    *encode_value(record.value),
                    record.unit,
                )
                for seq, record in newest_per_key(records).values()
            ],
        )

    def latest(self, modem_no: str) -> tuple[StoredReading, ...]:
        rows = self.db.execute(
            "SELECT * FROM latest WHERE modem_no = ? ORDER BY device, key", (modem_no,)
        ).fetchall()
        return tuple(_reading(row) for row in rows)

    def history(
        self,
        modem_no: str,
        start: datetime,
        end: datetime,
        cursor: HistoryCursor | None,
        limit: int,
    ) -> ReadingsPage:
        after = cursor or HistoryCursor(to_micros(start) - 1, 2**62, 2**62)
        rows = self.db.execute(
            "SELECT * FROM readings WHERE modem_no = ? AND time_us >= ? AND time_us < ? "
            "AND (time_us, epoch, seq) > (?, ?, ?) ORDER BY time_us, epoch, seq LIMIT ?",
            (
                modem_no,
                to_micros(start),
                to_micros(end),
                after.time_us,
                after.epoch,
                after.seq,
                limit + 1,
            ),
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = HistoryCursor(last["time_us"], last["epoch"], last["seq"])
        return ReadingsPage(readings=tuple(_reading(row) for row in rows), next_cursor=next_cursor)

    def gaps(self, modem_no: str, start: datetime, end: datetime) -> tuple[StoredGap, ...]:
        rows = self.db.execute(
            "SELECT * FROM gaps WHERE modem_no = ? AND end_us >= ? AND start_us < ? "
            "ORDER BY start_us, epoch, last_seq",
            (modem_no, to_micros(start), to_micros(end)),
        ).fetchall()
        return tuple(
            StoredGap(
                first_seq=row["first_seq"],
                last_seq=row["last_seq"],
                count=row["count"],
                start=from_micros(row["start_us"]),
                end=from_micros(row["end_us"]),
            )
            for row in rows
        )

    def apply_retention(self, now: datetime) -> RetentionResult:
        if self.retention is None:
            return RetentionResult(cutoff=from_micros(0))
        cutoff = now - self.retention
        with self._write() as db:
            deleted = db.execute(
                "DELETE FROM readings WHERE time_us < ?", (to_micros(cutoff),)
            ).rowcount
            deleted += db.execute(
                "DELETE FROM gaps WHERE end_us < ?", (to_micros(cutoff),)
            ).rowcount
        return RetentionResult(cutoff=cutoff, deleted_rows=deleted)

    # -- tokens ----------------------------------------------------------------------------------

    def grant_token(self, modem_no: str, token_hash: str, at: datetime) -> None:
        with self._write() as db:
            if self._get_terminal(modem_no) is None:
                raise UnknownTerminalError(modem_no)
            db.execute(
                "INSERT INTO token_grants VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                "SET granted_us = excluded.granted_us",
                (token_hash, modem_no, to_micros(at)),
            )

    def revoke_token(self, token_hash: str) -> int:
        with self._write() as db:
            return db.execute(
                "DELETE FROM token_grants WHERE token_hash = ?", (token_hash,)
            ).rowcount

    @staticmethod
    def _revoke_tokens(db: sqlite3.Connection, modem_no: str, at: datetime) -> int:
        db.execute(
            "UPDATE terminals SET tokens_revoked_before_us = ? WHERE modem_no = ?",
            (to_micros(at), modem_no),
        )
        return db.execute("DELETE FROM token_grants WHERE modem_no = ?", (modem_no,)).rowcount

    def revoke_tokens(self, modem_no: str, at: datetime) -> int:
        with self._write() as db:
            return self._revoke_tokens(db, modem_no, at)

    def token_modems(self, token_hash: str) -> frozenset[str]:
        rows = self.db.execute(
            "SELECT g.modem_no FROM token_grants g JOIN terminals t USING (modem_no) "
            "WHERE g.token_hash = ? AND (t.tokens_revoked_before_us IS NULL "
            "OR g.granted_us >= t.tokens_revoked_before_us)",
            (token_hash,),
        ).fetchall()
        return frozenset(row[0] for row in rows)

    # -- commands --------------------------------------------------------------------------------

    def create_command(
        self,
        modem_no: str,
        device: str,
        key: str,
        value: RecordValue,
        at: datetime,
        expires: datetime | None,
    ) -> Command:
        command_id = uuid.uuid4().hex
        with self._write() as db:
            if self._get_terminal(modem_no) is None:
                raise UnknownTerminalError(modem_no)
            db.execute(
                f"INSERT INTO commands ({_COMMAND_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL)",
                (
                    command_id,
                    modem_no,
                    device,
                    key,
                    *encode_value(value),
                    to_micros(at),
                    str(CommandState.PENDING),
                    None if expires is None else to_micros(expires),
                ),
            )
        command = self.command(command_id)
        assert command is not None
        return command

    def pending_commands(self, modem_no: str) -> tuple[Command, ...]:
        rows = self.db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE modem_no = ? AND state = ? "
            "ORDER BY created_us, id",
            (modem_no, str(CommandState.PENDING)),
        ).fetchall()
        return tuple(_command(row) for row in rows)

    def deliver_commands(self, modem_no: str, at: datetime) -> tuple[Command, ...]:
        now = to_micros(at)
        with self._write() as db:
            rows = db.execute(
                f"UPDATE commands SET delivered_us = coalesce(delivered_us, ?) "
                "WHERE modem_no = ? AND state = ? AND (expires_us IS NULL OR expires_us > ?) "
                f"RETURNING {_COMMAND_COLUMNS}",
                (now, modem_no, str(CommandState.PENDING), now),
            ).fetchall()
        return tuple(sorted((_command(row) for row in rows), key=lambda c: (c.created, c.id)))

    def expire_commands(self, now: datetime, modem_no: str | None) -> tuple[Command, ...]:
        with self._write() as db:
            rows = db.execute(
                "UPDATE commands SET state = :expired, outcome_us = expires_us, message = :msg "
                "WHERE state = :pending AND delivered_us IS NULL AND expires_us <= :now "
                f"AND (:modem IS NULL OR modem_no = :modem) RETURNING {_COMMAND_COLUMNS}",
                {
                    "expired": str(CommandState.EXPIRED),
                    "msg": EXPIRED_MESSAGE,
                    "pending": str(CommandState.PENDING),
                    "now": to_micros(now),
                    "modem": modem_no,
                },
            ).fetchall()
        return tuple(sorted((_command(row) for row in rows), key=lambda c: (c.created, c.id)))

    def record_outcome(
        self,
        modem_no: str,
        command_id: str,
        state: CommandState,
        at: datetime,
        message: str | None,
    ) -> Command | None:
        if state not in (CommandState.CONFIRMED, CommandState.FAILED):
            raise ValueError(f"an outcome is confirmed or failed, not {state}")
        with self._write() as db:
            db.execute(
                "UPDATE commands SET state = ?, outcome_us = ?, message = ? "
                "WHERE id = ? AND modem_no = ? AND state = ?",
                (
                    str(state),
                    to_micros(at),
                    message,
                    command_id,
                    modem_no,
                    str(CommandState.PENDING),
                ),
            )
            row = db.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ? AND modem_no = ?",
                (command_id, modem_no),
            ).fetchone()
        return None if row is None else _command(row)

    def command(self, command_id: str) -> Command | None:
        row = self.db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ?", (command_id,)
        ).fetchone()
        return None if row is None else _command(row)


def _now() -> datetime:
    return datetime.now(UTC)


class SqliteStorage:
    """:class:`Storage` on a SQLite file; open it with :meth:`open`."""

    def __init__(self, executor: ThreadPoolExecutor, database: _Database) -> None:
        self._executor = executor
        self._database = database

    @classmethod
    async def open(cls, path: Path | str, *, retention: timedelta | None = None) -> SqliteStorage:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-storage")
        loop = asyncio.get_running_loop()
        try:
            database = await loop.run_in_executor(
                executor, functools.partial(_Database, Path(path), retention)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, database)

    @property
    def path(self) -> Path:
        return self._database.path

    @property
    def retention(self) -> timedelta | None:
        return self._database.retention

    async def _run[T](self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(call, *args))
        except sqlite3.Error as err:
            raise ServerStorageError(f"{self._database.path}: {err}") from err

    async def close(self) -> None:
        try:
            await self._run(self._database.close)
        finally:
            self._executor.shutdown(wait=False)

    async def schema_version(self) -> int:
        return await self._run(self._database.schema_version)

    async def durability(self) -> tuple[str, int]:
        """The journal mode and synchronous level in force (``("wal", 2)``: WAL, FULL)."""
        return await self._run(self._database.durability)

    async def enrol(self, modem_no: str, upload_secret_hash: str, *, at: datetime) -> Terminal:
        return await self._run(self._database.enrol, modem_no, upload_secret_hash, at)

    async def terminal(self, modem_no: str) -> Terminal | None:
        return await self._run(self._database.terminal, modem_no)

    async def set_auth_code(
        self, modem_no: str, auth_code: AuthCodeHash, *, at: datetime, revoke_tokens: bool
    ) -> None:
        await self._run(self._database.set_auth_code, modem_no, auth_code, at, revoke_tokens)

    async def record_status(self, modem_no: str, status: TerminalStatus) -> None:
        await self._run(self._database.record_status, modem_no, status)

    async def modem_for_secret(self, upload_secret_hash: str) -> str | None:
        return await self._run(self._database.modem_for_secret, upload_secret_hash)

    async def put_description(
        self, modem_no: str, document: str, *, at: datetime, replace: bool = True
    ) -> bool:
        return await self._run(self._database.put_description, modem_no, document, at, replace)

    async def description(self, modem_no: str) -> str | None:
        return await self._run(self._database.description, modem_no)

    async def store_batch(
        self,
        modem_no: str,
        records: Sequence[QueuedRecord],
        *,
        stream: str | None = None,
        status: TerminalStatus | None = None,
    ) -> BatchResult:
        return await self._run(self._database.store_batch, modem_no, tuple(records), stream, status)

    async def latest(self, modem_no: str) -> tuple[StoredReading, ...]:
        return await self._run(self._database.latest, modem_no)

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
        return await self._run(self._database.history, modem_no, start, end, cursor, limit)

    async def gaps(self, modem_no: str, start: datetime, end: datetime) -> tuple[StoredGap, ...]:
        return await self._run(self._database.gaps, modem_no, start, end)

    async def apply_retention(self, now: datetime) -> RetentionResult:
        return await self._run(self._database.apply_retention, now)

    async def grant_token(self, modem_no: str, token_hash: str, *, at: datetime) -> None:
        await self._run(self._database.grant_token, modem_no, token_hash, at)

    async def revoke_token(self, token_hash: str) -> int:
        return await self._run(self._database.revoke_token, token_hash)

    async def revoke_tokens(self, modem_no: str, *, at: datetime) -> int:
        return await self._run(self._database.revoke_tokens, modem_no, at)

    async def token_modems(self, token_hash: str) -> frozenset[str]:
        return await self._run(self._database.token_modems, token_hash)

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
        return await self._run(
            self._database.create_command, modem_no, device, key, value, at, expires
        )

    async def pending_commands(self, modem_no: str) -> tuple[Command, ...]:
        return await self._run(self._database.pending_commands, modem_no)

    async def deliver_commands(self, modem_no: str, *, at: datetime) -> tuple[Command, ...]:
        return await self._run(self._database.deliver_commands, modem_no, at)

    async def expire_commands(
        self, now: datetime, modem_no: str | None = None
    ) -> tuple[Command, ...]:
        return await self._run(self._database.expire_commands, now, modem_no)

    async def record_outcome(
        self,
        modem_no: str,
        command_id: str,
        state: CommandState,
        *,
        at: datetime,
        message: str | None = None,
    ) -> Command | None:
        return await self._run(
            self._database.record_outcome, modem_no, command_id, state, at, message
        )

    async def command(self, command_id: str) -> Command | None:
        return await self._run(self._database.command, command_id)
