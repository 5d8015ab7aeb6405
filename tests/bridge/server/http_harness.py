"""A SmartPower server over HTTP for the tests, and the contract check of every answer it gave
(:mod:`api_contract`, shared with the daemon's tests).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from api_contract import Recorder, recording_middleware

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
from hardware_bridge.server.service import DEFAULT_COMMAND_EXPIRY, ServerService
from hardware_bridge.server.storage import open_storage
from hardware_bridge.uplink import ClaimRateLimiter

MODEM = "SP2611300001"
OTHER = "SP2611300002"
AUTH_CODE = "7K3M-9QX2"


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
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    command_expiry: timedelta = DEFAULT_COMMAND_EXPIRY,
) -> AsyncIterator[Server]:
    storage = await open_storage(database, state_dir=state_dir, retention=retention)
    service = ServerService(
        storage,
        enrolment_key=enrolment_key,
        claim_limiter=limiter,
        clock=clock,
        command_expiry=command_expiry,
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
