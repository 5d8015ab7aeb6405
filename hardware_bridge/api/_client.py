"""An async client of the SmartPower API (aiohttp), for both halves: Home Assistant's claims,
readings, commands and events; a terminal's enrolment, uploads and command outcomes.

Every failure is one typed error: :class:`InvalidAuthCode`, :class:`RateLimited`,
:class:`Unauthorized`, :class:`NotFound`, :class:`ApiError` (any other refusal, with the
server's ``code``/``message``/``field``), :class:`ServerUnreachable` (refused, lost, timed out),
:class:`TlsError`. The session is the caller's (Home Assistant shares one).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from hardware_bridge.api._batch import Batch, BatchAck, encode_batch
from hardware_bridge.api._errors import (
    ApiError,
    ApiValidationError,
    InvalidAuthCode,
    NotFound,
    RateLimited,
    ServerUnreachable,
    TlsError,
    Unauthorized,
)
from hardware_bridge.api._fields import format_time
from hardware_bridge.api._model import (
    Claim,
    ClaimRequest,
    Command,
    CommandOutcome,
    CommandRequest,
    Enrolment,
    EnrolmentAck,
    ErrorBody,
    PendingCommands,
    ReadingsPage,
    TerminalDescription,
)
from hardware_bridge.api._sse import SseEvent, SseParser

__all__ = ["API_PREFIX", "SmartPowerClient"]

_LOGGER = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0
EVENTS_READ_TIMEOUT = 90.0
"""The event stream sends a comment at least every 30 s; silence for longer is a dead link."""


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare for a rate limit; the caller backs off on its own
    return seconds if seconds >= 0 else None


class SmartPowerClient:
    """One server or daemon, at ``base_url`` (``https://host`` or ``http://host:port``).

    ``token`` is a client's bearer token (from :meth:`claim`) or a terminal's secret.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self.token = token
        self._seconds = timeout
        self.server_time: datetime | None = None
        """The server's clock (its ``Date`` header, to the second) when it gave the answer
        last returned; None when it sent none. Read it right after the call."""
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:
        return f"SmartPowerClient({self._base!r})"

    # --- client half -------------------------------------------------------------------

    async def claim(self, modem_no: str, auth_code: str) -> Claim:
        """Claim a modem with its auth code; the returned token is kept for later calls."""
        body = ClaimRequest(modem_no=modem_no, auth_code=auth_code).to_json()
        data = await self._json("POST", "/claims", json_body=body, auth=False)
        claim = Claim.from_json(data)
        self.token = claim.token
        return claim

    async def revoke_token(self) -> None:
        """Revoke the token this client holds (it fails with 401 from then on)."""
        await self._json("DELETE", "/tokens/current")

    async def description(self, modem_no: str) -> TerminalDescription:
        return TerminalDescription.from_json(await self._json("GET", self._modem(modem_no)))

    async def latest(self, modem_no: str) -> ReadingsPage:
        return ReadingsPage.from_json(await self._json("GET", self._modem(modem_no, "/latest")))

    async def history(
        self,
        modem_no: str,
        start: datetime,
        end: datetime,
        *,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> ReadingsPage:
        """One page of readings with ``start <= time < end``; pass ``next`` back as cursor."""
        params = {"start": format_time(start), "end": format_time(end)}
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = str(limit)
        data = await self._json("GET", self._modem(modem_no, "/history"), params=params)
        return ReadingsPage.from_json(data)

    async def send_command(self, modem_no: str, request: CommandRequest) -> Command:
        data = await self._json(
            "POST", self._modem(modem_no, "/commands"), json_body=request.to_json()
        )
        return Command.from_json(data)

    async def command(self, modem_no: str, command_id: str) -> Command:
        path = self._modem(modem_no, f"/commands/{quote(command_id, safe='')}")
        return Command.from_json(await self._json("GET", path))

    async def events(
        self, modem_no: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[SseEvent]:
        """The modem's event stream until the server ends it (reconnecting is the caller's:
        pass the last event's ``id`` back as ``last_event_id``)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._timeout.total, sock_read=EVENTS_READ_TIMEOUT
        )
        parser = SseParser()
        try:
            async with self._session.get(
                self._url(self._modem(modem_no, "/events")),
                headers=self._headers(headers),
                timeout=timeout,
            ) as response:
                await self._check(response)
                if response.content_type != "text/event-stream":
                    raise ApiError(
                        "not_event_stream",
                        f"expected text/event-stream, got {response.content_type}",
                        status=response.status,
                    )
                async for chunk in response.content.iter_any():
                    for event in parser.feed(chunk):
                        yield event
                for event in parser.feed(b""):
                    yield event
        except (ApiError, ApiValidationError):
            raise
        except aiohttp.ClientSSLError as err:
            raise TlsError(str(err)) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ServerUnreachable(_describe(err)) from err

    # --- terminal half -----------------------------------------------------------------

    async def enrol(self, modem_no: str, enrolment: Enrolment) -> EnrolmentAck:
        data = await self._json(
            "POST", self._modem(modem_no, "/enrolment"), json_body=enrolment.to_json(), auth=False
        )
        return EnrolmentAck.from_json(data)

    async def put_description(self, modem_no: str, description: TerminalDescription) -> None:
        await self._json(
            "PUT", self._modem(modem_no, "/description"), json_body=description.to_json()
        )

    async def renew_auth_code(self, modem_no: str, auth_code: str) -> None:
        """Tell the server the terminal's new auth code (it revokes every token issued)."""
        await self._json(
            "PUT", self._modem(modem_no, "/auth-code"), json_body={"auth_code": auth_code}
        )

    async def upload_batch(self, modem_no: str, batch: Batch) -> BatchAck:
        body = await asyncio.get_running_loop().run_in_executor(None, encode_batch, batch)
        data = await self._json(
            "POST",
            self._modem(modem_no, "/batches"),
            raw_body=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        return BatchAck.from_json(data)

    async def report_outcome(self, modem_no: str, outcome: CommandOutcome) -> Command:
        path = self._modem(modem_no, f"/commands/{quote(outcome.command_id, safe='')}/outcome")
        return Command.from_json(await self._json("POST", path, json_body=outcome.to_json()))

    async def pending_commands(self, modem_no: str, *, wait: int = 0) -> tuple[Command, ...]:
        """The commands waiting for the terminal; with ``wait`` (seconds, at most 300) the
        server holds the request until one is created or the wait ends (then ``()``)."""
        data = await self._json(
            "GET",
            self._modem(modem_no, "/pending-commands"),
            params={"wait": str(wait)},
            limit=aiohttp.ClientTimeout(total=wait + self._seconds),
        )
        return PendingCommands.from_json(data).commands

    # --- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _modem(modem_no: str, tail: str = "") -> str:
        return f"/modems/{quote(modem_no, safe='')}{tail}"

    def _url(self, path: str) -> str:
        return f"{self._base}{API_PREFIX}{path}"

    def _headers(
        self, extra: Mapping[str, str] | None = None, *, auth: bool = True
    ) -> dict[str, str]:
        headers = {"Accept": "application/json", **(extra or {})}
        if auth and self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        raw_body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        limit: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        extra = dict(headers or {})
        data = raw_body
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":"), allow_nan=False).encode()
            extra["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                self._url(path),
                data=data,
                params=params,
                headers=self._headers(extra, auth=auth),
                timeout=limit or self._timeout,
            ) as response:
                await self._check(response)
                date = _date(response.headers.get("Date"))
                if response.status == 204:
                    self.server_time = date
                    return None
                text = await response.text()
        except aiohttp.ClientSSLError as err:
            raise TlsError(str(err)) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ServerUnreachable(_describe(err)) from err
        self.server_time = date  # no await from here to the caller
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ApiValidationError("", f"response is not JSON ({err})") from None

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        if response.status < 400:
            return
        error = await _error_body(response)
        status = response.status
        if status == 401:
            kind = InvalidAuthCode if error.code == "invalid_auth_code" else Unauthorized
            raise kind(error.code, error.message, error.field, status=status)
        if status == 404:
            raise NotFound(error.code, error.message, error.field, status=status)
        if status == 429:
            raise RateLimited(
                error.code,
                error.message,
                error.field,
                status=status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        raise ApiError(error.code, error.message, error.field, status=status)


async def _error_body(response: aiohttp.ClientResponse) -> ErrorBody:
    """The structured error, or one made from the status when a proxy answered instead."""
    try:
        return ErrorBody.from_json(json.loads(await response.text()))
    except (ValueError, aiohttp.ClientError):
        _LOGGER.debug("HTTP %s without a SmartPower error body", response.status)
        code = {401: "unauthorized", 404: "not_found", 429: "rate_limited"}.get(
            response.status, "http_error"
        )
        return ErrorBody(code=code, message=f"HTTP {response.status} {response.reason or ''}")


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return date if date.tzinfo is not None else date.replace(tzinfo=UTC)


def _describe(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    return str(err) or type(err).__name__
