"""A fake SmartPower server for the integration's tests: the client half of the API contract
(``docs/api/smartpower.openapi.yaml``), built from the typed model, on 127.0.0.1.

It holds one modem; tests set its auth code, description, and what it should refuse.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestServer

from hardware_bridge import (
    Claim,
    DeviceDescription,
    PointDescription,
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

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"{PREFIX}/claims", self._claim)
        app.router.add_get(f"{PREFIX}/modems/{{modem_no}}", self._description)
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

    async def _description(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "unauthorized", "The token is not valid.")
        if request.match_info["modem_no"] != self.modem_no:
            return self._error(404, "modem_not_found", "No such terminal is known.")
        return web.json_response(self.description.to_json())


@asynccontextmanager
async def serve(fake: FakeSmartPower) -> AsyncIterator[FakeSmartPower]:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
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
