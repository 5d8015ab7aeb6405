"""The daemon's local API against the OpenAPI document: a running terminal (an SDM630 and an I/O
board on a simulated line, its queue and identity) served by ``build_app`` answers every
client-side endpoint, and every error the daemon can give, only as the document lists it
(:mod:`api_contract` checks each answer when the test ends); random requests find no
undocumented status and no 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from api_contract import Recorder, recording_middleware
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.daemon import Runner, load_config_text
from hardware_bridge.daemon.local_api import DaemonClientSide
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import ClaimRateLimiter, Record, TerminalIdentity

http_app = pytest.importorskip("hardware_bridge.api.http_app")

pytestmark = pytest.mark.usefixtures("socket_enabled")  # the simulator's line and loopback HTTP

PER_CLIENT = 3
START = "2000-01-01T00:00:00Z"
END = "2100-01-01T00:00:00Z"


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


@dataclass
class Daemon:
    http: TestClient[Any, Any]
    runner: CountingRunner
    identity: TerminalIdentity
    code: str
    recorder: Recorder
    sim: ModbusLineSimulator

    @property
    def modem(self) -> str:
        return self.identity.modem_no

    async def token(self) -> str:
        response = await self.http.post(
            "/api/v1/claims", json={"modem_no": self.modem, "auth_code": self.code}
        )
        assert response.status == 201, await response.text()
        return str((await response.json())["token"])


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    catalogue: ProfileCatalogue = load_catalogue()
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io")),
    ]
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(
            f"""\
state_dir: {tmp_path}
send_period: 15m
lines:
  - name: rs485
    port: {sim.path}
    protocol: modbus
    poll_interval: 1s
    io_interval: 200ms
    timeout: 300ms
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
      - {{name: io_board, address: 2, profile: bestep_2ch_io}}
""",
            catalogue=catalogue,
        )
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        assert opened.new_auth_code is not None
        runner = CountingRunner(config, opened.identity, catalogue=catalogue)
        task = asyncio.create_task(runner.run())
        side: DaemonClientSide | None = None
        recorder = Recorder()
        try:
            await runner.until(lambda: runner.queue is not None and runner.committed >= 40)
            limiter = ClaimRateLimiter(per_client=PER_CLIENT, per_modem=1000, window=600)
            side = DaemonClientSide(runner, opened.identity, limiter=limiter, poll_events=0.05)
            await side.start()
            app = http_app.build_app(side, keep_alive=0.1)
            app.middlewares.insert(0, recording_middleware(recorder))
            async with TestClient(TestServer(app)) as http:
                yield Daemon(http, runner, opened.identity, opened.new_auth_code, recorder, sim)
        finally:
            if side is not None:
                await side.stop()
            runner.stop()
            await task
    problems = recorder.problems()
    assert not problems, "\n".join(problems)


async def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    body = await response.json()
    assert (response.status, body["code"]) == (status, code), body
    return dict(body)


async def test_every_client_endpoint_answers_as_documented(daemon: Daemon) -> None:
    http, modem = daemon.http, daemon.modem
    token = await daemon.token()
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/modems/{modem}"

    description = await http.get(base, headers=auth)
    assert description.status == 200
    assert {d["key"] for d in (await description.json())["devices"]} == {"analyser", "io_board"}

    latest = await http.get(base + "/latest", headers=auth)
    assert latest.status == 200
    keys = {(r["device"], r["key"]) for r in (await latest.json())["readings"]}
    assert ("analyser", "voltage_l1") in keys

    # history, a page of 7 at a time until the last (its ``next`` null)
    pages, cursor, seen = 0, None, 0
    while True:
        query = {"start": START, "end": END, "limit": "7"}
        if cursor is not None:
            query["cursor"] = cursor
        page = await http.get(base + "/history", headers=auth, params=query)
        assert page.status == 200, await page.text()
        body = await page.json()
        assert len(body["readings"]) <= 7
        seen += len(body["readings"])
        pages += 1
        cursor = body["next"]
        if cursor is None or pages == 5:
            break
    assert pages >= 2
    assert seen > 7
    filtered = await http.get(
        base + "/history",
        headers=auth,
        params={"start": START, "end": END, "device": "analyser", "key": "voltage_l1"},
    )
    assert filtered.status == 200
    assert {r["key"] for r in (await filtered.json())["readings"]} == {"voltage_l1"}

    sent = await http.post(
        base + "/commands",
        headers=auth,
        json={"type": "relay_set", "device": "io_board", "key": "relay_1", "state": True},
    )
    assert sent.status == 202, await sent.text()
    command = await sent.json()
    assert command["status"] == "succeeded"
    assert daemon.sim.board(2).relays[0] is True
    read = await http.get(f"{base}/commands/{command['id']}", headers=auth)
    assert read.status == 200
    assert await read.json() == command

    async with http.get(base + "/events", headers=auth) as events:
        assert events.status == 200
        assert events.content_type == "text/event-stream"
        async with asyncio.timeout(30):
            while not (await events.content.readline()).startswith(b"event: reading"):
                pass

    revoked = await http.delete("/api/v1/tokens/current", headers=auth)
    assert revoked.status == 204
    await _error(await http.get(base + "/latest", headers=auth), 401, "unauthorized")


async def test_every_error_the_daemon_gives_is_documented(daemon: Daemon) -> None:
    http, modem = daemon.http, daemon.modem
    base = f"/api/v1/modems/{modem}"
    auth = {"Authorization": f"Bearer {await daemon.token()}"}

    # no token, a token that is not one, a revoked one
    for headers in ({}, {"Authorization": "Bearer spt_" + "0" * 40}, {"Authorization": "Basic x"}):
        for path in (base, base + "/latest", f"{base}/history?start={START}&end={END}"):
            await _error(await http.get(path, headers=headers), 401, "unauthorized")
        await _error(
            await http.delete("/api/v1/tokens/current", headers=headers), 401, "unauthorized"
        )
        await _error(await http.get(base + "/events", headers=headers), 401, "unauthorized")

    # another Modem No: a valid token, but not this modem's, 403; one no terminal could have
    # is no modem at all, 404
    for other, status, code in (
        ("SP0000000000", 403, "forbidden"),
        ("-bad", 404, "modem_not_found"),
        ("x" * 70, 404, "modem_not_found"),
    ):
        for path in ("", "/latest", "/events", "/commands/cmd_x"):
            response = await http.get(f"/api/v1/modems/{other}{path}", headers=auth)
            await _error(response, status, code)

    # bad queries and bodies
    history = base + "/history"
    for query in (
        {"end": END},
        {"start": START},
        {"start": "yesterday", "end": END},
        {"start": END, "end": START},
        {"start": START, "end": END, "limit": "x"},
        {"start": START, "end": END, "limit": "0"},
        {"start": START, "end": END, "limit": "10001"},
        {"start": START, "end": END, "cursor": "zz"},
    ):
        response = await http.get(history, headers=auth, params=query)
        assert response.status == 400, (query, await response.text())
    for body in (b"not json", b"[]", b"{}", json.dumps({"type": "relay_set"}).encode()):
        response = await http.post(base + "/commands", headers=auth, data=body)
        await _error(response, 400, "invalid_request")
    for body in (b"not json", b"{}", json.dumps({"modem_no": modem}).encode()):
        await _error(await http.post("/api/v1/claims", data=body), 400, "invalid_request")

    # a relay the terminal does not have, a point that is not a relay, a device it does not have
    for device, key in (("io_board", "relay_9"), ("analyser", "voltage_l1"), ("nope", "relay_1")):
        command = {"type": "relay_set", "device": device, "key": key, "state": True}
        response = await http.post(base + "/commands", headers=auth, json=command)
        await _error(response, 400, "unknown_point")

    # a command this terminal never ran
    await _error(
        await http.get(base + "/commands/cmd_0123456789abcdef", headers=auth),
        404,
        "command_not_found",
    )

    # the terminal half is the server's: on the daemon those paths do not exist
    for method, path in (
        ("POST", base + "/enrolment"),
        ("PUT", base + "/description"),
        ("PUT", base + "/auth-code"),
        ("POST", base + "/batches"),
        ("POST", base + "/commands/cmd_x/outcome"),
        ("GET", base + "/pending-commands?wait=10"),
    ):
        response = await http.request(method, path, headers=auth, data=b"{}")
        await _error(response, 404, "not_found")

    # a wrong code, then the limit: 429 with Retry-After, even for the right code
    for _ in range(PER_CLIENT):
        response = await http.post(
            "/api/v1/claims", json={"modem_no": modem, "auth_code": "WRONG22222"}
        )
        await _error(response, 401, "invalid_auth_code")
    limited = await http.post("/api/v1/claims", json={"modem_no": modem, "auth_code": daemon.code})
    await _error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0


# -- random requests -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
times = st.sampled_from(
    [START, END, "2026-11-30T01:00:00+03:00", "2026-11-30T00:00:00", "yesterday", ""]
)
OWN = "own"
modems = st.sampled_from([OWN, OWN, OWN, "SP0000000000", "-bad", "x" * 70])


@st.composite
def bodies(draw: st.DrawFn, route: str, modem: str) -> Any:
    shape = draw(st.sampled_from(["meant", "near", "random"]))
    if shape == "random":
        return draw(json_values)
    if route == "claims":
        return {"modem_no": modem, "auth_code": draw(st.sampled_from(["WRONG22222", "X", ""]))}
    if route == "commands" and shape == "meant":  # one the terminal runs
        relay, state = draw(st.sampled_from(["relay_1", "relay_2"])), draw(st.booleans())
        return {"type": "relay_set", "device": "io_board", "key": relay, "state": state}
    if route == "commands":
        return {
            "type": draw(st.sampled_from(["relay_set", "other"])),
            "device": draw(st.sampled_from(["io_board", "analyser", "bad device"])),
            "key": draw(st.sampled_from(["relay_9", "voltage_l1", "Bad"])),
            "state": draw(st.sampled_from([True, None])),
        }
    return {"auth_code": draw(st.text(max_size=70))}


Request = tuple[str, str, str | None, bytes, dict[str, str]]


@st.composite
def requests(draw: st.DrawFn) -> Request:
    modem = draw(modems)
    base = f"/api/v1/modems/{modem}"
    route = draw(
        st.sampled_from(
            [
                "claims",
                "revoke",
                "desc",
                "latest",
                "history",
                "commands",
                "command",
                "events",
                "enrol",
                "batches",
                "pending",
                "unknown",
            ]
        )
    )
    token = draw(st.sampled_from(["client", "client", "client", "wrong", None]))
    method, path = {
        "claims": ("POST", "/api/v1/claims"),
        "revoke": ("DELETE", "/api/v1/tokens/current"),
        "desc": (draw(st.sampled_from(["GET", "GET", "DELETE"])), base),
        "latest": ("GET", base + "/latest"),
        "history": ("GET", base + "/history"),
        "commands": ("POST", base + "/commands"),
        "command": ("GET", base + "/commands/" + draw(st.sampled_from(["cmd_x", "Bad Id"]))),
        "events": ("GET", base + "/events"),
        "enrol": ("POST", base + "/enrolment"),
        "batches": ("POST", base + "/batches"),
        "pending": ("GET", base + "/pending-commands?wait=" + draw(st.sampled_from(["0", "x"]))),
        "unknown": (draw(st.sampled_from(["GET", "PATCH", "POST"])), "/api/v1/what"),
    }[route]
    extra: dict[str, str] = {}
    if route == "events" and draw(st.booleans()):  # resume after an event id, or not one
        extra["Last-Event-ID"] = draw(st.sampled_from(["1", "5", "99999999", "-1", "x", ""]))
    if route == "history":
        params = {"start": draw(times), "end": draw(times)}
        if draw(st.booleans()):
            params["limit"] = draw(st.sampled_from(["0", "5", "10001", "x"]))
        if draw(st.booleans()):
            params["cursor"] = draw(st.sampled_from(["1", "99999999", "1.1.1", "zz", "0"]))
        path += "?" + "&".join(f"{k}={v}" for k, v in params.items()).replace("+", "%2B")
    body = b""
    if method in ("POST", "PUT"):
        body = json.dumps(draw(bodies(route, modem))).encode()
    return method, path, token, body, extra


async def _exercise(daemon: Daemon, batch: list[Request]) -> None:
    # a fresh token for each example (one may revoke its own); claims in the run only fail
    token = await asyncio.to_thread(daemon.identity.issue_token)
    tokens = {"client": token, "wrong": "spt_" + "0" * 40, None: None}
    first = len(daemon.recorder.exchanges)
    for method, raw_path, which, body, extra in batch:
        path = raw_path.replace(f"/{OWN}", f"/{daemon.modem}")
        headers = dict(extra)
        if tokens[which] is not None:
            headers["Authorization"] = f"Bearer {tokens[which]}"
        async with daemon.http.request(method, path, data=body or None, headers=headers) as r:
            if r.content_type == "text/event-stream":
                await r.content.readline()  # opened; leave it
                continue
            await r.read()
            assert r.status != 500, (method, path)
    # checked here too, so that hypothesis shrinks a failing example (the fixture checks all)
    problems = Recorder(daemon.recorder.exchanges[first:]).problems()
    assert not problems, "\n".join(problems)


async def test_random_requests_get_only_documented_answers(daemon: Daemon) -> None:
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: what the run reaches is asserted
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(batch=st.lists(requests(), min_size=1, max_size=8))
    def answers_only_as_documented(batch: list[Request]) -> None:
        asyncio.run_coroutine_threadsafe(_exercise(daemon, batch), loop).result(timeout=60)

    # hypothesis drives the examples from a thread; each runs on the daemon's loop
    await asyncio.to_thread(answers_only_as_documented)
    statuses = {exchange.status for exchange in daemon.recorder.exchanges}
    assert {200, 400, 401, 403, 404, 429} <= statuses, statuses  # the run reached them
