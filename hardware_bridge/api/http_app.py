"""The SmartPower API over HTTP: an aiohttp application around a ClientSide (and TerminalSide).

The daemon serves the client half for its own modem; the server serves both. Every answer is
the one ``docs/api/smartpower.openapi.yaml`` lists: bodies are validated with the API model
(400 ``invalid_request`` naming the field), bearer tokens checked on every client path (401;
a valid token on a modem it did not claim answers 403 ``forbidden`` whether or not the modem
exists, so a token cannot learn which Modem Nos exist), terminal secrets on the terminal paths
(403 ``forbidden`` for a terminal's secret on another modem's paths), every failure a structured
``{code, message, field}`` — also unknown paths, wrong methods, oversized bodies and
unexpected exceptions (500, logged without the request's secrets).

The peer address that keys the claim rate limit is ``request.remote``. Behind a reverse proxy
that is the proxy's address, so every client would share one limit: name the proxy in
``trusted_proxies`` and the address it appends to ``X-Forwarded-For`` is used instead. Never
trust ``X-Forwarded-For`` from anyone else — a client could pick its own address and escape
the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hardware_bridge.api._batch import MAX_BATCH_BYTES, parse_batch, to_millisecond
from hardware_bridge.api._errors import (
    ApiError,
    ApiValidationError,
    InvalidAuthCode,
    NotFound,
    RateLimited,
    Unauthorized,
)
from hardware_bridge.api._fields import parse_time
from hardware_bridge.api._model import (
    COMMAND_WAIT_MAX,
    ClaimRequest,
    CommandOutcome,
    CommandRequest,
    Enrolment,
    ErrorBody,
    PendingCommands,
    TerminalDescription,
)
from hardware_bridge.api._sse import SseEvent
from hardware_bridge.api.service import ClientSide, TerminalSide

__all__ = ["API_PREFIX", "build_app"]

_LOGGER = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
MAX_JSON_BYTES = 1024 * 1024
"""The most a JSON request body (a description is the largest) may hold."""
KEEP_ALIVE_SECONDS = 15.0
RETRY_MS = 5000
MAX_HISTORY_LIMIT = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CLIENT: web.AppKey[ClientSide] = web.AppKey("client")
_TERMINAL: web.AppKey[TerminalSide | None] = web.AppKey("terminal")
_PROXIES: web.AppKey[tuple[Network, ...]] = web.AppKey("proxies", tuple)
_KEEP_ALIVE: web.AppKey[float] = web.AppKey("keep_alive", float)
_STOPPING: web.AppKey[asyncio.Event] = web.AppKey("stopping", asyncio.Event)


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body = ErrorBody(code=code, message=message, field=field).to_json()
    return web.json_response(body, status=status)


def _from_api_error(err: ApiError) -> web.Response:
    if isinstance(err, RateLimited):
        response = _error(429, err.code, err.message, err.field)
        wait = 60 if err.retry_after is None else max(0, round(err.retry_after))
        response.headers["Retry-After"] = str(wait)
        return response
    status = err.status
    if not status:
        status = 401 if isinstance(err, InvalidAuthCode | Unauthorized) else 400
        if isinstance(err, NotFound):
            status = 404
    return _error(status, err.code, err.message, err.field)


_HTTP_CODES = {
    404: ("not_found", "No such path in the SmartPower API."),
    405: ("method_not_allowed", "This path does not take that method."),
    413: ("body_too_large", "The request body is over the server's bound."),
}


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiValidationError as err:
        return _error(400, "invalid_request", err.message, err.field or None)
    except ApiError as err:
        return _from_api_error(err)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code, message = _HTTP_CODES.get(err.status, ("http_error", err.reason))
        response = _error(err.status, code, message)
        if err.status == 405:
            response.headers["Allow"] = err.headers.get("Allow", "")
        return response
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        # the traceback names the code path; the request's headers and body (secrets) are not
        # logged
        _LOGGER.exception("unexpected error on %s %s", request.method, request.rel_url.path)
        return _error(500, "internal_error", "The server failed; the error is logged.")


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("unauthorized", "A bearer token is required.", status=401)
    return token


def _modem(request: web.Request) -> str:
    modem_no = request.match_info["modem_no"]
    if not _NAME.match(modem_no):
        raise NotFound("modem_not_found", "No such modem.", "modem_no", status=404)
    return modem_no


async def _json_body(request: web.Request) -> object:
    """The JSON body, at most MAX_JSON_BYTES (the contract lists 400 for the JSON paths, so a
    body over the bound is an ``invalid_request``; only batches answer 413)."""
    too_large = ApiValidationError("", f"the body is over {MAX_JSON_BYTES} bytes")
    declared = request.content_length
    if declared is not None and declared > MAX_JSON_BYTES:  # refused before it is read
        raise too_large
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(raw) > MAX_JSON_BYTES:
        raise too_large
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiValidationError("", "the body is not JSON") from None


def _peer(request: web.Request) -> str:
    """The client's address for rate limiting; see the module docstring on proxies."""
    remote = request.remote or "unknown"
    proxies = request.app[_PROXIES]
    if not proxies:
        return remote
    hops = [
        part.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for part in header.split(",")
        if part.strip()
    ]
    hops.append(remote)
    # walk from the nearest hop back while the hop is a trusted proxy
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return hop
        if not any(address in network for network in proxies):
            return hop
    return hops[0]


async def _claimed(request: web.Request) -> str:
    """The path's modem, after checking the bearer token may read it."""
    modem_no = _modem(request)
    modems = await request.app[_CLIENT].token_modems(_bearer(request))
    if modem_no not in modems:
        # the same answer whether or not the modem exists: a token cannot probe Modem Nos
        raise ApiError(
            "forbidden", f"This token has not claimed modem {modem_no}.", "modem_no", status=403
        )
    return modem_no


def _terminal(request: web.Request) -> TerminalSide:
    terminal = request.app[_TERMINAL]
    if terminal is None:
        raise web.HTTPNotFound()
    return terminal


async def _authenticated_terminal(request: web.Request) -> tuple[TerminalSide, str]:
    terminal = _terminal(request)
    modem_no = request.match_info["modem_no"]
    if not _NAME.match(modem_no):  # no terminal has this Modem No, so no secret is its
        raise Unauthorized("unauthorized", "The terminal secret is not this modem's.", status=401)
    await terminal.authenticate(modem_no, _bearer(request))
    return terminal, modem_no


# --- client half ---------------------------------------------------------------------------


async def _claim(request: web.Request) -> web.Response:
    body = ClaimRequest.from_json(await _json_body(request))
    claim = await request.app[_CLIENT].claim(body.modem_no, body.auth_code, _peer(request))
    return web.json_response(claim.to_json(), status=201)


async def _revoke(request: web.Request) -> web.Response:
    await request.app[_CLIENT].revoke_token(_bearer(request))
    return web.Response(status=204)


async def _description(request: web.Request) -> web.Response:
    modem_no = await _claimed(request)
    return web.json_response((await request.app[_CLIENT].description(modem_no)).to_json())


async def _latest(request: web.Request) -> web.Response:
    modem_no = await _claimed(request)
    return web.json_response((await request.app[_CLIENT].latest(modem_no)).to_json())


def _query_time(request: web.Request, name: str) -> datetime:
    value = request.query.get(name)
    if value is None:
        raise ApiValidationError(name, "is required")
    return parse_time(value, name)


async def _history(request: web.Request) -> web.Response:
    modem_no = await _claimed(request)
    start, end = _query_time(request, "start"), _query_time(request, "end")
    if end <= start:
        raise ApiValidationError("end", "must be after start")
    limit_text = request.query.get("limit", "1000")
    if not limit_text.isascii() or not limit_text.isdigit():
        raise ApiValidationError("limit", "must be an integer")
    limit = int(limit_text)
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ApiValidationError("limit", f"must be between 1 and {MAX_HISTORY_LIMIT}")
    cursor = request.query.get("cursor")
    if cursor is not None and len(cursor) > 512:
        raise ApiError("invalid_cursor", "The cursor is too long.", "cursor", status=400)
    page = await request.app[_CLIENT].history(modem_no, start, end, cursor, limit)
    device, key = request.query.get("device"), request.query.get("key")
    if device is not None or key is not None:
        # the filter applies to each page; an empty page with a cursor continues
        kept = tuple(
            r
            for r in page.readings
            if (device is None or r.device == device) and (key is None or r.key == key)
        )
        page = type(page)(readings=kept, next=page.next)
    return web.json_response(page.to_json())


async def _send_command(request: web.Request) -> web.Response:
    modem_no = await _claimed(request)
    body = CommandRequest.from_json(await _json_body(request))
    command = await request.app[_CLIENT].create_command(modem_no, body)
    return web.json_response(command.to_json(), status=202)


def _command_id(request: web.Request) -> str:
    command_id = request.match_info["command_id"]
    if not _NAME.match(command_id):
        raise NotFound(
            "command_not_found", "No such command on this modem.", "command_id", status=404
        )
    return command_id


async def _get_command(request: web.Request) -> web.Response:
    modem_no = await _claimed(request)
    command = await request.app[_CLIENT].command(modem_no, _command_id(request))
    return web.json_response(command.to_json())


def _sse(event: SseEvent) -> bytes:
    lines = [f"id: {event.id}"] if event.id is not None else []
    lines.append(f"event: {event.event}")
    lines += [f"data: {line}" for line in event.data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


async def _events(request: web.Request) -> web.StreamResponse:
    modem_no = await _claimed(request)
    source = request.app[_CLIENT].events(modem_no, request.headers.get("Last-Event-ID"))
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
    keep_alive = request.app[_KEEP_ALIVE]
    stopping = request.app[_STOPPING]
    iterator = aiter(source)
    pending: asyncio.Task[SseEvent] | None = None
    stop = asyncio.ensure_future(stopping.wait())
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait(
                {pending, stop}, timeout=keep_alive, return_when=asyncio.FIRST_COMPLETED
            )
            if stop in done:
                break
            if pending not in done:
                await response.write(b": keep-alive\n\n")
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                break
            pending = None
            await response.write(_sse(event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        stop.cancel()
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


# --- terminal half -------------------------------------------------------------------------


async def _enrol(request: web.Request) -> web.Response:
    terminal = _terminal(request)
    modem_no = request.match_info["modem_no"]
    if not _NAME.match(modem_no):
        raise ApiValidationError("modem_no", "must be letters, digits and _.:- (at most 64)")
    started = to_millisecond(datetime.now(UTC))
    body = Enrolment.from_json(await _json_body(request))
    ack = await terminal.enrol(modem_no, body, _peer(request))
    # a terminal enrolled during this request is new (201); an earlier one repeats (200)
    return web.json_response(ack.to_json(), status=201 if ack.enrolled >= started else 200)


async def _put_description(request: web.Request) -> web.Response:
    terminal, modem_no = await _authenticated_terminal(request)
    body = TerminalDescription.from_json(await _json_body(request))
    await terminal.put_description(modem_no, body)
    return web.Response(status=204)


async def _put_auth_code(request: web.Request) -> web.Response:
    terminal, modem_no = await _authenticated_terminal(request)
    data = await _json_body(request)
    code = data.get("auth_code") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise ApiValidationError("", "must be an object")
    if not isinstance(code, str) or not 1 <= len(code) <= 64:
        raise ApiValidationError("auth_code", "must be a string of 1 to 64 characters")
    await terminal.put_auth_code(modem_no, code)
    return web.Response(status=204)


async def _batches(request: web.Request) -> web.Response:
    terminal, modem_no = await _authenticated_terminal(request)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding != "gzip":
        return _error(
            415, "unsupported_encoding", "A batch body must be sent with Content-Encoding: gzip."
        )
    try:
        # aiohttp inflates the gzip body; client_max_size bounds the inflated size
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    except Exception:  # a body that does not inflate
        return _error(400, "invalid_body", "The body is not gzip data.")
    try:
        batch = parse_batch(raw)
    except ApiValidationError as err:
        if not err.field:
            return _error(400, "invalid_body", err.message)
        raise
    ack = await terminal.store_batch(modem_no, batch)
    return web.json_response(ack.to_json())


async def _outcome(request: web.Request) -> web.Response:
    terminal, modem_no = await _authenticated_terminal(request)
    command_id = _command_id(request)
    body = CommandOutcome.from_json(await _json_body(request))
    if body.command_id != command_id:
        raise ApiValidationError("command_id", "must be the command of the path")
    return web.json_response((await terminal.report_outcome(modem_no, body)).to_json())


def _wait_seconds(request: web.Request) -> int:
    text = request.query.get("wait", "0")
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise ApiValidationError("wait", "must be a whole number of seconds")
    wait = int(text)
    if wait > COMMAND_WAIT_MAX:
        raise ApiValidationError("wait", f"must be between 0 and {COMMAND_WAIT_MAX}")
    return wait


async def _pending_commands(request: web.Request) -> web.Response:
    """The commands waiting for the terminal, at once or within ``wait`` seconds; an empty
    list at the end of the wait or when the server stops (the terminal asks again: a command
    handed over is handed over again until its outcome arrives, so none is lost)."""
    terminal, modem_no = await _authenticated_terminal(request)
    wait = _wait_seconds(request)
    answer = asyncio.ensure_future(terminal.pending_commands(modem_no, wait))
    stop = asyncio.ensure_future(request.app[_STOPPING].wait())
    try:
        await asyncio.wait({answer, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not answer.done():
            answer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answer
    commands = () if answer.cancelled() else answer.result()
    return web.json_response(PendingCommands(commands=commands).to_json())


def build_app(
    client: ClientSide,
    terminal: TerminalSide | None = None,
    *,
    max_body: int = MAX_BATCH_BYTES,
    trusted_proxies: Iterable[str] = (),
    keep_alive: float = KEEP_ALIVE_SECONDS,
) -> web.Application:
    """The API's application. Without ``terminal`` the terminal paths answer 404 (a daemon).

    ``max_body`` bounds every request body once inflated. ``trusted_proxies``: addresses or
    networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-For`` is believed.
    """
    app = web.Application(client_max_size=max_body, middlewares=[_errors])
    app[_CLIENT] = client
    app[_TERMINAL] = terminal
    app[_PROXIES] = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
    app[_KEEP_ALIVE] = keep_alive
    stopping = asyncio.Event()
    app[_STOPPING] = stopping

    async def on_shutdown(_: web.Application) -> None:
        stopping.set()

    app.on_shutdown.append(on_shutdown)  # type: ignore[arg-type, unused-ignore]  # aiohttp < 3.12 types
    modem = API_PREFIX + "/modems/{modem_no}"
    routes: list[tuple[str, str, Any]] = [
        ("POST", API_PREFIX + "/claims", _claim),
        ("DELETE", API_PREFIX + "/tokens/current", _revoke),
        ("GET", modem, _description),
        ("GET", modem + "/latest", _latest),
        ("GET", modem + "/history", _history),
        ("POST", modem + "/commands", _send_command),
        ("GET", modem + "/commands/{command_id}", _get_command),
        ("GET", modem + "/events", _events),
    ]
    if terminal is not None:
        # a daemon serves no terminal half: those paths are not there (404 as any unknown
        # path), not operations answering a status the document does not list for them
        routes += _terminal_routes(modem)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


def _terminal_routes(modem: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", modem + "/enrolment", _enrol),
        ("PUT", modem + "/description", _put_description),
        ("PUT", modem + "/auth-code", _put_auth_code),
        ("POST", modem + "/batches", _batches),
        ("POST", modem + "/commands/{command_id}/outcome", _outcome),
        ("GET", modem + "/pending-commands", _pending_commands),
    ]
