"""The SmartPower server over HTTP, on SQLite and on a real PostgreSQL: the client and the
terminal talking to the real app, every documented error, and every answer checked against the
OpenAPI document (``http_harness``)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_contract import Exchange, Recorder

from hardware_bridge.api import (
    ApiError,
    Batch,
    BatchEvent,
    BatchReading,
    CommandOutcome,
    CommandRequest,
    CommandStatus,
    Enrolment,
    Gap,
    InvalidAuthCode,
    NotFound,
    OutcomeStatus,
    RateLimited,
    Unauthorized,
    encode_batch,
)
from hardware_bridge.api._model import Alarm
from hardware_bridge.uplink import ClaimRateLimiter

from .http_harness import AUTH_CODE, MODEM, OTHER, Server, description, running_server

pytestmark = pytest.mark.usefixtures("socket_enabled")

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def batch(
    start: int,
    count: int,
    *,
    batch_id: str | None = None,
    first: int | None = None,
    **extra: object,
) -> Batch:
    """Readings ``start``… (``first``: where the batch's range begins, if before them)."""
    readings = tuple(
        BatchReading(
            seq=start + i,
            device="sdm630",
            key="voltage_l1",
            value=230.0 + i,
            unit="V",
            time=T0 + timedelta(seconds=10 * (start + i)),
        )
        for i in range(count)
    )
    return Batch(
        batch_id=batch_id or f"b-{start}",
        first_seq=start if first is None else first,
        last_seq=start + count - 1,
        created=T0,
        readings=readings,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def server(database: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_server(database, tmp_path, keep_alive=0.2) as running:
        yield running


async def _claimed(server: Server, modem_no: str = MODEM):  # type: ignore[no-untyped-def]
    client = server.client()
    await client.claim(modem_no, AUTH_CODE)
    return client


async def test_claim_read_history_command_outcome_and_events(server: Server) -> None:
    terminal, _ = await server.enrolled_terminal()
    client = server.client()
    claim = await client.claim(MODEM, "7k3m 9qx2")  # as typed: case, spaces and dashes
    assert claim.modem_no == MODEM

    assert (await client.description(MODEM)).name == "Pump station"
    assert (await client.latest(MODEM)).readings == ()

    events = client.events(MODEM)
    first_event = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.3)  # the stream is open (its keep-alive comments have passed)

    ack = await terminal.upload_batch(MODEM, batch(1, 25))
    assert (ack.acknowledged_seq, ack.duplicate, ack.commands) == (25, False, ())
    event = await asyncio.wait_for(first_event, 10)
    assert event.event == "reading"
    assert json.loads(event.data)["value"] == 230.0

    latest = (await client.latest(MODEM)).readings
    assert [(r.device, r.key, r.value) for r in latest] == [("sdm630", "voltage_l1", 254.0)]

    # history, paged: every reading once, in order
    values: list[object] = []
    cursor = None
    pages = 0
    while True:
        page = await client.history(MODEM, T0, T0 + timedelta(hours=1), cursor=cursor, limit=10)
        values += [r.value for r in page.readings]
        pages += 1
        cursor = page.next
        if cursor is None:
            break
    assert values == [230.0 + i for i in range(25)]
    assert pages >= 3

    command = await client.send_command(
        MODEM, CommandRequest(device="terminal", key="pump", state=True)
    )
    assert command.status is CommandStatus.PENDING
    ack = await terminal.upload_batch(MODEM, batch(26, 1))
    assert [(c.id, c.status, c.state) for c in ack.commands] == [
        (command.id, CommandStatus.SENT, True)
    ]
    outcome = CommandOutcome(
        command_id=command.id, status=OutcomeStatus.SUCCEEDED, time=T0, confirmed_state=True
    )
    done = await terminal.report_outcome(MODEM, outcome)
    assert (done.status, done.confirmed_state) == (CommandStatus.SUCCEEDED, True)
    assert (await client.command(MODEM, command.id)).status is CommandStatus.SUCCEEDED

    seen = []
    async for item in events:
        seen.append(item)
        if item.event == "command" and json.loads(item.data)["status"] == "succeeded":
            break
    assert seen[-1].id is not None
    await events.aclose()

    # a reconnect with Last-Event-ID gets only what it missed
    await terminal.upload_batch(
        MODEM,
        Batch(
            batch_id="b-alarm",
            first_seq=27,
            last_seq=27,
            created=T0,
            events=(
                BatchEvent(
                    seq=27,
                    alarm=Alarm(kind="input_changed", time=T0, device="terminal", key="pump"),
                ),
            ),
        ),
    )
    resumed = client.events(MODEM, last_event_id=seen[-1].id)
    missed = await asyncio.wait_for(anext(resumed), 10)
    assert missed.event == "alarm"
    assert json.loads(missed.data)["kind"] == "input_changed"
    await resumed.aclose()


async def test_a_relay_or_input_change_is_its_latest_value(server: Server) -> None:
    """A terminal sends a relay's or an input's change as an alarm with its new state (it reads
    them every second, and sends a reading of them only at its start)."""
    terminal, _ = await server.enrolled_terminal()
    client = await _claimed(server)
    first = tuple(
        BatchReading(seq=n, device="io_board", key=key, value=False, unit=None, time=T0)
        for n, key in ((1, "input_1"), (2, "relay_1"))
    )
    later = T0 + timedelta(seconds=30)
    changes = (
        BatchEvent(
            seq=3,
            alarm=Alarm(kind="io_alarm", time=later, device="io_board", key="input_1", value=True),
        ),
        BatchEvent(
            seq=4,
            alarm=Alarm(
                kind="state_changed", time=later, device="io_board", key="relay_1", value=True
            ),
        ),
        BatchEvent(  # no state of a point: not a value
            seq=5,
            alarm=Alarm(
                kind="device_unavailable",
                time=later,
                device="analyser",
                key="device_offline",
                value=False,
            ),
        ),
    )
    await terminal.upload_batch(
        MODEM,
        Batch(batch_id="b-io", first_seq=1, last_seq=5, created=T0, readings=first, events=changes),
    )
    latest = {(r.device, r.key): (r.value, r.time) for r in (await client.latest(MODEM)).readings}
    assert latest == {
        ("io_board", "input_1"): (True, later),
        ("io_board", "relay_1"): (True, later),
    }


async def test_a_batch_sent_twice_is_stored_once(server: Server) -> None:
    terminal, _ = await server.enrolled_terminal()
    client = await _claimed(server)
    await terminal.upload_batch(MODEM, batch(1, 5))
    again = await terminal.upload_batch(MODEM, batch(1, 5))
    assert (again.acknowledged_seq, again.duplicate) == (5, True)
    page = await client.history(MODEM, T0, T0 + timedelta(hours=1))
    assert len(page.readings) == 5


async def test_a_terminal_whose_queue_was_recreated_loses_nothing(server: Server) -> None:
    """A new queue restarts its sequence numbers at 1: with its queue id (``stream``) the
    server keeps them apart instead of taking the new readings for ones it has."""
    terminal, _ = await server.enrolled_terminal()
    client = await _claimed(server)
    await terminal.upload_batch(MODEM, batch(1, 5, stream="queue-a"))
    later = T0 + timedelta(minutes=30)
    fresh = batch(1, 5, batch_id="b-new", stream="queue-b")
    fresh = replace(
        fresh, readings=tuple(replace(r, time=later + (r.time - T0)) for r in fresh.readings)
    )
    ack = await terminal.upload_batch(MODEM, fresh)
    assert (ack.acknowledged_seq, ack.duplicate) == (5, False)
    page = await client.history(MODEM, T0, T0 + timedelta(hours=1))
    assert len(page.readings) == 10


async def test_wrong_auth_code_is_401_then_429_after_the_limit(
    database: str, tmp_path: Path
) -> None:
    limiter = ClaimRateLimiter(per_client=3, per_modem=10, window=600)
    async with running_server(database, tmp_path, limiter=limiter) as server:
        await server.enrolled_terminal()
        client = server.client()
        for _ in range(3):
            with pytest.raises(InvalidAuthCode):
                await client.claim(MODEM, "WRONG-CODE")
        with pytest.raises(RateLimited) as limited:
            await client.claim(MODEM, AUTH_CODE)  # even the right code waits now
        assert limited.value.retry_after is not None
        assert limited.value.retry_after > 0


async def test_an_unknown_modem_answers_as_a_wrong_code(server: Server) -> None:
    """Modem Nos are not disclosed: the claim fails exactly as with a wrong code."""
    with pytest.raises(InvalidAuthCode) as refused:
        await server.client().claim(OTHER, AUTH_CODE)
    assert refused.value.field == "auth_code"


async def test_a_token_reads_only_the_modem_it_claimed(server: Server) -> None:
    """A valid token on a modem it has not claimed is 403 (authenticated, not allowed), the
    same for a modem that exists and one that does not; an unknown token stays 401."""
    await server.enrolled_terminal(MODEM)
    await server.enrolled_terminal(OTHER, auth_code="OTHER-CODE")
    client = await _claimed(server, MODEM)
    await client.latest(MODEM)
    other = server.client()
    await other.claim(OTHER, "OTHER-CODE")
    command = await other.send_command(
        OTHER, CommandRequest(device="terminal", key="pump", state=True)
    )
    for modem_no in (OTHER, "SP0000000009"):
        for call in (
            client.latest(modem_no),
            client.description(modem_no),
            client.history(modem_no, T0, T0 + timedelta(hours=1)),
            client.send_command(
                modem_no, CommandRequest(device="terminal", key="pump", state=True)
            ),
            client.command(modem_no, command.id),
        ):
            with pytest.raises(ApiError) as refused:
                await call
            assert (refused.value.status, refused.value.code) == (403, "forbidden")
            assert refused.value.field == "modem_no"
    async with server.session.get(
        f"{server.url}/api/v1/modems/{OTHER}/events",
        headers={"Authorization": f"Bearer {client.token}"},
    ) as response:
        assert response.status == 403
        assert (await response.json())["code"] == "forbidden"
    with pytest.raises(Unauthorized):
        await server.client("spt_" + "0" * 43).latest(OTHER)
    assert (await other.command(OTHER, command.id)).status is CommandStatus.PENDING


async def test_a_terminal_cannot_write_another_modems_data(server: Server) -> None:
    """Another enrolled terminal's secret is 403 ``forbidden`` (authenticated, not allowed);
    a secret no terminal has stays 401."""
    terminal_a, _ = await server.enrolled_terminal(MODEM)
    await server.enrolled_terminal(OTHER, auth_code="OTHER-CODE")
    stranger = server.client(secrets.token_urlsafe(32))
    outcome = CommandOutcome(
        command_id="cmd_x", status=OutcomeStatus.SUCCEEDED, time=T0, confirmed_state=True
    )
    for modem_no in (OTHER, "SP0000000009"):
        for who, status, code in ((terminal_a, 403, "forbidden"), (stranger, 401, "unauthorized")):
            for call in (
                who.upload_batch(modem_no, batch(1, 1)),
                who.put_description(modem_no, description(modem_no)),
                who.renew_auth_code(modem_no, "STOLEN"),
                who.report_outcome(modem_no, outcome),
            ):
                with pytest.raises(ApiError) as refused:
                    await call
                assert (refused.value.status, refused.value.code) == (status, code)
    client = server.client()
    await client.claim(OTHER, "OTHER-CODE")
    assert (await client.latest(OTHER)).readings == ()


async def test_renewing_the_auth_code_revokes_every_token(server: Server) -> None:
    terminal, _ = await server.enrolled_terminal()
    first, second = await _claimed(server), await _claimed(server)
    await terminal.renew_auth_code(MODEM, "NEW-CODE-1")
    for client in (first, second):
        with pytest.raises(Unauthorized):
            await client.latest(MODEM)
    with pytest.raises(InvalidAuthCode):
        await server.client().claim(MODEM, AUTH_CODE)
    renewed = server.client()
    await renewed.claim(MODEM, "NEW-CODE-1")
    await renewed.latest(MODEM)


async def test_a_revoked_token_answers_401(server: Server) -> None:
    await server.enrolled_terminal()
    client = await _claimed(server)
    await client.revoke_token()
    with pytest.raises(Unauthorized):
        await client.latest(MODEM)
    with pytest.raises(Unauthorized):
        await client.revoke_token()


async def test_enrolment_key_and_repeated_enrolment(database: str, tmp_path: Path) -> None:
    async with running_server(database, tmp_path, enrolment_key="site-key") as server:
        secret = secrets.token_urlsafe(32)
        client = server.client()
        with pytest.raises(ApiError) as refused:
            await client.enrol(MODEM, Enrolment(terminal_secret=secret, auth_code=AUTH_CODE))
        assert (refused.value.status, refused.value.code) == (403, "enrolment_refused")
        good = Enrolment(terminal_secret=secret, auth_code=AUTH_CODE, enrolment_key="site-key")
        async with server.session.post(
            f"{server.url}/api/v1/modems/{MODEM}/enrolment", json=good.to_json()
        ) as response:
            assert response.status == 201
        async with server.session.post(
            f"{server.url}/api/v1/modems/{MODEM}/enrolment", json=good.to_json()
        ) as response:
            assert response.status == 200
        stranger = Enrolment(
            terminal_secret=secrets.token_urlsafe(32), auth_code="X", enrolment_key="site-key"
        )
        with pytest.raises(ApiError) as conflict:
            await client.enrol(MODEM, stranger)
        assert (conflict.value.status, conflict.value.code) == (409, "already_enrolled")

        # wrong keys again and again: rate-limited, whatever key comes next
        guess = Enrolment(terminal_secret=secret, auth_code=AUTH_CODE, enrolment_key="guess")
        statuses = []
        for _ in range(25):
            try:
                await client.enrol(OTHER, guess)
            except ApiError as err:
                statuses.append(err.status)
        assert 403 in statuses
        assert statuses[-1] == 429
        with pytest.raises(RateLimited):
            await client.enrol(OTHER, good)


async def test_a_modem_that_has_not_described_itself_has_no_description(server: Server) -> None:
    secret = secrets.token_urlsafe(32)
    await server.client().enrol(MODEM, Enrolment(terminal_secret=secret, auth_code=AUTH_CODE))
    client = await _claimed(server)
    with pytest.raises(NotFound) as missing:
        await client.description(MODEM)
    assert missing.value.code == "modem_not_found"
    assert (await client.latest(MODEM)).readings == ()


async def _raw(
    server: Server,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, object] | None]:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    async with server.session.request(
        method, f"{server.url}{path}", data=body, headers=all_headers
    ) as response:
        text = await response.read()
        data = json.loads(text) if text and response.content_type == "application/json" else None
        return response.status, data


async def test_every_documented_error_is_structured(server: Server) -> None:
    _, secret = await server.enrolled_terminal()
    token = (await (await _claimed(server)).claim(MODEM, AUTH_CODE)).token
    base = f"/api/v1/modems/{MODEM}"
    cases: list[tuple[tuple[int, str, str | None], str, str, dict[str, object]]] = [
        ((401, "unauthorized", None), "GET", base + "/latest", {}),
        ((401, "unauthorized", None), "GET", base + "/latest", {"token": "spt_wrong"}),
        (
            (403, "forbidden", "modem_no"),
            "GET",
            "/api/v1/modems/NOPE/latest",
            {"token": token},
        ),
        (
            (404, "modem_not_found", "modem_no"),
            "GET",
            "/api/v1/modems/-bad/latest",
            {"token": token},
        ),
        (
            (400, "invalid_request", "start"),
            "GET",
            base + "/history?end=2026-11-30T01:00:00Z",
            {"token": token},
        ),
        (
            (400, "invalid_request", "start"),
            "GET",
            base + "/history?start=2026-11-30T00:00:00&end=2026-11-30T01:00:00Z",
            {"token": token},
        ),
        (
            (400, "invalid_request", "end"),
            "GET",
            base + "/history?start=2026-11-30T02:00:00Z&end=2026-11-30T01:00:00Z",
            {"token": token},
        ),
        (
            (400, "invalid_request", "limit"),
            "GET",
            base + "/history?start=2026-11-30T00:00:00Z&end=2026-11-30T01:00:00Z&limit=0",
            {"token": token},
        ),
        (
            (400, "invalid_cursor", "cursor"),
            "GET",
            base + "/history?start=2026-11-30T00:00:00Z&end=2026-11-30T01:00:00Z&cursor=zz",
            {"token": token},
        ),
        (
            (404, "command_not_found", "command_id"),
            "GET",
            base + "/commands/cmd_nope",
            {"token": token},
        ),
        (
            (400, "invalid_request", "auth_code"),
            "POST",
            "/api/v1/claims",
            {"body": b'{"modem_no": "SP2611300001"}'},
        ),
        ((400, "invalid_request", None), "POST", "/api/v1/claims", {"body": b"not json"}),
        (
            (400, "unknown_relay", "key"),
            "POST",
            base + "/commands",
            {
                "token": token,
                "body": b'{"type":"relay_set","device":"terminal","key":"heater","state":true}',
            },
        ),
        (
            (400, "invalid_request", "state"),
            "POST",
            base + "/commands",
            {"token": token, "body": b'{"type":"relay_set","device":"terminal","key":"pump"}'},
        ),
        (
            (415, "unsupported_encoding", None),
            "POST",
            base + "/batches",
            {"token": secret, "body": b"{}"},
        ),
        (
            (400, "invalid_body", None),
            "POST",
            base + "/batches",
            {
                "token": secret,
                "body": gzip.compress(b"not json"),
                "headers": {"Content-Encoding": "gzip"},
            },
        ),
        (
            (400, "invalid_request", "first_seq"),
            "POST",
            base + "/batches",
            {
                "token": secret,
                "body": gzip.compress(
                    b'{"batch_id":"b","last_seq":1,"created":"2026-11-30T00:00:00Z"}'
                ),
                "headers": {"Content-Encoding": "gzip"},
            },
        ),
        (
            (401, "unauthorized", None),
            "POST",
            base + "/batches",
            {
                "token": "x" * 40,
                "body": encode_batch(batch(1, 1)),
                "headers": {"Content-Encoding": "gzip"},
            },
        ),
        (
            (404, "command_not_found", "command_id"),
            "POST",
            base + "/commands/cmd_x/outcome",
            {
                "token": secret,
                "body": b'{"command_id":"cmd_x","status":"failed","time":"2026-11-30T00:00:00Z"}',
            },
        ),
        (
            (400, "invalid_request", "auth_code"),
            "PUT",
            base + "/auth-code",
            {"token": secret, "body": b"{}"},
        ),
        (
            (400, "invalid_request", "terminal_secret"),
            "POST",
            base + "/enrolment",
            {"body": b'{"terminal_secret":"short","auth_code":"A"}'},
        ),
        ((404, "not_found", None), "GET", "/api/v1/nowhere", {}),
        ((405, "method_not_allowed", None), "PATCH", "/api/v1/claims", {}),
    ]
    for (status, code, field), method, path, options in cases:
        got_status, body = await _raw(
            server,
            method,
            path,
            token=options.get("token"),  # type: ignore[arg-type]
            body=options.get("body"),  # type: ignore[arg-type]
            headers=options.get("headers"),  # type: ignore[arg-type]
        )
        assert body is not None, (method, path)
        assert (got_status, body["code"], body["field"]) == (status, code, field), (method, path)


async def test_oversized_body_is_413(database: str, tmp_path: Path) -> None:
    async with running_server(database, tmp_path) as server:
        _, secret = await server.enrolled_terminal()
        status, body = await _raw(
            server,
            "POST",
            f"/api/v1/modems/{MODEM}/batches",
            token=secret,
            body=gzip.compress(b" " * (17 * 1024 * 1024)),
            headers={"Content-Encoding": "gzip"},
        )
        assert (status, body and body["code"]) == (413, "body_too_large")
        # a JSON path lists 400 for a bad body, not 413
        status, body = await _raw(
            server, "POST", "/api/v1/claims", body=b'{"modem_no": "' + b"x" * 2_000_000 + b'"}'
        )
        assert (status, body and body["code"]) == (400, "invalid_request")


async def test_trusted_proxy_forwarded_address_keys_the_rate_limit(
    database: str, tmp_path: Path
) -> None:
    limiter = ClaimRateLimiter(per_client=1, per_modem=100, window=600)
    async with running_server(
        database, tmp_path, limiter=limiter, trusted_proxies=("127.0.0.1",)
    ) as server:
        await server.enrolled_terminal()
        wrong = json.dumps({"modem_no": MODEM, "auth_code": "WRONG"}).encode()
        for client_address in ("198.51.100.7", "198.51.100.8"):
            status, _ = await _raw(
                server,
                "POST",
                "/api/v1/claims",
                body=wrong,
                headers={"X-Forwarded-For": client_address},
            )
            assert status == 401  # each forwarded client has its own budget
        status, _ = await _raw(
            server,
            "POST",
            "/api/v1/claims",
            body=wrong,
            headers={"X-Forwarded-For": "198.51.100.7"},
        )
        assert status == 429
        # a client's own X-Forwarded-For before the proxy's entry does not choose its address:
        # the proxy appends the address it saw, and that one counts
        status, _ = await _raw(
            server,
            "POST",
            "/api/v1/claims",
            body=wrong,
            headers={"X-Forwarded-For": "203.0.113.99, 198.51.100.8"},
        )
        assert status == 429


async def test_untrusted_forwarded_for_is_ignored(database: str, tmp_path: Path) -> None:
    limiter = ClaimRateLimiter(per_client=1, per_modem=100, window=600)
    async with running_server(database, tmp_path, limiter=limiter) as server:
        await server.enrolled_terminal()
        wrong = json.dumps({"modem_no": MODEM, "auth_code": "WRONG"}).encode()
        statuses = []
        for client_address in ("198.51.100.7", "198.51.100.8"):
            status, _ = await _raw(
                server,
                "POST",
                "/api/v1/claims",
                body=wrong,
                headers={"X-Forwarded-For": client_address},
            )
            statuses.append(status)
        assert statuses == [401, 429]


def test_the_contract_check_flags_an_undocumented_status_and_a_bad_body() -> None:
    recorder = Recorder()
    recorder.exchanges += [
        Exchange("GET", "/api/v1/modems/{modem_no}/latest", 409, "application/json", b"{}", {}),
        Exchange(
            "GET",
            "/api/v1/modems/{modem_no}/latest",
            200,
            "application/json",
            b'{"readings": []}',
            {},
        ),
        Exchange(
            "POST",
            "/api/v1/claims",
            429,
            "application/json",
            b'{"code": "rate_limited", "message": "m", "field": null}',
            {},
        ),
    ]
    problems = recorder.problems()
    assert len(problems) == 3, problems
    assert "not documented" in problems[0]
    assert "'next' is a required property" in problems[1]
    assert "Retry-After" in problems[2]


async def test_retention_removes_old_readings_and_keeps_the_latest(
    database: str, tmp_path: Path
) -> None:
    async with running_server(database, tmp_path, retention=timedelta(days=90)) as server:
        terminal, _ = await server.enrolled_terminal()
        client = await _claimed(server)
        now = datetime.now(UTC).replace(microsecond=0)
        old, recent = now - timedelta(days=200), now - timedelta(hours=1)
        readings = tuple(
            BatchReading(seq=i + 1, device="sdm630", key=key, value=v, unit="V", time=t)
            for i, (key, v, t) in enumerate(
                [("voltage_l1", 1.0, old), ("voltage_l2", 2.0, old), ("voltage_l1", 3.0, recent)]
            )
        )
        await terminal.upload_batch(
            MODEM, Batch(batch_id="b", first_seq=1, last_seq=3, created=now, readings=readings)
        )
        await server.service.retention_pass()
        page = await client.history(MODEM, old - timedelta(days=1), now)
        assert [r.value for r in page.readings] == [3.0]
        latest = {r.key: r.value for r in (await client.latest(MODEM)).readings}
        assert latest == {"voltage_l1": 3.0, "voltage_l2": 2.0}  # latest values stay


async def test_events_reach_a_client_of_another_server_process(
    backend: str, database: str, tmp_path: Path
) -> None:
    """Two server processes on one PostgreSQL: an upload to one is streamed by the other."""
    if backend != "postgresql":
        pytest.skip("SQLite is one process's database")
    async with (
        running_server(database, tmp_path, notify=True) as first,
        running_server(database, tmp_path, notify=True) as second,
    ):
        terminal, _ = await first.enrolled_terminal()
        client = second.client()
        await client.claim(MODEM, AUTH_CODE)
        events = client.events(MODEM)
        received = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.3)  # the stream is open
        await terminal.upload_batch(MODEM, batch(1, 400))  # more than one notification holds
        event = await asyncio.wait_for(received, 10)
        assert (event.event, json.loads(event.data)["value"]) == ("reading", 230.0)
        values = [json.loads(event.data)["value"]]
        async with asyncio.timeout(10):
            async for item in events:
                values.append(json.loads(item.data)["value"])
                if len(values) == 400:
                    break
        assert values == [230.0 + i for i in range(400)]
        await events.aclose()


class _HeldConnection:
    """A notifying connection whose statements wait for ``release``."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.release = asyncio.Event()

    async def execute(self, *args: object) -> object:
        await self.release.wait()
        return await self.connection.execute(*args)

    async def close(self) -> None:
        await self.connection.close()


async def test_an_upload_does_not_wait_for_the_other_processes_to_be_told(
    backend: str, database: str, tmp_path: Path
) -> None:
    """Telling the other processes goes on after the reply: a slow notification (a busy
    database) does not hold up the terminal's upload, nor every upload queued behind it."""
    if backend != "postgresql":
        pytest.skip("SQLite is one process's database")
    async with (
        running_server(database, tmp_path, notify=True) as first,
        running_server(database, tmp_path, notify=True) as second,
    ):
        terminal, _ = await first.enrolled_terminal()
        client = second.client()
        await client.claim(MODEM, AUTH_CODE)
        notifier: Any = first.service.notifier
        held = _HeldConnection(notifier._send)
        notifier._send = held
        events = client.events(MODEM)
        received = asyncio.ensure_future(anext(events))
        try:
            await asyncio.sleep(0.3)  # the stream is open
            for start in (1, 4, 7):
                ack = await asyncio.wait_for(terminal.upload_batch(MODEM, batch(start, 3)), 10)
                assert ack.acknowledged_seq == start + 2
            assert not received.done()
            held.release.set()
            values = [json.loads((await asyncio.wait_for(received, 10)).data)["value"]]
            async with asyncio.timeout(10):
                async for item in events:
                    values.append(json.loads(item.data)["value"])
                    if len(values) == 9:
                        break
            assert values == [230.0 + i for i in range(3)] * 3  # all of them, in order
        finally:
            held.release.set()
            received.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await received
            await events.aclose()


async def test_a_reported_gap_is_acknowledged_and_holds_no_reading(server: Server) -> None:
    terminal, _ = await server.enrolled_terminal()
    client = await _claimed(server)
    gap = Gap(first_seq=1, last_seq=3, count=3, first_time=T0, last_time=T0)
    ack = await terminal.upload_batch(MODEM, batch(4, 2, first=1, gaps=(gap,)))
    assert ack.acknowledged_seq == 5
    page = await client.history(MODEM, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [r.value for r in page.readings] == [230.0, 231.0]
