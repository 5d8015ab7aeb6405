"""The server's storage, on SQLite and on a real PostgreSQL: every operation on both."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.server.storage import (
    MAX_HISTORY_LIMIT,
    AuthCodeHash,
    CommandState,
    EnrolmentConflictError,
    HistoryCursor,
    SchemaTooNewError,
    SqliteStorage,
    Storage,
    StoredReading,
    TerminalStatus,
    UnknownTerminalError,
    open_storage,
)
from hardware_bridge.uplink import (
    Gap,
    QueuedRecord,
    Record,
    RecordKind,
    RecordValue,
    TerminalIdentity,
)

MODEM = "1234567897"
OTHER = "2345678901"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def reading(
    seq: int,
    *,
    time: datetime | None = None,
    key: str = "voltage_l1",
    value: RecordValue = 230.5,
    device: str = "meter",
) -> QueuedRecord:
    return QueuedRecord(
        seq,
        Record(
            device=device,
            key=key,
            value=value,
            unit="V",
            time=time or T0 + timedelta(seconds=seq),
        ),
    )


def gap(first: int, last: int) -> QueuedRecord:
    return QueuedRecord(
        last,
        Gap(
            count=last - first + 1,
            first_seq=first,
            last_seq=last,
            start=T0 + timedelta(seconds=first),
            end=T0 + timedelta(seconds=last),
        ),
    )


async def enrolled(database: str, *modems: str) -> Storage:
    storage = await open_storage(database)
    for modem in modems or (MODEM,):
        await storage.enrol(modem, f"secret-hash-{modem}", at=T0)
    return storage


async def all_history(
    storage: Storage, modem: str, start: datetime, end: datetime, limit: int = 500
) -> list[StoredReading]:
    out: list[StoredReading] = []
    cursor: HistoryCursor | None = None
    while True:
        page = await storage.history(modem, start, end, cursor=cursor, limit=limit)
        out.extend(page.readings)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def raw_execute(database: str, sql: str) -> None:
    if database.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    else:
        with sqlite3.connect(database) as db:
            db.execute(sql)
        db.close()


async def raw_fetch(database: str, sql: str) -> list[tuple[object, ...]]:
    if database.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(database)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()
    db = sqlite3.connect(database)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# -- migrations ------------------------------------------------------------------------------


async def test_migrations_apply_once_and_keep_data(database: str) -> None:
    storage = await enrolled(database)
    assert await storage.schema_version() == 2
    await storage.store_batch(MODEM, [reading(1)])
    await storage.close()

    again = await open_storage(database)
    try:
        assert await again.schema_version() == 2
        assert [r.seq for r in await again.latest(MODEM)] == [1]
    finally:
        await again.close()
    rows = await raw_fetch(database, "SELECT version FROM schema_migrations ORDER BY version")
    assert rows == [(1,), (2,)]


async def test_newer_schema_is_refused_with_a_clear_error(database: str) -> None:
    await (await open_storage(database)).close()
    await raw_execute(
        database,
        "INSERT INTO schema_migrations (version, description, "
        + ("applied" if database.startswith("postgresql") else "applied_us")
        + ") VALUES (7, 'from the future', "
        + ("now()" if database.startswith("postgresql") else "0")
        + ")",
    )
    with pytest.raises(SchemaTooNewError, match=r"version 7.*up to 2.*upgrade smartpower-bridge"):
        await open_storage(database)


# -- terminals -------------------------------------------------------------------------------


async def test_enrolment_is_idempotent_and_refuses_another_secret(database: str) -> None:
    storage = await open_storage(database)
    try:
        first = await storage.enrol(MODEM, "hash-a", at=T0)
        again = await storage.enrol(MODEM, "hash-a", at=T0 + timedelta(hours=1))
        assert first == again
        assert first.enrolled == T0
        assert first.acked_seq == 0
        with pytest.raises(EnrolmentConflictError, match=MODEM):
            await storage.enrol(MODEM, "hash-b", at=T0)
        assert (await storage.terminal(MODEM)) == first
        assert await storage.terminal(OTHER) is None
    finally:
        await storage.close()


async def test_auth_code_hash_from_the_terminal_verifies_claims(
    database: str, tmp_path: Path
) -> None:
    """The terminal uploads the scrypt parameters, salt and hash it keeps: the server checks a
    claim against them and never sees the plain code."""
    opened = TerminalIdentity.open(tmp_path / "terminal")
    code = opened.new_auth_code
    assert code is not None
    stored = json.loads((tmp_path / "terminal" / "identity.json").read_text())["auth_code"]
    assert code not in json.dumps(stored)
    storage = await enrolled(database)
    try:
        await storage.set_auth_code(
            MODEM, AuthCodeHash.from_mapping(stored), at=T0, revoke_tokens=False
        )
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert terminal.auth_code is not None
        assert terminal.auth_code_set == T0
        assert terminal.auth_code.verify(code)
        assert terminal.auth_code.verify(code.lower()[:5] + " " + code[5:])
        assert not terminal.auth_code.verify("2" * 10)
        with pytest.raises(UnknownTerminalError):
            await storage.set_auth_code(OTHER, terminal.auth_code, at=T0, revoke_tokens=False)
    finally:
        await storage.close()


def test_auth_code_hash_parameters_are_bounded() -> None:
    """A terminal cannot make every claim cost the server a huge scrypt."""
    base = {
        "scheme": "scrypt",
        "n": 2**14,
        "r": 8,
        "p": 1,
        "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
        "hash": "A" * 43 + "=",
    }
    AuthCodeHash.from_mapping(base)
    for change in (
        {"n": 2**24},
        {"n": 1000},
        {"p": 64},
        {"n": 2**16, "r": 16},
        {"scheme": "plain"},
        {"salt": "!"},
    ):
        with pytest.raises(ValueError, match="auth code hash"):
            AuthCodeHash.from_mapping({**base, **change})


@pytest.mark.parametrize(("n", "r", "p"), [(2**16, 4, 1), (2**14, 16, 1), (2**13, 8, 4)])
def test_auth_code_hash_at_the_largest_allowed_cost_verifies(n: int, r: int, p: int) -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"ABCDE23456", salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=32)
    code_hash = AuthCodeHash(n=n, r=r, p=p, salt=salt, hash=digest)
    assert code_hash.verify("abcde-23456")
    assert not code_hash.verify("ABCDE23457")


async def test_status_is_kept_per_upload(database: str) -> None:
    storage = await enrolled(database)
    try:
        assert (await storage.terminal(MODEM)).status is None  # type: ignore[union-attr]
        status = TerminalStatus(last_contact=T0, signal_dbm=-71, registration="home")
        await storage.record_status(MODEM, status)
        await storage.record_status(
            MODEM, TerminalStatus(last_contact=T0 + timedelta(minutes=15), signal_dbm=-80)
        )
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert terminal.status == TerminalStatus(
            last_contact=T0 + timedelta(minutes=15), signal_dbm=-80, registration=None
        )
        with pytest.raises(UnknownTerminalError):
            await storage.record_status(OTHER, status)
    finally:
        await storage.close()


async def test_status_goes_with_the_batch_in_one_transaction(database: str) -> None:
    storage = await enrolled(database)
    try:
        status = TerminalStatus(last_contact=T0, signal_dbm=-71, registration="home")
        await storage.store_batch(MODEM, [reading(1)], status=status)
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert (terminal.status, terminal.acked_seq) == (status, 1)
        later = TerminalStatus(last_contact=T0 + timedelta(minutes=15), signal_dbm=-80)
        await storage.store_batch(MODEM, [reading(1)], status=later)  # a duplicate: a contact
        assert (await storage.terminal(MODEM)).status == later  # type: ignore[union-attr]
        # a batch that is refused leaves the status as it was
        with pytest.raises(ValueError, match="not positive"):
            await storage.store_batch(
                MODEM,
                [reading(0)],
                status=TerminalStatus(last_contact=T0 + timedelta(hours=1)),
            )
        assert (await storage.terminal(MODEM)).status == later  # type: ignore[union-attr]
        with pytest.raises(UnknownTerminalError):
            await storage.store_batch(OTHER, [reading(1)], status=status)
    finally:
        await storage.close()


# -- batches ---------------------------------------------------------------------------------


async def test_a_batch_twice_and_overlapping_ranges_store_each_sequence_once(
    database: str,
) -> None:
    storage = await enrolled(database)
    try:
        first = await storage.store_batch(MODEM, [reading(s) for s in range(1, 11)])
        assert (first.acked_seq, first.stored, first.duplicates) == (10, 10, 0)
        again = await storage.store_batch(MODEM, [reading(s) for s in range(1, 11)])
        assert (again.acked_seq, again.stored, again.duplicates) == (10, 0, 10)
        overlap = await storage.store_batch(MODEM, [reading(s) for s in range(6, 16)])
        assert (overlap.acked_seq, overlap.stored, overlap.duplicates) == (15, 5, 5)
        history = await all_history(storage, MODEM, T0, T0 + timedelta(hours=1))
        assert [r.seq for r in history] == list(range(1, 16))
        assert (await storage.terminal(MODEM)).acked_seq == 15  # type: ignore[union-attr]
    finally:
        await storage.close()


async def test_ack_stops_at_the_first_hole_and_moves_when_it_is_filled(database: str) -> None:
    storage = await enrolled(database)
    try:
        assert (await storage.store_batch(MODEM, [reading(1), reading(2)])).acked_seq == 2
        assert (await storage.store_batch(MODEM, [reading(5), reading(6)])).acked_seq == 2
        assert (await storage.store_batch(MODEM, [reading(3), reading(4)])).acked_seq == 6
    finally:
        await storage.close()


async def test_gap_is_stored_as_a_gap_and_accounts_for_its_numbers(database: str) -> None:
    storage = await enrolled(database)
    try:
        result = await storage.store_batch(MODEM, [reading(1), gap(2, 40), reading(41)])
        assert (result.acked_seq, result.stored) == (41, 3)
        again = await storage.store_batch(MODEM, [gap(2, 40)])
        assert (again.acked_seq, again.stored, again.duplicates) == (41, 0, 1)
        gaps = await storage.gaps(MODEM, T0, T0 + timedelta(hours=1))
        assert [(g.first_seq, g.last_seq, g.count) for g in gaps] == [(2, 40, 39)]
        assert gaps[0].start == T0 + timedelta(seconds=2)
        assert gaps[0].end == T0 + timedelta(seconds=40)
        history = await all_history(storage, MODEM, T0, T0 + timedelta(hours=1))
        assert [r.seq for r in history] == [1, 41]
    finally:
        await storage.close()


async def test_gap_that_does_not_end_at_its_own_number_is_refused(database: str) -> None:
    storage = await enrolled(database)
    try:
        bad = QueuedRecord(
            9, Gap(count=3, first_seq=2, last_seq=4, start=T0, end=T0 + timedelta(seconds=1))
        )
        with pytest.raises(ValueError, match="gap at sequence 9"):
            await storage.store_batch(MODEM, [bad])
        assert (await storage.terminal(MODEM)).acked_seq == 0  # type: ignore[union-attr]
    finally:
        await storage.close()


async def test_first_batch_sets_where_numbering_begins(database: str) -> None:
    """A terminal that already had batches acknowledged elsewhere starts above 1."""
    storage = await enrolled(database)
    try:
        assert (await storage.store_batch(MODEM, [reading(501), reading(502)])).acked_seq == 502
        assert (await storage.store_batch(MODEM, [reading(500)])).stored == 0
    finally:
        await storage.close()


async def test_a_new_queue_restarts_numbering_without_losing_the_old(database: str) -> None:
    storage = await enrolled(database)
    try:
        old = [reading(s) for s in range(1, 4)]
        assert (await storage.store_batch(MODEM, old, stream="queue-a")).acked_seq == 3
        new = [reading(s, time=T0 + timedelta(minutes=10, seconds=s)) for s in range(1, 3)]
        result = await storage.store_batch(MODEM, new, stream="queue-b")
        assert (result.acked_seq, result.stored) == (2, 2)
        history = await all_history(storage, MODEM, T0, T0 + timedelta(hours=1))
        assert [r.seq for r in history] == [1, 2, 3, 1, 2]
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert terminal.stream == "queue-b"
        assert terminal.acked_seq == 2

        # A late retry from the old queue lands in the old queue's numbering: its repeated
        # reading is a duplicate there, not a new reading in a third epoch.
        late = await storage.store_batch(MODEM, [reading(3), reading(4)], stream="queue-a")
        assert (late.acked_seq, late.stored, late.duplicates) == (4, 1, 1)
        history = await all_history(storage, MODEM, T0, T0 + timedelta(hours=1))
        assert [r.seq for r in history] == [1, 2, 3, 4, 1, 2]
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert (terminal.stream, terminal.acked_seq) == ("queue-b", 2)
        # Without a queue id a batch continues the current queue.
        assert (await storage.store_batch(MODEM, [reading(3)])).acked_seq == 3
    finally:
        await storage.close()


async def test_a_terminal_writes_only_its_own_data(database: str) -> None:
    storage = await enrolled(database, MODEM, OTHER)
    try:
        await storage.store_batch(MODEM, [reading(1, value=1.0)])
        await storage.store_batch(OTHER, [reading(1, value=2.0)])
        assert [r.value for r in await storage.latest(MODEM)] == [1.0]
        assert [r.value for r in await storage.latest(OTHER)] == [2.0]
        with pytest.raises(UnknownTerminalError):
            await storage.store_batch("3456789012", [reading(1)])
    finally:
        await storage.close()


VALUES: list[RecordValue] = [
    0.1,
    -0.0,
    1e308,
    5e-324,
    230.49999999999997,
    0,
    -(2**63),
    2**63 - 1,
    True,
    False,
    "",
    "Açık ☀",
    "NUL \x00 inside",
    "lone \ud800 surrogate",
    "-0",
    None,
]


async def test_values_round_trip_exactly(database: str) -> None:
    storage = await enrolled(database)
    time = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    try:
        records = [
            QueuedRecord(
                i + 1,
                Record(
                    device="meter",
                    key=f"k{i:02d}",
                    value=v,
                    unit=None if i % 2 else "kWh",
                    time=time,
                ),
            )
            for i, v in enumerate(VALUES)
        ]
        await storage.store_batch(MODEM, records)
        for got in (
            await storage.latest(MODEM),
            await all_history(storage, MODEM, T0, T0 + timedelta(hours=1)),
        ):
            assert [(r.value, type(r.value)) for r in got] == [(v, type(v)) for v in VALUES]
            assert [str(r.value) for r in got] == [str(v) for v in VALUES]  # -0.0 stays -0.0
            assert all(r.time == time for r in got)
            assert [r.unit for r in got] == [None if i % 2 else "kWh" for i in range(len(VALUES))]
    finally:
        await storage.close()


async def test_latest_keeps_the_newest_value_whatever_arrives_last(database: str) -> None:
    storage = await enrolled(database)
    try:
        await storage.store_batch(
            MODEM,
            [
                reading(1, key="a", value=1.0),
                reading(2, key="a", value=2.0),
                reading(3, key="b", value=30.0),
            ],
        )
        # Read from the device earlier but delivered later (a second queue, a late gap fill).
        late = reading(4, key="a", value=-1.0, time=T0 - timedelta(hours=1))
        event = QueuedRecord(
            5,
            Record(
                device="in1",
                key="state",
                value=True,
                unit=None,
                time=T0 + timedelta(minutes=1),
                kind=RecordKind.EVENT,
            ),
        )
        await storage.store_batch(MODEM, [late, event])
        latest = {(r.device, r.key): r for r in await storage.latest(MODEM)}
        assert latest[("meter", "a")].value == 2.0
        assert latest[("meter", "a")].seq == 2
        assert latest[("meter", "b")].value == 30.0
        assert latest[("in1", "state")].kind is RecordKind.EVENT
        assert latest[("in1", "state")].value is True
    finally:
        await storage.close()


async def test_history_pages_cover_a_range_exactly_once(database: str) -> None:
    storage = await enrolled(database)
    try:
        # Several readings share each time (one poll, many keys): the cursor must break ties.
        records = [
            reading(s, key=f"k{s % 5}", time=T0 + timedelta(minutes=s // 5)) for s in range(1, 101)
        ]
        await storage.store_batch(MODEM, records)
        start, end = T0 + timedelta(minutes=3), T0 + timedelta(minutes=15)
        expected = [
            r.seq for r in records if isinstance(r.item, Record) and start <= r.item.time < end
        ]
        for limit in (1, 7, 60, 500):
            got = await all_history(storage, MODEM, start, end, limit=limit)
            assert [r.seq for r in got] == expected, limit
        page = await storage.history(MODEM, start, end, limit=7)
        assert page.next_cursor is not None
        assert HistoryCursor.decode(page.next_cursor.encode()) == page.next_cursor
        # Readings stored after a page was served do not shift the next page.
        await storage.store_batch(MODEM, [reading(101, time=start)])
        rest = await all_history(storage, MODEM, start, end, limit=500)
        nxt = await storage.history(MODEM, start, end, cursor=page.next_cursor, limit=500)
        assert [r.seq for r in nxt.readings] == expected[7:]
        assert len(rest) == len(expected) + 1
    finally:
        await storage.close()


async def test_history_limit_is_bounded(database: str) -> None:
    storage = await enrolled(database)
    try:
        for limit in (0, MAX_HISTORY_LIMIT + 1):
            with pytest.raises(ValueError, match="history limit"):
                await storage.history(MODEM, T0, T0 + timedelta(hours=1), limit=limit)
    finally:
        await storage.close()


async def test_a_time_past_the_calendar_is_refused_not_stored(database: str) -> None:
    storage = await enrolled(database)
    try:
        with pytest.raises(ValueError, match="out of range"):
            await storage.store_batch(
                MODEM, [reading(1), reading(2, time=datetime(9999, 12, 31, tzinfo=UTC))]
            )
        assert await storage.latest(MODEM) == ()
    finally:
        await storage.close()


def test_history_cursor_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="history cursor"):
        HistoryCursor.decode("12.x")


# -- idempotency under any delivery -----------------------------------------------------------


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[dict[int, QueuedRecord], list[list[int]]]:
    """A queue's records (some runs replaced by gaps) and the batches that reach the server:
    the first from the oldest record, the rest any slices, repeated and out of order."""
    total = draw(st.integers(1, 40))
    items: dict[int, QueuedRecord] = {}
    seq = 1
    while seq <= total:
        if seq > 1 and draw(st.integers(0, 6)) == 0:
            last = min(total, seq + draw(st.integers(0, 4)))
            items[last] = gap(seq, last)
            seq = last + 1
        else:
            items[seq] = reading(seq, key=f"k{seq % 3}")
            seq += 1
    keys = sorted(items)
    batches = [keys[: draw(st.integers(1, len(keys)))]]
    for _ in range(draw(st.integers(0, 8))):
        a = draw(st.integers(0, len(keys) - 1))
        b = draw(st.integers(a + 1, len(keys)))
        batches.append(keys[a:b])
    return items, batches


def highest_contiguous(covered: set[int]) -> int:
    acked = 0
    while acked + 1 in covered:
        acked += 1
    return acked


async def check_deliveries(
    storage: Storage, modem: str, items: dict[int, QueuedRecord], batches: list[list[int]]
) -> None:
    covered: set[int] = set()
    for batch in batches:
        result = await storage.store_batch(modem, [items[k] for k in batch])
        for k in batch:
            item = items[k].item
            covered.update(
                range(item.first_seq, item.last_seq + 1) if isinstance(item, Gap) else (k,)
            )
        assert result.acked_seq == highest_contiguous(covered)
    delivered = {k for batch in batches for k in batch}
    history = await all_history(
        storage, modem, T0 - timedelta(days=1), T0 + timedelta(days=1), limit=13
    )
    readings = sorted(k for k in delivered if isinstance(items[k].item, Record))
    assert sorted(r.seq for r in history) == readings  # each exactly once
    gaps = await storage.gaps(modem, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert sorted(g.last_seq for g in gaps) == sorted(
        k for k in delivered if isinstance(items[k].item, Gap)
    )


_EXAMPLES = itertools.count()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=deliveries())
def test_any_delivery_stores_each_sequence_once_and_acks_the_contiguous_part(
    database: str, case: tuple[dict[int, QueuedRecord], list[list[int]]]
) -> None:
    items, batches = case
    modem = f"9{next(_EXAMPLES):09d}"  # a terminal of its own for each example

    async def run() -> None:
        storage = await open_storage(database)
        try:
            await storage.enrol(modem, "h", at=T0)
            await check_deliveries(storage, modem, items, batches)
        finally:
            await storage.close()

    asyncio.run(run())


# -- retention ---------------------------------------------------------------------------------


async def test_retention_drops_old_readings_and_keeps_recent(database: str) -> None:
    storage = await open_storage(database, retention=timedelta(days=75))
    await storage.enrol(MODEM, "h", at=T0)
    old = datetime(2026, 6, 15, tzinfo=UTC)
    try:
        await storage.store_batch(
            MODEM,
            [
                reading(1, time=old),
                QueuedRecord(3, Gap(count=2, first_seq=2, last_seq=3, start=old, end=old)),
                reading(4, time=datetime(2026, 9, 20, tzinfo=UTC)),
                reading(5, time=T0),
            ],
        )
        if database.startswith("postgresql"):
            assert "readings_p202606" in await storage.partitions()  # type: ignore[attr-defined]
        result = await storage.apply_retention(T0)
        assert result.cutoff == T0 - timedelta(days=75)
        history = await all_history(storage, MODEM, old - timedelta(days=1), T0 + timedelta(1))
        assert [r.seq for r in history] == [4, 5]
        assert await storage.gaps(MODEM, old - timedelta(days=1), T0) == ()
        assert [r.seq for r in await storage.latest(MODEM)] == [5]
        if database.startswith("postgresql"):
            # Whole months go: June's partition is dropped, September's (which still holds
            # readings younger than the cutoff at its end) stays.
            assert "readings_p202606" in result.dropped_partitions
            parts = await storage.partitions()  # type: ignore[attr-defined]
            assert "readings_p202606" not in parts
            assert "readings_p202609" in parts
            # A late reading for a dropped month still finds a partition.
            await storage.store_batch(MODEM, [reading(6, time=old)])
        else:
            assert result.deleted_rows == 2
    finally:
        await storage.close()


# -- tokens ------------------------------------------------------------------------------------


async def test_tokens_many_per_modem_revoked_one_or_all(database: str) -> None:
    storage = await enrolled(database, MODEM, OTHER)
    try:
        await storage.grant_token(MODEM, "home-a", at=T0)
        await storage.grant_token(MODEM, "home-b", at=T0)
        await storage.grant_token(OTHER, "home-b", at=T0)
        assert await storage.token_modems("home-a") == {MODEM}
        assert await storage.token_modems("home-b") == {MODEM, OTHER}
        assert await storage.token_modems("nobody") == frozenset()

        assert await storage.revoke_token("home-a") == 1
        assert await storage.token_modems("home-a") == frozenset()

        renewed = T0 + timedelta(days=1)
        assert await storage.revoke_tokens(MODEM, at=renewed) == 1
        assert await storage.token_modems("home-b") == {OTHER}
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert terminal.tokens_revoked_before == renewed

        # A grant dated before the renewal (a claim that raced it) does not read the modem.
        await storage.grant_token(MODEM, "racer", at=renewed - timedelta(seconds=1))
        assert await storage.token_modems("racer") == frozenset()
        await storage.grant_token(MODEM, "home-c", at=renewed + timedelta(seconds=1))
        assert await storage.token_modems("home-c") == {MODEM}
        with pytest.raises(UnknownTerminalError):
            await storage.grant_token("3456789012", "x", at=T0)
    finally:
        await storage.close()


async def test_auth_code_renewal_revokes_every_token(database: str, tmp_path: Path) -> None:
    storage = await enrolled(database)
    code_hash = AuthCodeHash(n=2**10, r=8, p=1, salt=b"s" * 16, hash=b"h" * 32)
    try:
        await storage.set_auth_code(MODEM, code_hash, at=T0, revoke_tokens=False)
        await storage.grant_token(MODEM, "home", at=T0 + timedelta(minutes=1))
        await storage.set_auth_code(
            MODEM, code_hash, at=T0 + timedelta(minutes=2), revoke_tokens=True
        )
        assert await storage.token_modems("home") == frozenset()
        terminal = await storage.terminal(MODEM)
        assert terminal is not None
        assert terminal.tokens_revoked_before == T0 + timedelta(minutes=2)
    finally:
        await storage.close()


# -- commands ----------------------------------------------------------------------------------


async def test_command_lifecycle(database: str) -> None:
    storage = await enrolled(database, MODEM, OTHER)
    try:
        first = await storage.create_command(MODEM, "relays", "c1", True, at=T0)
        second = await storage.create_command(
            MODEM, "relays", "c2", False, at=T0 + timedelta(seconds=1)
        )
        assert first.state is CommandState.PENDING
        assert first.value is True
        assert first.id != second.id
        assert [c.id for c in await storage.pending_commands(MODEM)] == [first.id, second.id]
        assert await storage.pending_commands(OTHER) == ()

        # Another terminal cannot settle this modem's command.
        assert await storage.record_outcome(OTHER, first.id, CommandState.CONFIRMED, at=T0) is None
        done = await storage.record_outcome(
            MODEM, first.id, CommandState.CONFIRMED, at=T0 + timedelta(minutes=15)
        )
        assert done is not None
        assert done.state is CommandState.CONFIRMED
        assert done.outcome_time == T0 + timedelta(minutes=15)
        failed = await storage.record_outcome(
            MODEM,
            second.id,
            CommandState.FAILED,
            at=T0 + timedelta(minutes=15),
            message="relay did not read back",
        )
        assert failed is not None
        assert failed.message == "relay did not read back"
        # A retried report does not rewrite the outcome.
        again = await storage.record_outcome(
            MODEM, second.id, CommandState.CONFIRMED, at=T0 + timedelta(minutes=30)
        )
        assert again == failed
        assert await storage.pending_commands(MODEM) == ()
        assert await storage.command(first.id) == done
        assert await storage.command("missing") is None
        with pytest.raises(ValueError, match="not pending"):
            await storage.record_outcome(MODEM, first.id, CommandState.PENDING, at=T0)
        with pytest.raises(UnknownTerminalError):
            await storage.create_command("3456789012", "relays", "c1", True, at=T0)
    finally:
        await storage.close()


async def test_a_command_not_fetched_in_time_expires_and_is_never_delivered(
    database: str,
) -> None:
    storage = await enrolled(database, MODEM, OTHER)
    expires = T0 + timedelta(minutes=31)
    try:
        late = await storage.create_command(MODEM, "terminal", "pump", True, at=T0, expires=expires)
        taken = await storage.create_command(
            MODEM, "terminal", "heater", True, at=T0 + timedelta(seconds=1), expires=expires
        )
        forever = await storage.create_command(OTHER, "terminal", "pump", False, at=T0)
        assert late.expires == expires
        assert late.delivered is None

        # an upload before the expiry: every command of the modem is handed over
        before = T0 + timedelta(minutes=10)
        assert await storage.expire_commands(before) == ()
        delivered = await storage.deliver_commands(MODEM, at=before)
        assert [(c.id, c.delivered) for c in delivered] == [
            (late.id, before),
            (taken.id, before),
        ]
        # the terminal settles one; the other's reply was lost: it is handed over again, with
        # the time of its first delivery
        await storage.record_outcome(MODEM, late.id, CommandState.CONFIRMED, at=before)
        again = await storage.deliver_commands(MODEM, at=before + timedelta(minutes=1))
        assert [(c.id, c.delivered) for c in again] == [(taken.id, before)]

        fresh = await storage.create_command(
            MODEM, "terminal", "pump", False, at=before, expires=expires
        )
        # the expiry passes: a command delivered before it stays open (the terminal may have
        # carried it out), one never delivered ends expired, at its expiry time
        after = expires + timedelta(hours=6)
        expired = await storage.expire_commands(after)
        assert [c.id for c in expired] == [fresh.id]
        (gone,) = expired
        assert gone.state is CommandState.EXPIRED
        assert gone.outcome_time == expires
        assert gone.message is not None
        assert "expired" in gone.message
        assert await storage.command(fresh.id) == gone
        assert await storage.expire_commands(after) == ()  # once
        # hours later the terminal calls: nothing is handed over after the expiry
        assert await storage.deliver_commands(MODEM, at=after) == ()
        # an outcome for the expired command changes nothing
        kept = await storage.record_outcome(MODEM, fresh.id, CommandState.CONFIRMED, at=after)
        assert kept == gone
        # a command without an expiry waits
        assert [c.id for c in await storage.deliver_commands(OTHER, at=after)] == [forever.id]
        with pytest.raises(ValueError, match="not expired"):
            await storage.record_outcome(MODEM, taken.id, CommandState.EXPIRED, at=after)
    finally:
        await storage.close()


async def test_expiry_of_one_modem_leaves_the_others(database: str) -> None:
    storage = await enrolled(database, MODEM, OTHER)
    try:
        at, expires = T0, T0 + timedelta(minutes=5)
        mine = await storage.create_command(MODEM, "t", "pump", True, at=at, expires=expires)
        theirs = await storage.create_command(OTHER, "t", "pump", True, at=at, expires=expires)
        later = expires + timedelta(seconds=1)
        assert [c.id for c in await storage.expire_commands(later, MODEM)] == [mine.id]
        assert [c.id for c in await storage.expire_commands(later)] == [theirs.id]
    finally:
        await storage.close()


# -- descriptions and secrets ------------------------------------------------------------------


async def test_descriptions_are_stored_replaced_or_kept(database: str) -> None:
    storage = await enrolled(database, MODEM)
    try:
        assert await storage.description(MODEM) is None
        assert await storage.put_description(MODEM, '{"v": 1}', at=T0)
        assert await storage.put_description(MODEM, '{"v": 2}', at=T0)
        assert await storage.description(MODEM) == '{"v": 2}'
        # an import keeps what is stored
        assert not await storage.put_description(MODEM, '{"v": 0}', at=T0, replace=False)
        assert await storage.description(MODEM) == '{"v": 2}'
        assert await storage.put_description(OTHER, '{"v": 0}', at=T0, replace=False)
        assert await storage.description(OTHER) == '{"v": 0}'
    finally:
        await storage.close()
    again = await open_storage(database)
    try:
        assert await again.description(MODEM) == '{"v": 2}'  # committed
    finally:
        await again.close()


async def test_the_modem_of_a_secret(database: str) -> None:
    storage = await enrolled(database, MODEM, OTHER)
    try:
        assert await storage.modem_for_secret(f"secret-hash-{OTHER}") == OTHER
        assert await storage.modem_for_secret("nobody's") is None
    finally:
        await storage.close()


async def _version_1_database(database: str) -> None:
    """A database as the first release left it: schema version 1, a terminal, a command."""
    if database.startswith("postgresql://"):
        import asyncpg

        from hardware_bridge.server.storage._postgres import MIGRATIONS as PG_MIGRATIONS

        conn = await asyncpg.connect(database)
        try:
            async with conn.transaction():
                await conn.execute(
                    "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                    "description text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"
                )
                await PG_MIGRATIONS[0].apply(conn)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (1, 'v1')"
                )
                await conn.execute(
                    "INSERT INTO terminals (modem_no, upload_secret_hash, enrolled) "
                    "VALUES ($1, 'h', $2)",
                    MODEM,
                    T0,
                )
                await conn.execute(
                    "INSERT INTO commands (id, modem_no, device, key, vtype, vint, created, "
                    "state) VALUES ('c1', $1, 'terminal', 'pump', 'b', 1, $2, 'pending')",
                    MODEM,
                    T0,
                )
        finally:
            await conn.close()
        return
    from hardware_bridge.server.storage._sqlite import MIGRATIONS as SQLITE_MIGRATIONS

    db = sqlite3.connect(database)
    try:
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_us INTEGER NOT NULL)"
        )
        for statement in SQLITE_MIGRATIONS[0].statements:
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (1, 'v1', 0)")
        db.execute(
            "INSERT INTO terminals (modem_no, upload_secret_hash, enrolled_us) VALUES (?, 'h', 0)",
            (MODEM,),
        )
        db.execute(
            "INSERT INTO commands (id, modem_no, device, key, vtype, vint, created_us, state) "
            "VALUES ('c1', ?, 'terminal', 'pump', 'b', 1, 0, 'pending')",
            (MODEM,),
        )
        db.commit()
    finally:
        db.close()


async def test_a_version_1_database_is_upgraded_in_place(database: str) -> None:
    """A database of the first release gets the descriptions table, command expiry and the
    secret index; what it held stays, and its old commands wait as before (no expiry)."""
    await _version_1_database(database)
    storage = await open_storage(database)
    try:
        assert await storage.schema_version() == 2
        assert await storage.modem_for_secret("h") == MODEM
        old = await storage.command("c1")
        assert old is not None
        assert (old.state, old.expires, old.delivered) == (CommandState.PENDING, None, None)
        assert await storage.expire_commands(T0 + timedelta(days=365)) == ()
        assert await storage.put_description(MODEM, "{}", at=T0)
        assert await storage.description(MODEM) == "{}"
    finally:
        await storage.close()


# -- choosing the backend -----------------------------------------------------------------------


async def test_default_database_is_a_file_in_the_state_directory(tmp_path: Path) -> None:
    storage = await open_storage(None, state_dir=tmp_path)
    try:
        assert isinstance(storage, SqliteStorage)
        assert storage.path == tmp_path / "smartpower-server.sqlite3"
        assert isinstance(storage, Storage)
        # An acknowledged batch is deleted on the terminal: the commit must reach the disk.
        assert await storage.durability() == ("wal", 2)
    finally:
        await storage.close()
    journal = (
        sqlite3.connect(tmp_path / "smartpower-server.sqlite3")
        .execute("PRAGMA journal_mode")
        .fetchone()[0]
    )
    assert journal == "wal"
    with pytest.raises(ValueError, match="mysql://"):
        await open_storage("mysql://db/x")


async def test_postgres_makes_monthly_partitions_ahead(
    postgres_database_factory: Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]],
) -> None:
    from hardware_bridge.server.storage._postgres import PostgresStorage

    url, drop = await postgres_database_factory()
    try:
        storage = await open_storage(url)
        assert isinstance(storage, PostgresStorage)
        try:
            assert storage.layout == "partitioned"
            now = datetime.now(UTC)
            months = [
                (now.year + (now.month - 1 + i) // 12, (now.month - 1 + i) % 12 + 1)
                for i in range(3)
            ]
            parts = await storage.partitions()
            for year, month in months:
                assert f"readings_p{year:04d}{month:02d}" in parts
            # A reading for a month with no partition yet gets one (December into January).
            await storage.enrol(MODEM, "h", at=T0)
            await storage.store_batch(
                MODEM,
                [
                    reading(1, time=datetime(2030, 12, 31, 23, 59, tzinfo=UTC)),
                    reading(2, time=datetime(2031, 1, 1, tzinfo=UTC)),
                ],
            )
            parts = await storage.partitions()
            assert {"readings_p203012", "readings_p203101"} <= set(parts)
        finally:
            await storage.close()
    finally:
        await drop()


async def test_postgres_partition_dropped_by_another_process_is_made_again(
    postgres_database_factory: Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]],
) -> None:
    """Process A's retention drops a month process B still counts as present: B's next
    reading for that month (a terminal back after months offline) must still be stored."""
    url, drop = await postgres_database_factory()
    june = datetime(2026, 6, 15, tzinfo=UTC)
    a = await open_storage(url, retention=timedelta(days=75))
    try:
        await a.enrol(MODEM, "h", at=T0)
        await a.store_batch(MODEM, [reading(1, time=june)])
        b = await open_storage(url)
        try:
            assert "readings_p202606" in await b.partitions()  # type: ignore[attr-defined]
            dropped = await a.apply_retention(T0)
            assert dropped.dropped_partitions == ("readings_p202606",)
            result = await b.store_batch(MODEM, [reading(2, time=june)])
            assert (result.acked_seq, result.stored) == (2, 1)
            history = await all_history(b, MODEM, june, T0)
            assert [r.seq for r in history] == [2]
        finally:
            await b.close()
    finally:
        await a.close()
        await drop()


# -- several server processes on one PostgreSQL ---------------------------------------------------


async def test_two_server_processes_store_each_reading_once(
    postgres_database_factory: Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]],
) -> None:
    url, drop = await postgres_database_factory()
    a, b = await asyncio.gather(open_storage(url), open_storage(url))
    try:
        modems = [f"70000000{i:02d}" for i in range(4)]
        for modem in modems:
            await a.enrol(modem, "h", at=T0)
        batches = [[reading(s) for s in range(start, start + 20)] for start in (1, 11, 21, 1)]
        # A terminal sends its batches in order, but each may reach both processes at once
        # (a retry crossing a slow reply); all terminals upload at the same time.
        for batch in batches:
            await asyncio.gather(
                *(storage.store_batch(modem, batch) for modem in modems for storage in (a, b))
            )
        for modem in modems:
            history = await all_history(a, modem, T0, T0 + timedelta(hours=1))
            assert [r.seq for r in history] == list(range(1, 41))
            assert (await b.terminal(modem)).acked_seq == 40  # type: ignore[union-attr]
    finally:
        await asyncio.gather(a.close(), b.close())
        await drop()
