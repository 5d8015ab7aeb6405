"""A fake SmartPower server for the integration's tests: the client half of the API contract
(``docs/api/smartpower.openapi.yaml``), built from the typed model, on 127.0.0.1.

It holds one modem; tests set its auth code, description, and what it should refuse.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestServer

from hardware_bridge import (
    Claim,
    Command,
    CommandRequest,
    CommandStatus,
    DeviceDescription,
    PointDescription,
    Reading,
    ReadingsPage,
    TerminalDescription,
)

PREFIX = "/api/v1"
MODEM_NO = "SP2611300001"
AUTH_CODE = "7K3M-9QX2"


def sample_description(modem_no: str = MODEM_NO) -> TerminalDescription:
    return TerminalDescription(
        modem_no=modem_no,
        name="Pump station",
        send_period=900,
        firmware="0.2.0",
        devices=(
            DeviceDescription.from_json(
                {
                    "key": "meter1",
                    "name": "Main meter",
                    "protocol": "iec62056",
                    "manufacturer": "MKL",
                    "serial_number": "63251847",
                    "points": [
                        PointDescription(
                            key="energy_import_total",
                            name="Energy import",
                            unit="kWh",
                            device_class="energy",
                            state_class="total_increasing",
                        ).to_json()
                    ],
                    "io": [],
                }
            ),
            DeviceDescription.from_json(
                {
                    "key": "terminal",
                    "name": "Terminal",
                    "protocol": "terminal",
                    "points": [],
                    "io": [
                        {"key": "relay_1", "name": "Pump", "kind": "relay"},
                        {"key": "input_1", "name": "Tank full", "kind": "input"},
                    ],
                }
            ),
        ),
    )


@dataclass
class FakeSmartPower:
    """State and switches of the fake server."""

    modem_no: str = MODEM_NO
    auth_code: str = AUTH_CODE
    description: TerminalDescription = field(default_factory=sample_description)
    tokens: set[str] = field(default_factory=set)
    rate_limited: float | None = None  # Retry-After seconds while set (-1: without the header)
    claims: list[str] = field(default_factory=list)  # auth codes tried, in order
    url: str = ""
    readings: dict[tuple[str, str], Reading] = field(default_factory=dict)  # what /latest has
    history: list[Reading] = field(default_factory=list)  # what /history has, oldest first
    history_page: int = 3  # readings per page at most (the client's limit may be lower)
    commands: dict[str, Command] = field(default_factory=dict)
    latest_requests: int = 0
    description_requests: int = 0
    streams: list[asyncio.Queue[tuple[str, str] | None]] = field(default_factory=list)
    stream_opened: asyncio.Event = field(default_factory=asyncio.Event)

    def upload(self, *readings: Reading, live: bool = True) -> None:
        """The terminal's upload arrives: kept for /latest, and sent on every event stream."""
        for reading in readings:
            self.readings[(reading.device, reading.key)] = reading
            if live:
                self.push("reading", reading.to_json())

    def push(self, event: str, data: object) -> None:
        for queue in self.streams:
            queue.put_nowait((event, json.dumps(data)))

    def end_streams(self) -> None:
        for queue in self.streams:
            queue.put_nowait(None)

    def settle(
        self, command_id: str, status: CommandStatus, *, at: datetime, **extra: object
    ) -> None:
        """The terminal reports a command's outcome."""
        old = self.commands[command_id]
        fields = {**old.to_json(), "status": status.value, "updated": at.isoformat(), **extra}
        self.commands[command_id] = command = Command.from_json(fields)
        self.push("command", command.to_json())

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"{PREFIX}/claims", self._claim)
        app.router.add_get(f"{PREFIX}/modems/{{modem_no}}", self._description)
        app.router.add_get(f"{PREFIX}/modems/{{modem_no}}/latest", self._latest)
        app.router.add_get(f"{PREFIX}/modems/{{modem_no}}/history", self._history)
        app.router.add_post(f"{PREFIX}/modems/{{modem_no}}/commands", self._send_command)
        app.router.add_get(f"{PREFIX}/modems/{{modem_no}}/commands/{{command_id}}", self._command)
        app.router.add_get(f"{PREFIX}/modems/{{modem_no}}/events", self._events)
        return app

    def revoke_all(self) -> None:
        """What renewing the auth code on the terminal does."""
        self.tokens.clear()

    @staticmethod
    def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status, headers=headers)

    async def _claim(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.claims.append(body["auth_code"])
        if self.rate_limited is not None:
            headers = {} if self.rate_limited < 0 else {"Retry-After": str(self.rate_limited)}
            return self._error(429, "rate_limited", "Too many attempts.", **headers)
        if body["modem_no"] != self.modem_no:
            return self._error(404, "modem_not_found", "No such terminal is known.")
        if body["auth_code"] != self.auth_code:
            return self._error(401, "invalid_auth_code", "The Modem No and auth code do not match.")
        token = f"spt_{secrets.token_hex(16)}"
        self.tokens.add(token)
        claim = Claim(
            token=token, token_id="tok_1", modem_no=self.modem_no, issued=datetime.now(UTC)
        )
        return web.json_response(claim.to_json(), status=201)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens

    def _refusal(self, request: web.Request) -> web.Response | None:
        if not self._authorised(request):
            return self._error(401, "unauthorized", "The token is not valid.")
        if request.match_info["modem_no"] != self.modem_no:
            return self._error(404, "modem_not_found", "No such terminal is known.")
        return None

    async def _description(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        self.description_requests += 1
        return web.json_response(self.description.to_json())

    async def _latest(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        self.latest_requests += 1
        page = ReadingsPage(readings=tuple(self.readings.values()), next=None)
        return web.json_response(page.to_json())

    async def _history(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        start = datetime.fromisoformat(request.query["start"])
        end = datetime.fromisoformat(request.query["end"])
        limit = min(int(request.query.get("limit", "1000")), self.history_page)
        offset = int(request.query.get("cursor", "0"))
        chosen = [r for r in self.history if start <= r.time < end]
        page = chosen[offset : offset + limit]
        more = offset + limit < len(chosen)
        body = ReadingsPage(readings=tuple(page), next=str(offset + limit) if more else None)
        return web.json_response(body.to_json())

    async def _send_command(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        wanted = CommandRequest.from_json(await request.json())
        now = datetime.now(UTC)
        command = Command(
            id=f"cmd_{len(self.commands) + 1}",
            type=wanted.type,
            device=wanted.device,
            key=wanted.key,
            state=wanted.state,
            status=CommandStatus.PENDING,
            created=now,
            updated=now,
        )
        self.commands[command.id] = command
        return web.json_response(command.to_json(), status=201)

    async def _command(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        command = self.commands.get(request.match_info["command_id"])
        if command is None:
            return self._error(404, "command_not_found", "No such command.")
        return web.json_response(command.to_json())

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self.streams.append(queue)
        self.stream_opened.set()
        try:
            await response.write(b": hello\n\n")
            number = 0
            while (item := await queue.get()) is not None:
                number += 1
                event, data = item
                await response.write(f"id: {number}\nevent: {event}\ndata: {data}\n\n".encode())
        finally:
            self.streams.remove(queue)
        return response


@asynccontextmanager
async def serve(fake: FakeSmartPower) -> AsyncIterator[FakeSmartPower]:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        fake.end_streams()
        await server.close()


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Any other application (a server that is not SmartPower's); yields its URL."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
