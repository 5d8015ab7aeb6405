"""A strict SmartPower server for the uploader's tests: the terminal endpoints only.

It follows the contract (``docs/api/smartpower.openapi.yaml``) with the API's own model: an
enrolment stores the secret and the auth code, a batch is decoded with ``decode_batch`` and
stored once per sequence number (a repeated ``batch_id`` with its range is a duplicate; another
id over a held range, or a hole, is ``sequence_conflict``), the acknowledgement carries the
commands waiting for the terminal, and ``GET …/pending-commands?wait=`` hands them over at
once or as soon as one is added (``offer_wait=False``: an older server without it, 404).
It counts the bytes of every request as it came over the
socket (request line, headers and the gzip'd body's length) and can be taken "down" (503, as
a proxy in front of a server that is away) or made to lose its answers after storing (500).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from hardware_bridge.api import (
    BatchAck,
    BatchReading,
    Command,
    CommandOutcome,
    CommandStatus,
    CommandType,
    Enrolment,
    EnrolmentAck,
    PendingCommands,
    parse_batch,
)


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body = {"code": code, "message": message, "field": field}
    return web.json_response(body, status=status)


@dataclass
class FakeServer:
    """State of one modem on the fake server."""

    enrolment_key: str | None = None
    down: bool = False
    lose_answers: int = 0
    """Store the next N batches but answer 500, as if the answer was lost on the way."""
    secret: str | None = None
    auth_codes: list[str] = field(default_factory=list)
    descriptions: list[dict[str, Any]] = field(default_factory=list)
    readings: dict[int, BatchReading] = field(default_factory=dict)
    events: dict[int, Any] = field(default_factory=dict)
    gaps: dict[int, Any] = field(default_factory=dict)
    stored: list[int] = field(default_factory=list)
    """Every sequence number as it was stored (a duplicate would show twice)."""
    streams: set[str | None] = field(default_factory=set)
    """The queue ids (``stream``) batches came with."""
    batches: dict[str, tuple[int, int]] = field(default_factory=dict)
    acked: int = 0
    uploads: int = 0
    duplicates: int = 0
    conflicts: int = 0
    commands: dict[str, Command] = field(default_factory=dict)
    outcomes: list[CommandOutcome] = field(default_factory=list)
    request_bytes: int = 0
    bytes_by_kind: dict[str, int] = field(default_factory=dict)
    requests_by_kind: dict[str, int] = field(default_factory=dict)
    batch_body_bytes: int = 0
    requests: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    offer_wait: bool = True
    wait_scale: float = 1.0
    """How much of a request's ``wait`` the server really waits (a measurement's clock)."""
    waits: int = 0
    """``pending-commands`` requests answered."""
    command_added: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    # -- control --------------------------------------------------------------------------

    def add_command(
        self,
        command_id: str,
        device: str,
        key: str,
        state: bool,
        expires: datetime | None = None,
    ) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        self.commands[command_id] = Command(
            id=command_id,
            type=CommandType.RELAY_SET,
            device=device,
            key=key,
            state=state,
            status=CommandStatus.PENDING,
            created=now,
            updated=now,
            expires=expires,
        )
        self.command_added.set()

    async def until(self, predicate: Any, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    # -- the app --------------------------------------------------------------------------

    def app(self) -> web.Application:
        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            body = await request.read()
            head = f"{request.method} {request.path_qs} HTTP/1.1\r\n".encode()
            head += b"".join(k + b": " + v + b"\r\n" for k, v in request.raw_headers) + b"\r\n"
            # aiohttp inflates a gzip body before the handler sees it: count what was sent
            sent = int(request.headers.get("Content-Length", len(body)))
            self.request_bytes += len(head) + sent
            self.requests += 1
            kind = request.path.rsplit("/", 1)[-1]  # batches, description, enrolment, …
            self.bytes_by_kind[kind] = self.bytes_by_kind.get(kind, 0) + len(head) + sent
            self.requests_by_kind[kind] = self.requests_by_kind.get(kind, 0) + 1
            try:
                if self.down:
                    return _error(503, "unavailable", "down for the test")
                return await handler(request)
            finally:
                self.changed.set()

        app = web.Application(middlewares=[count], client_max_size=32 * 1024 * 1024)
        prefix = "/api/v1/modems/{modem_no}"
        app.router.add_post(prefix + "/enrolment", self._enrol)
        app.router.add_put(prefix + "/description", self._describe)
        app.router.add_put(prefix + "/auth-code", self._auth_code)
        app.router.add_post(prefix + "/batches", self._batch)
        app.router.add_post(prefix + "/commands/{command_id}/outcome", self._outcome)
        if self.offer_wait:
            app.router.add_get(prefix + "/pending-commands", self._pending)
        return app

    async def start(self) -> FakeServer:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return self.secret is not None and header == f"Bearer {self.secret}"

    async def _enrol(self, request: web.Request) -> web.Response:
        enrolment = Enrolment.from_json(await request.json())
        if self.enrolment_key is not None and enrolment.enrolment_key != self.enrolment_key:
            return _error(403, "enrolment_refused", "wrong key", "enrolment_key")
        if self.secret is not None and enrolment.terminal_secret != self.secret:
            return _error(409, "already_enrolled", "another secret", "terminal_secret")
        status = 200 if self.secret is not None else 201
        self.secret = enrolment.terminal_secret
        self.auth_codes.append(enrolment.auth_code)
        ack = EnrolmentAck(
            modem_no=request.match_info["modem_no"],
            enrolled=datetime.now(UTC).replace(microsecond=0),
            acknowledged_seq=self.acked,
        )
        return web.json_response(ack.to_json(), status=status)

    async def _describe(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "unauthorized", "unknown terminal secret")
        self.descriptions.append(await request.json())
        return web.Response(status=204)

    async def _auth_code(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "unauthorized", "unknown terminal secret")
        self.auth_codes.append((await request.json())["auth_code"])
        return web.Response(status=204)

    async def _batch(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "unauthorized", "unknown terminal secret")
        if request.headers.get("Content-Encoding") != "gzip":
            return _error(415, "unsupported_encoding", "Content-Encoding must be gzip")
        self.batch_body_bytes += int(request.headers["Content-Length"])
        batch = parse_batch(await request.read())  # aiohttp inflated the gzip body
        self.uploads += 1
        self.streams.add(batch.stream)
        known = self.batches.get(batch.batch_id)
        if known == (batch.first_seq, batch.last_seq) and batch.last_seq <= self.acked:
            self.duplicates += 1
            return self._ack(batch.batch_id, duplicate=True)
        if batch.first_seq != self.acked + 1:
            self.conflicts += 1
            return _error(
                409,
                "sequence_conflict",
                f"expected first_seq {self.acked + 1}, the server holds up to {self.acked}",
                "first_seq",
            )
        for reading in batch.readings:
            self.readings[reading.seq] = reading
            self.stored.append(reading.seq)
        for event in batch.events:
            self.events[event.seq] = event
            self.stored.append(event.seq)
        for gap in batch.gaps:
            self.gaps[gap.last_seq] = gap
            self.stored.extend(range(gap.first_seq, gap.last_seq + 1))
        for outcome in batch.outcomes:
            self.outcomes.append(outcome)
            if (command := self.commands.get(outcome.command_id)) is not None:
                status = CommandStatus(outcome.status.value)
                self.commands[command.id] = _with_status(command, status, outcome.confirmed_state)
        self.batches[batch.batch_id] = (batch.first_seq, batch.last_seq)
        self.acked = batch.last_seq
        if self.lose_answers:
            self.lose_answers -= 1
            return _error(500, "internal", "answer lost for the test")
        return self._ack(batch.batch_id)

    def _hand_over(self) -> tuple[Command, ...]:
        waiting = [
            command
            for command in self.commands.values()
            if command.status in (CommandStatus.PENDING, CommandStatus.SENT)
        ]
        for command in waiting:
            self.commands[command.id] = _with_status(command, CommandStatus.SENT)
        return tuple(self.commands[c.id] for c in waiting)

    def _ack(self, batch_id: str, *, duplicate: bool = False) -> web.Response:
        ack = BatchAck(
            batch_id=batch_id,
            acknowledged_seq=self.acked,
            duplicate=duplicate,
            commands=self._hand_over(),
        )
        return web.json_response(ack.to_json())

    async def _pending(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "unauthorized", "unknown terminal secret")
        wait = request.query.get("wait", "0")
        if not wait.isdigit() or int(wait) > 300:
            return _error(400, "invalid_request", "must be between 0 and 300", "wait")
        self.command_added.clear()
        commands = self._hand_over()
        if not commands:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.command_added.wait(), int(wait) * self.wait_scale)
            commands = self._hand_over()
        self.waits += 1
        return web.json_response(PendingCommands(commands=commands).to_json())

    async def _outcome(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "unauthorized", "unknown terminal secret")
        outcome = CommandOutcome.from_json(json.loads(await request.text()))
        command = self.commands.get(outcome.command_id)
        if command is None:
            return _error(404, "not_found", "no such command")
        self.outcomes.append(outcome)
        status = CommandStatus(outcome.status.value)
        self.commands[command.id] = _with_status(command, status, outcome.confirmed_state)
        return web.json_response(self.commands[command.id].to_json())


def _with_status(command: Command, status: CommandStatus, confirmed: bool | None = None) -> Command:
    data = command.to_json()
    data["status"] = status.value
    data["confirmed_state"] = confirmed
    return Command.from_json(data)
