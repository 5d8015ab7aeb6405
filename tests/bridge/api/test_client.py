"""SmartPowerClient against a small aiohttp server on 127.0.0.1: each error class, the gzip
upload, the event stream."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hardware_bridge.api import (
    Alarm,
    ApiError,
    ApiValidationError,
    Batch,
    BatchReading,
    Command,
    CommandRequest,
    InvalidAuthCode,
    NotFound,
    RateLimited,
    Reading,
    ServerUnreachable,
    SmartPowerClient,
    TlsError,
    Unauthorized,
    decode_event,
    parse_time,
)

# Home Assistant's test plugin blocks sockets; these tests talk only to 127.0.0.1.
pytestmark = pytest.mark.usefixtures("socket_enabled")

T0 = datetime(2026, 11, 30, 0, 15, tzinfo=UTC)
TOKEN = "spt_4f9c1e0b7a2d4c8e9f3a6b5d1c7e2f80"


def _error(status: int, code: str, message: str, field: str | None = None, **headers: str):
    return web.json_response(
        {"code": code, "message": message, "field": field}, status=status, headers=headers
    )


@pytest.fixture
async def server() -> AsyncIterator[tuple[TestServer, dict[str, object]]]:
    seen: dict[str, object] = {}

    async def claims(request: web.Request) -> web.Response:
        body = await request.json()
        if body["auth_code"] == "wrong":
            return _error(401, "invalid_auth_code", "no match", "auth_code")
        if body["auth_code"] == "again":
            return _error(429, "rate_limited", "slow down", **{"Retry-After": "60"})
        return web.json_response(
            {
                "token": TOKEN,
                "token_id": "tok1",
                "modem_no": body["modem_no"],
                "issued": "2026-11-30T03:15:00.000+03:00",
            },
            status=201,
        )

    def authorised(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def latest(request: web.Request) -> web.Response:
        if not authorised(request):
            return _error(401, "unauthorized", "A bearer token is required.")
        if request.match_info["modem_no"] != "SP1":
            return _error(404, "modem_not_found", "unknown", "modem_no")
        return web.json_response(
            {
                "readings": [
                    {
                        "device": "sdm630",
                        "key": "voltage_l1",
                        "value": 229.89999389648438,
                        "unit": "V",
                        "time": "2026-11-30T03:14:50.120+03:00",
                    }
                ],
                "next": None,
            }
        )

    async def history(request: web.Request) -> web.Response:
        seen["history"] = dict(request.query)
        start = parse_time(request.query["start"], "start")
        if parse_time(request.query["end"], "end") <= start:
            return _error(400, "invalid_request", "end must be after start", "end")
        return web.json_response({"readings": [], "next": "c2"})

    async def commands(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {
                "id": "cmd1",
                **body,
                "status": "pending",
                "created": "2026-11-30T00:16:00Z",
                "updated": "2026-11-30T00:16:00Z",
                "expires": None,
                "confirmed_state": None,
                "message": None,
            },
            status=202,
        )

    async def batches(request: web.Request) -> web.Response:
        seen["encoding"] = request.headers.get("Content-Encoding")
        # aiohttp's server inflates a gzip request body before the handler reads it
        batch = Batch.from_json(await request.json())
        seen["batch"] = batch
        return web.json_response(
            {
                "batch_id": batch.batch_id,
                "acknowledged_seq": batch.last_seq,
                "duplicate": False,
                "commands": [],
            }
        )

    async def bad_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>", status=502)

    async def bad_json_ok(request: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in to the hotspot</html>", content_type="text/html")

    async def malformed(request: web.Request) -> web.Response:
        return web.json_response({"readings": [{"device": "x"}], "next": None})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    async def events(request: web.Request) -> web.StreamResponse:
        seen["last_event_id"] = request.headers.get("Last-Event-ID")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        reading = json.dumps(
            {
                "device": "sdm630",
                "key": "voltage_l1",
                "value": 230.1,
                "unit": "V",
                "time": "2026-11-30T03:14:50.120+03:00",
            }
        )
        alarm = json.dumps(
            {
                "kind": "input_changed",
                "time": "2026-11-30T03:15:01.004Z",
                "device": "terminal",
                "key": "tank_full",
                "value": True,
            }
        )
        text = (
            f": hello\n\nid: 1\nevent: reading\ndata: {reading}\n\n"
            f"id: 2\nevent: alarm\ndata: {alarm}\n\nevent: future\ndata: x\n\n"
            "data: two\ndata: lines\n\n"
        )
        data = text.encode()
        for i in range(0, len(data), 5):  # split anywhere, in lines and in UTF-8
            await response.write(data[i : i + 5])
            await asyncio.sleep(0)
        return response

    app = web.Application()
    app.router.add_post("/api/v1/claims", claims)
    app.router.add_get("/api/v1/modems/{modem_no}/latest", latest)
    app.router.add_get("/api/v1/modems/{modem_no}/history", history)
    app.router.add_post("/api/v1/modems/{modem_no}/commands", commands)
    app.router.add_post("/api/v1/modems/{modem_no}/batches", batches)
    app.router.add_get("/api/v1/modems/PORTAL/events", bad_json_ok)
    app.router.add_get("/api/v1/modems/{modem_no}/events", events)
    app.router.add_get("/api/v1/modems/BAD", bad_json)
    app.router.add_get("/api/v1/modems/{modem_no}", malformed)
    app.router.add_delete("/api/v1/tokens/current", slow)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield test_server, seen
    finally:
        await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _client(
    server: TestServer, session: aiohttp.ClientSession, **kwargs: object
) -> SmartPowerClient:
    return SmartPowerClient(session, str(server.make_url("")), **kwargs)  # type: ignore[arg-type]


async def test_claim_then_read(server, session) -> None:
    client = _client(server[0], session)
    claim = await client.claim("SP1", "7K3M-9QX2")
    assert claim.token == TOKEN
    assert client.token == TOKEN
    page = await client.latest("SP1")
    assert page.readings[0].value == 229.89999389648438
    assert page.next is None


async def test_invalid_auth_code(server, session) -> None:
    with pytest.raises(InvalidAuthCode) as caught:
        await _client(server[0], session).claim("SP1", "wrong")
    assert (caught.value.field, caught.value.status) == ("auth_code", 401)


async def test_rate_limited_carries_retry_after(server, session) -> None:
    with pytest.raises(RateLimited) as caught:
        await _client(server[0], session).claim("SP1", "again")
    assert caught.value.retry_after == 60


async def test_unauthorized_without_token(server, session) -> None:
    with pytest.raises(Unauthorized) as caught:
        await _client(server[0], session).latest("SP1")
    assert caught.value.code == "unauthorized"


async def test_not_found(server, session) -> None:
    with pytest.raises(NotFound) as caught:
        await _client(server[0], session, token=TOKEN).latest("SP2")
    assert caught.value.field == "modem_no"


async def test_api_error_keeps_code_and_field(server, session) -> None:
    client = _client(server[0], session, token=TOKEN)
    with pytest.raises(ApiError) as caught:
        await client.history("SP1", T0, T0 - timedelta(hours=1))
    assert (caught.value.code, caught.value.field, caught.value.status) == (
        "invalid_request",
        "end",
        400,
    )
    istanbul = timezone(timedelta(hours=3))
    page = await client.history(
        "SP1", T0.astimezone(istanbul), T0 + timedelta(hours=1), cursor="c1", limit=50
    )
    assert page.next == "c2"
    assert server[1]["history"] == {
        "start": "2026-11-30T03:15:00.000+03:00",
        "end": "2026-11-30T01:15:00.000Z",
        "cursor": "c1",
        "limit": "50",
    }


async def test_error_without_a_structured_body(server, session) -> None:
    with pytest.raises(ApiError) as caught:
        await _client(server[0], session, token=TOKEN).description("BAD")
    assert (caught.value.status, caught.value.code) == (502, "http_error")


async def test_malformed_answer_names_the_field(server, session) -> None:
    with pytest.raises(ApiValidationError) as caught:
        await _client(server[0], session, token=TOKEN).description("SP1")
    assert caught.value.field == "devices"


async def test_command(server, session) -> None:
    command = await _client(server[0], session, token=TOKEN).send_command(
        "SP1", CommandRequest(device="terminal", key="pump", state=True)
    )
    assert isinstance(command, Command)
    assert (command.status, command.state) == ("pending", True)


async def test_gzip_upload(server, session) -> None:
    batch = Batch(
        batch_id="b1",
        first_seq=1,
        last_seq=3,
        created=T0,
        readings=tuple(
            BatchReading(seq=n, device="sdm630", key=key, value=value, unit="V", time=T0)
            for n, (key, value) in enumerate(
                [("voltage_l1", 229.89999389648438), ("voltage_l2", None), ("voltage_l3", 231.0)],
                start=1,
            )
        ),
    )
    ack = await _client(server[0], session, token=TOKEN).upload_batch("SP1", batch)
    assert ack.acknowledged_seq == 3
    assert server[1]["encoding"] == "gzip"
    assert server[1]["batch"] == batch


async def test_timeout_is_server_unreachable(server, session) -> None:
    client = _client(server[0], session, token=TOKEN, timeout=0.2)
    with pytest.raises(ServerUnreachable, match="timed out"):
        await client.revoke_token()


async def test_refused_connection_is_server_unreachable(session) -> None:
    probe = TestServer(web.Application(), host="127.0.0.1")
    await probe.start_server()
    url = str(probe.make_url(""))
    await probe.close()  # nothing listens there any more
    with pytest.raises(ServerUnreachable):
        await SmartPowerClient(session, url).claim("SP1", "x")


async def test_tls_failure_is_tls_error(server, session) -> None:
    # an https client against a plain-HTTP port: the handshake fails
    url = str(server[0].make_url("")).replace("http://", "https://")
    with pytest.raises(TlsError):
        await SmartPowerClient(session, url, timeout=5).claim("SP1", "x")


async def test_event_stream(server, session) -> None:
    client = _client(server[0], session, token=TOKEN)
    events = [event async for event in client.events("SP1", last_event_id="0")]
    assert server[1]["last_event_id"] == "0"
    assert [e.event for e in events] == ["reading", "alarm", "future", "message"]
    assert [e.id for e in events] == ["1", "2", "2", "2"]
    assert events[3].data == "two\nlines"
    reading, alarm = decode_event(events[0]), decode_event(events[1])
    assert isinstance(reading, Reading)
    assert reading.value == 230.1
    assert isinstance(alarm, Alarm)
    assert alarm.value is True
    assert decode_event(events[2]) is None


async def test_event_stream_that_is_not_one(server, session) -> None:
    """A captive portal or proxy answering 200 with a page is an error, not an empty stream."""
    client = _client(server[0], session, token=TOKEN)
    with pytest.raises(ApiError) as caught:
        async for _ in client.events("PORTAL"):
            pass
    assert caught.value.code == "not_event_stream"


async def test_no_secret_reaches_the_log_or_a_message(server, session, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = _client(server[0], session)
    with pytest.raises(InvalidAuthCode) as caught:
        await client.claim("SP1", "wrong")
    claim = await client.claim("SP1", "7K3M-9QX2")
    text = caplog.text + str(caught.value) + repr(claim) + repr(client)
    assert "7K3M-9QX2" not in text
    assert TOKEN not in text
