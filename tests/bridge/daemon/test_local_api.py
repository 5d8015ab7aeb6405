"""The daemon's client API for its own modem, against the simulators: claims with the auth code
(rate-limited, never logged), the description from the engines, latest values as polled,
history from the queue, relay commands executed at once with the state read back, events as
the queue commits them.

The HTTP app that serves a ``ClientSide`` is written beside this (``build_app``); these tests
serve the daemon's client side with a minimal app of their own (``_test_app``: the few routes
used, the contract's error bodies), so the backend is tested over real HTTP with the API's
client, and directly where HTTP adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web

from hardware_bridge.api import (
    ApiError,
    CommandRequest,
    InvalidAuthCode,
    RateLimited,
    SmartPowerClient,
    Unauthorized,
    decode_event,
    parse_time,
    to_millisecond,
)
from hardware_bridge.daemon import Runner, load_config_text
from hardware_bridge.daemon.local_api import DaemonClientSide, LocalApiServer
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import ClaimRateLimiter, Record, TerminalIdentity

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback HTTP to the daemon

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


def _config(state_dir: Path, port: str) -> str:
    return f"""\
state_dir: {state_dir}
send_period: 15m
lines:
  - name: rs485
    port: {port}
    protocol: modbus
    poll_interval: 1s
    slow_interval: 2s
    io_interval: 200ms
    timeout: 300ms
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
      - {{name: io_board, address: 2, profile: bestep_2ch_io}}
"""


# -- a minimal HTTP app over a ClientSide (the tests' own) ------------------------------------


def _error(err: ApiError) -> web.Response:
    status = err.status or 400
    headers = {}
    if isinstance(err, RateLimited) and err.retry_after is not None:
        headers["Retry-After"] = str(int(err.retry_after))
    body = {"code": err.code, "message": err.message, "field": err.field}
    return web.json_response(body, status=status, headers=headers)


def _test_app(side: DaemonClientSide) -> web.Application:
    status = {InvalidAuthCode: 401, Unauthorized: 401, RateLimited: 429}

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            err.status = err.status or status.get(
                type(err), 404 if err.code.endswith("not_found") else 400
            )
            return _error(err)

    async def token(request: web.Request) -> str:
        value = request.headers.get("Authorization", "").removeprefix("Bearer ")
        modems = await side.token_modems(value)
        if request.match_info.get("no", next(iter(modems))) not in modems:
            raise ApiError("forbidden", "not yours", status=403)
        return value

    async def claim(request: web.Request) -> web.Response:
        body = await request.json()
        result = await side.claim(body["modem_no"], body["auth_code"], request.remote or "?")
        return web.json_response(result.to_json(), status=201)

    async def revoke(request: web.Request) -> web.Response:
        await side.revoke_token(await token(request))
        return web.Response(status=204)

    async def description(request: web.Request) -> web.Response:
        await token(request)
        return web.json_response((await side.description(request.match_info["no"])).to_json())

    async def latest(request: web.Request) -> web.Response:
        await token(request)
        return web.json_response((await side.latest(request.match_info["no"])).to_json())

    async def history(request: web.Request) -> web.Response:
        await token(request)
        query = request.query
        page = await side.history(
            request.match_info["no"],
            parse_time(query["start"], "start"),
            parse_time(query["end"], "end"),
            query.get("cursor"),
            int(query.get("limit", "500")),
        )
        return web.json_response(page.to_json())

    async def command(request: web.Request) -> web.Response:
        await token(request)
        made = await side.create_command(
            request.match_info["no"], CommandRequest.from_json(await request.json())
        )
        return web.json_response(made.to_json(), status=201)

    async def get_command(request: web.Request) -> web.Response:
        await token(request)
        found = await side.command(request.match_info["no"], request.match_info["id"])
        return web.json_response(found.to_json())

    app = web.Application(middlewares=[errors])
    app.router.add_post("/api/v1/claims", claim)
    app.router.add_delete("/api/v1/tokens/current", revoke)
    app.router.add_get("/api/v1/modems/{no}", description)
    app.router.add_get("/api/v1/modems/{no}/latest", latest)
    app.router.add_get("/api/v1/modems/{no}/history", history)
    app.router.add_post("/api/v1/modems/{no}/commands", command)
    app.router.add_get("/api/v1/modems/{no}/commands/{id}", get_command)
    return app


class CountingRunner(Runner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.more = asyncio.Event()

    async def commit(self, records: Sequence[Record]) -> None:
        await super().commit(records)
        self.more.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not predicate():
                self.more.clear()
                await self.more.wait()


@pytest.fixture
async def terminal(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> AsyncIterator[tuple[CountingRunner, LocalApiServer, ModbusLineSimulator, str]]:
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io")),
    ]
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(_config(tmp_path, sim.path), catalogue=catalogue)
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        assert opened.new_auth_code is not None
        api = LocalApiServer(_test_app, "127.0.0.1", 0, poll_events=0.05)
        runner = CountingRunner(config, opened.identity, local_api=api, catalogue=catalogue)
        task = asyncio.create_task(runner.run())
        try:
            await runner.until(lambda: runner.api_url is not None and runner.committed >= 40)
            yield runner, api, sim, opened.new_auth_code
        finally:
            runner.stop()
            await task


async def test_claim_describe_read_and_switch_over_http(
    terminal: tuple[CountingRunner, LocalApiServer, ModbusLineSimulator, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner, _, sim, code = terminal
    modem_no = runner.identity.modem_no
    assert runner.api_url is not None
    assert runner.api_url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session:
        client = SmartPowerClient(session, runner.api_url)
        with pytest.raises(InvalidAuthCode):
            await client.claim(modem_no, "WRONG22222")
        claim = await client.claim(modem_no, code.lower())  # as typed: case does not matter
        assert claim.modem_no == modem_no

        description = await client.description(modem_no)
        devices = {d.key: d for d in description.devices}
        assert "voltage_l1" in {p.key for p in devices["analyser"].points}
        io = {(i.key, i.kind.value) for i in devices["io_board"].io}
        assert ("relay_1", "relay") in io
        assert ("input_1", "input") in io
        assert "relay_1" not in {p.key for p in devices["io_board"].points}

        latest = await client.latest(modem_no)
        assert runner.queue is not None
        committed = {
            (q.item.device, q.item.key, q.item.value, to_millisecond(q.item.time))
            for q in (await runner.queue.history(EPOCH, FAR, limit=100_000)).records
            if isinstance(q.item, Record)
        }
        keys = {(r.device, r.key) for r in latest.readings}
        assert ("analyser", "voltage_l1") in keys
        assert ("analyser", "energy_import_total") in keys  # a counter, read every 2 s
        assert ("io_board", "input_1") in keys
        for reading in latest.readings:  # each as committed: its value, the time it was read
            assert (reading.device, reading.key, reading.value, reading.time) in committed, reading
        voltage = next(
            r for r in latest.readings if (r.device, r.key) == ("analyser", "voltage_l1")
        )
        assert voltage.unit == "V"

        # history: every reading of the queue in the range, a page at a time, in order
        assert runner.queue is not None
        got = []
        cursor = None
        while True:
            page = await client.history(modem_no, EPOCH, FAR, cursor=cursor, limit=25)
            got.extend(page.readings)
            cursor = page.next
            if cursor is None:
                break
        stored = [
            q.item
            for q in (await runner.queue.history(EPOCH, FAR, limit=100_000)).records
            if isinstance(q.item, Record) and q.item.kind.value == "reading"
        ]
        assert len(got) >= len(stored) - 10  # polls go on while the pages are read
        for reading, record in zip(got, stored, strict=False):
            assert (reading.device, reading.key, reading.value) == (
                record.device,
                record.key,
                record.value,
            )

        command = await client.send_command(
            modem_no, CommandRequest(device="io_board", key="relay_1", state=True)
        )
        assert command.status.value == "succeeded"
        assert command.confirmed_state is True
        assert sim.board(2).relays[0] is True
        assert (await client.command(modem_no, command.id)) == command
        with pytest.raises(ApiError) as unknown:
            await client.send_command(
                modem_no, CommandRequest(device="io_board", key="relay_7", state=True)
            )
        assert unknown.value.code == "unknown_point"

        await client.revoke_token()
        with pytest.raises(Unauthorized):
            await client.latest(modem_no)
    assert code not in caplog.text
    assert "WRONG22222" not in caplog.text
    assert claim.token not in caplog.text


async def test_wrong_codes_are_limited_per_client_and_a_wrong_modem_is_the_same_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
    code = opened.new_auth_code
    assert code is not None
    now = [0.0]
    limiter = ClaimRateLimiter(per_client=3, per_modem=5, window=60, clock=lambda: now[0])
    side = DaemonClientSide(cast("Runner", None), opened.identity, limiter=limiter)
    modem_no = opened.identity.modem_no
    other = "1" + modem_no[1:] if modem_no[0] != "1" else "2" + modem_no[1:]
    for attempt in ("AAAAAAAAAA", "BBBBBBBBBB"):
        with pytest.raises(InvalidAuthCode):
            await side.claim(modem_no, attempt, "10.0.0.7")
    with pytest.raises(InvalidAuthCode):  # another modem: not told apart from a wrong code
        await side.claim(other, code, "10.0.0.7")
    with pytest.raises(RateLimited) as limited:  # even the right code now waits
        await side.claim(modem_no, code, "10.0.0.7")
    assert limited.value.retry_after == 60
    claim = await side.claim(modem_no, code, "10.0.0.8")  # another client is not held off
    assert await side.token_modems(claim.token) == {modem_no}
    now[0] = 61.0
    await side.claim(modem_no, code, "10.0.0.7")  # the window passed
    for secret in (code, "AAAAAAAAAA", "BBBBBBBBBB", claim.token):
        assert secret not in caplog.text
    assert "Failed claim from 10.0.0.7" in caplog.text
    renewed = await asyncio.to_thread(opened.identity.renew_auth_code)
    with pytest.raises(Unauthorized):  # renewal revoked every token
        await side.token_modems(claim.token)
    assert renewed != code


async def test_events_carry_readings_alarms_and_command_outcomes_and_resume_after_an_id(
    terminal: tuple[CountingRunner, LocalApiServer, ModbusLineSimulator, str],
) -> None:
    runner, api, sim, _ = terminal
    side = api.client_side
    assert side is not None
    modem_no = runner.identity.modem_no
    stream = side.events(modem_no, None)
    seen: list[Any] = []

    async def take(predicate: Callable[[Any], bool]) -> Any:
        async with asyncio.timeout(30):
            async for event in stream:
                seen.append(event)
                if predicate(decode_event(event)):
                    return decode_event(event)
        raise AssertionError("the stream ended")

    reading = await take(lambda e: getattr(e, "key", None) == "voltage_l1")
    assert reading.device == "analyser"
    sim.board(2).set_input(1, True)
    alarm = await take(lambda e: getattr(e, "kind", None) == "io_alarm")
    assert (alarm.device, alarm.key, alarm.value) == ("io_board", "input_1", True)
    command = await side.create_command(
        modem_no, CommandRequest(device="io_board", key="relay_2", state=True)
    )
    outcome = await take(lambda e: getattr(e, "id", None) == command.id)
    assert outcome.status.value == "succeeded"
    await stream.aclose()

    # a client that reconnects with the id of an event gets what followed it, from the queue
    first = next(e for e in seen if e.event == "reading")
    resumed = side.events(modem_no, first.id)
    async with asyncio.timeout(10):
        again = await anext(resumed)
    await resumed.aclose()
    assert again.id is not None
    assert int(again.id) == int(first.id) + 1
    assert runner.queue is not None
    page = await runner.queue.history(EPOCH, FAR, after=int(first.id), limit=1)
    item = page.records[0].item
    assert isinstance(item, Record)
    assert again.event == ("alarm" if item.kind.value == "event" else "reading")
