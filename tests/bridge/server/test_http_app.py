"""The HTTP app around any ClientSide: what a daemon gets (no terminal half), the event
stream's framing and keep-alive, and an unexpected exception (500, generic, no secret logged)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hardware_bridge.api import ReadingsPage, SseEvent, SseParser
from hardware_bridge.api.http_app import build_app

pytestmark = pytest.mark.usefixtures("socket_enabled")

TOKEN = "spt_the-secret-token-value-0123456789"
MODEM = "SP2611300001"


class FakeClientSide:
    """Only what these tests call; everything else fails loudly."""

    def __init__(self) -> None:
        self.events_sent = asyncio.Queue[SseEvent]()

    async def token_modems(self, token: str) -> frozenset[str]:
        return frozenset({MODEM}) if token == TOKEN else frozenset()

    async def latest(self, modem_no: str) -> ReadingsPage:
        raise RuntimeError("the storage went away")

    async def events(self, modem_no: str, last_event_id: str | None) -> AsyncIterator[SseEvent]:
        if last_event_id == "7":
            yield SseEvent(event="reading", data='{"a":\n1}', id="8")
        while True:
            yield await self.events_sent.get()

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"unexpected call {name}")


async def _client(side: FakeClientSide, **options: float) -> TestClient:
    app = build_app(side, None, **options)  # type: ignore[arg-type]
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_daemon_app_has_no_terminal_half() -> None:
    client = await _client(FakeClientSide())
    try:
        response = await client.post(f"/api/v1/modems/{MODEM}/batches", data=b"x")
        assert response.status == 404
        assert (await response.json())["code"] == "not_found"
    finally:
        await client.close()


async def test_an_unexpected_exception_is_a_generic_500_without_secrets_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await _client(FakeClientSide())
    try:
        with caplog.at_level(logging.ERROR):
            response = await client.get(
                f"/api/v1/modems/{MODEM}/latest", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        assert response.status == 500
        body = await response.json()
        assert body == {
            "code": "internal_error",
            "message": "The server failed; the error is logged.",
            "field": None,
        }
        assert "the storage went away" not in str(body)
        assert f"/api/v1/modems/{MODEM}/latest" in caplog.text
        assert TOKEN not in caplog.text
    finally:
        await client.close()


async def test_event_stream_framing_keep_alive_and_last_event_id() -> None:
    side = FakeClientSide()
    client = await _client(side, keep_alive=0.1)
    try:
        response = await client.get(
            f"/api/v1/modems/{MODEM}/events",
            headers={"Authorization": f"Bearer {TOKEN}", "Last-Event-ID": "7"},
        )
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        parser = SseParser()
        raw = b""
        events: list[SseEvent] = []
        async with asyncio.timeout(10):
            while b": keep-alive" not in raw or not events:
                chunk = await response.content.readany()
                raw += chunk
                events += parser.feed(chunk)
            side.events_sent.put_nowait(SseEvent(event="alarm", data="{}", id="9"))
            while len(events) < 2:
                events += parser.feed(await response.content.readany())
        # a missed event first (its data over two lines), then the live one
        assert [(e.event, e.data, e.id) for e in events] == [
            ("reading", '{"a":\n1}', "8"),
            ("alarm", "{}", "9"),
        ]
        assert parser.retry == 5000
        response.close()
    finally:
        await client.close()
