"""Property: whatever a client or terminal sends — valid bodies, garbage, wrong tokens, odd
paths — the server answers only statuses the OpenAPI document lists for the operation, with a
body that validates against it, and never a 500."""

from __future__ import annotations

import asyncio
import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .http_harness import AUTH_CODE, MODEM, OTHER, Server, running_server

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
times = st.sampled_from(
    ["2026-11-30T00:00:00Z", "2026-11-30T01:00:00+03:00", "2026-11-30T00:00:00", "yesterday", ""]
)
modems = st.sampled_from([MODEM, OTHER, "NOPE", "-bad", "x" * 70])
keys = st.sampled_from(["pump", "heater", "voltage_l1", "Bad Key"])


@st.composite
def bodies(draw: st.DrawFn, route: str) -> Any:
    if draw(st.booleans()):
        return draw(json_values)
    if route == "claims":
        return {"modem_no": draw(modems), "auth_code": draw(st.sampled_from([AUTH_CODE, "X", ""]))}
    if route == "commands":
        return {
            "type": draw(st.sampled_from(["relay_set", "other"])),
            "device": draw(st.sampled_from(["terminal", "sdm630", "bad device"])),
            "key": draw(keys),
            "state": draw(st.booleans() | st.none()),
        }
    if route == "outcome":
        return {
            "command_id": draw(st.sampled_from(["cmd_x", "c"])),
            "status": draw(st.sampled_from(["succeeded", "failed", "maybe"])),
            "time": draw(times),
        }
    if route == "batches":
        first = draw(st.integers(min_value=-1, max_value=5))
        return {
            "batch_id": "b-1",
            "first_seq": first,
            "last_seq": draw(st.integers(min_value=first - 1, max_value=first + 3)),
            "created": draw(times),
            "readings": {"t0": 1764460800000, "s0": first - 1, "groups": []},
        }
    return {"auth_code": draw(st.text(max_size=70))}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, str | None, bytes, dict[str, str]]:
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
                "put_desc",
                "auth",
                "batches",
                "outcome",
                "pending",
                "unknown",
            ]
        )
    )
    token = draw(st.sampled_from(["client", "terminal", "wrong", None]))
    method, path = {
        "claims": ("POST", "/api/v1/claims"),
        "revoke": ("DELETE", "/api/v1/tokens/current"),
        "desc": ("GET", base),
        "latest": ("GET", base + "/latest"),
        "history": ("GET", base + "/history"),
        "commands": ("POST", base + "/commands"),
        "command": ("GET", base + "/commands/cmd_x"),
        "events": ("GET", base + "/events"),
        "enrol": ("POST", base + "/enrolment"),
        "put_desc": ("PUT", base + "/description"),
        "auth": ("PUT", base + "/auth-code"),
        "batches": ("POST", base + "/batches"),
        "outcome": ("POST", base + "/commands/cmd_x/outcome"),
        "pending": ("GET", base + "/pending-commands"),
        "unknown": (draw(st.sampled_from(["GET", "PATCH", "POST"])), "/api/v1/what"),
    }[route]
    headers: dict[str, str] = {}
    if route == "history":
        params = {"start": draw(times), "end": draw(times)}
        if draw(st.booleans()):
            params["limit"] = draw(st.sampled_from(["0", "5", "10001", "x"]))
        if draw(st.booleans()):
            params["cursor"] = draw(st.sampled_from(["1.1.1", "zz", "0.0.0"]))
        path += "?" + "&".join(f"{k}={v}" for k, v in params.items()).replace("+", "%2B")
    if route == "pending" and draw(st.booleans()):
        # at most a short wait (the run stays quick), and values out of range or not numbers
        path += "?wait=" + draw(st.sampled_from(["0", "1", "301", "-1", "x", "1.5", ""]))
    body = b""
    if method in ("POST", "PUT"):
        body = json.dumps(draw(bodies(route))).encode()
        if route == "batches" and draw(st.booleans()):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
    return method, path, token, body, headers


async def _exercise(
    server: Server, batch: list[tuple[str, str, str | None, bytes, dict[str, str]]]
) -> None:
    _, secret = await server.enrolled_terminal()
    client = server.client()
    token = (await client.claim(MODEM, AUTH_CODE)).token
    tokens = {"client": token, "terminal": secret, "wrong": "spt_" + "0" * 40, None: None}
    for method, path, which, body, headers in batch:
        all_headers = dict(headers)
        if tokens[which] is not None:
            all_headers["Authorization"] = f"Bearer {tokens[which]}"
        async with server.session.request(
            method,
            server.url + path,
            data=body or None,
            headers=all_headers,
            timeout=__import__("aiohttp").ClientTimeout(total=10),
        ) as response:
            if response.content_type == "text/event-stream":
                await response.content.readline()  # opened; leave it
                continue
            await response.read()
            assert response.status != 500, (method, path)


@pytest.mark.usefixtures("socket_enabled")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(requests(), min_size=1, max_size=12))
def test_random_requests_get_only_documented_answers(batch: list[Any]) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory)
            async with running_server(str(path / "s.sqlite3"), path, keep_alive=0.1) as server:
                await _exercise(server, batch)

    asyncio.run(run())
