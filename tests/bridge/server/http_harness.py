"""A SmartPower server over HTTP for the tests, and the contract check of every answer it gave.

Every response the app gives in a test is recorded (an outermost middleware) and checked
against ``docs/api/smartpower.openapi.yaml`` when the test ends: its status is listed for the
operation, and its JSON body validates against the schema listed for that status.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from openapi_schema_validator import OAS31Validator

from hardware_bridge.api import (
    Enrolment,
    IoDescription,
    IoKind,
    PointDescription,
    SmartPowerClient,
    TerminalDescription,
)
from hardware_bridge.api._model import DeviceDescription, DeviceProtocol
from hardware_bridge.api.http_app import build_app
from hardware_bridge.server._descriptions import DescriptionStore
from hardware_bridge.server.service import ServerService
from hardware_bridge.server.storage import open_storage
from hardware_bridge.uplink import ClaimRateLimiter

DOCUMENT = Path(__file__).parents[3] / "docs" / "api" / "smartpower.openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))

MODEM = "SP2611300001"
OTHER = "SP2611300002"
AUTH_CODE = "7K3M-9QX2"


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = SPEC
        for part in parts:
            target = target[part]
        node = target
    return node


@dataclass
class Exchange:
    method: str
    route: str | None
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    def problems(self) -> list[str]:
        found: list[str] = []
        for ex in self.exchanges:
            where = f"{ex.method} {ex.route} → {ex.status}"
            if ex.route is None or ex.route not in SPEC["paths"]:
                # unknown paths: still a structured error
                if ex.content_type != "application/json":
                    found.append(f"{where}: not a JSON error")
                else:
                    found += _validate(where, {"$ref": "#/components/schemas/Error"}, ex.body)
                continue
            operation = SPEC["paths"][ex.route].get(ex.method.lower())
            if operation is None:
                if ex.status != 405:
                    found.append(f"{where}: method not in the document")
                continue
            responses = operation["responses"]
            if str(ex.status) not in responses:
                found.append(f"{where}: status not documented for this operation")
                continue
            response = _resolve(responses[str(ex.status)])
            if ex.status == 429 and "Retry-After" not in ex.headers:
                found.append(f"{where}: no Retry-After")
            content = response.get("content")
            if not content:
                if ex.body:
                    found.append(f"{where}: a body where the document has none")
                continue
            if ex.content_type not in content:
                found.append(f"{where}: content type {ex.content_type} not documented")
                continue
            if ex.content_type == "application/json":
                found += _validate(where, content[ex.content_type]["schema"], ex.body)
        return found


def _validate(where: str, schema: dict[str, Any], body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return [f"{where}: body is not JSON"]
    validator = OAS31Validator({**schema, "components": SPEC["components"]})
    return [f"{where}: {error.message}" for error in validator.iter_errors(data)]


def recording_middleware(recorder: Recorder) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        info = request.match_info
        route = None
        if info.route.resource is not None and info.http_exception is None:
            route = info.route.resource.canonical
        body = b""
        if isinstance(response, web.Response) and response.body is not None:
            body = bytes(response.body)  # type: ignore[arg-type]
        recorder.exchanges.append(
            Exchange(
                method=request.method,
                route=route,
                status=response.status,
                content_type=response.content_type,
                body=body,
                headers=dict(response.headers),
            )
        )
        return response

    return record


def description(modem_no: str = MODEM) -> TerminalDescription:
    return TerminalDescription(
        modem_no=modem_no,
        name="Pump station",
        send_period=900,
        firmware="smartpower-bridge test",
        updated=None,
        devices=(
            DeviceDescription(
                key="sdm630",
                name="Analyzer",
                protocol=DeviceProtocol.MODBUS,
                profile="eastron_sdm630",
                address=1,
                points=(PointDescription(key="voltage_l1", name="Voltage L1", unit="V"),),
            ),
            DeviceDescription(
                key="terminal",
                name="Terminal",
                protocol=DeviceProtocol.TERMINAL,
                points=(),
                io=(IoDescription(key="pump", name="Pump", kind=IoKind.RELAY),),
            ),
        ),
    )


@dataclass
class Server:
    url: str
    session: aiohttp.ClientSession
    service: ServerService
    recorder: Recorder
    state_dir: Path

    def client(self, token: str | None = None) -> SmartPowerClient:
        return SmartPowerClient(self.session, self.url, token=token)

    async def enrolled_terminal(
        self, modem_no: str = MODEM, auth_code: str = AUTH_CODE
    ) -> tuple[SmartPowerClient, str]:
        """A terminal that enrolled and described itself: its client (holding its secret)."""
        secret = secrets.token_urlsafe(32)
        terminal = self.client()
        await terminal.enrol(modem_no, Enrolment(terminal_secret=secret, auth_code=auth_code))
        terminal.token = secret
        await terminal.put_description(modem_no, description(modem_no))
        return terminal, secret


@asynccontextmanager
async def running_server(
    database: str,
    state_dir: Path,
    *,
    enrolment_key: str | None = None,
    limiter: ClaimRateLimiter | None = None,
    keep_alive: float = 15.0,
    trusted_proxies: tuple[str, ...] = (),
    retention: timedelta | None = None,
    notify: bool = False,
) -> AsyncIterator[Server]:
    storage = await open_storage(database, state_dir=state_dir, retention=retention)
    service = ServerService(
        storage,
        DescriptionStore(state_dir / "descriptions"),
        enrolment_key=enrolment_key,
        claim_limiter=limiter,
    )
    notifier = None
    if notify:
        from hardware_bridge.server._notify import PostgresNotifier

        notifier = PostgresNotifier(database, service.events_hub)
        await notifier.start()
        service.notifier = notifier
    app = build_app(service, service, keep_alive=keep_alive, trusted_proxies=trusted_proxies)
    recorder = Recorder()
    app.middlewares.insert(0, recording_middleware(recorder))
    test_server = TestServer(app)
    await test_server.start_server()
    session = aiohttp.ClientSession()
    try:
        yield Server(
            url=str(test_server.make_url("")).rstrip("/"),
            session=session,
            service=service,
            recorder=recorder,
            state_dir=state_dir,
        )
    finally:
        await session.close()
        service.close()
        await test_server.close()
        if notifier is not None:
            await notifier.close()
        await storage.close()
    problems = recorder.problems()
    assert not problems, "\n".join(problems)
