"""``GET …/pending-commands``: a terminal that keeps this wait open gets a relay command in
seconds, not on the reply to its next upload (up to a send period later) — a pump stopped 15
minutes late can overflow a tank. Delivery follows the batch acknowledgement's rules."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_bridge.api import (
    ApiError,
    CommandOutcome,
    CommandRequest,
    CommandStatus,
    OutcomeStatus,
    SmartPowerClient,
)
from hardware_bridge.server.service import ServerService

from .http_harness import AUTH_CODE, MODEM, OTHER, Server, running_server

pytestmark = pytest.mark.usefixtures("socket_enabled")

PUMP_OFF = CommandRequest(device="terminal", key="pump", state=False)


async def _setup(server: Server) -> tuple[SmartPowerClient, SmartPowerClient]:
    terminal, _ = await server.enrolled_terminal()
    client = server.client()
    await client.claim(MODEM, AUTH_CODE)
    return terminal, client


async def _until_waiting(service: ServerService, modem_no: str = MODEM) -> None:
    """Until a wait of the modem is listening for its commands."""
    async with asyncio.timeout(10):
        while service.events_hub.listeners(modem_no) == 0:  # noqa: ASYNC110 - no event for it
            await asyncio.sleep(0.01)


async def test_a_waiting_terminal_gets_a_command_as_it_is_created(
    database: str, tmp_path: Path
) -> None:
    async with running_server(database, tmp_path) as server:
        terminal, client = await _setup(server)
        started = time.monotonic()
        waiting = asyncio.ensure_future(terminal.pending_commands(MODEM, wait=120))
        await _until_waiting(server.service)
        assert not waiting.done()
        command = await client.send_command(MODEM, PUMP_OFF)
        handed = await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 10  # woken by the command, not the end of the wait
        assert [(c.id, c.key, c.state, c.status) for c in handed] == [
            (command.id, "pump", False, CommandStatus.SENT)
        ]
        assert (await client.command(MODEM, command.id)).status is CommandStatus.SENT


async def test_a_command_is_handed_over_again_until_its_outcome_arrives(
    database: str, tmp_path: Path
) -> None:
    async with running_server(database, tmp_path) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_OFF)
        # waiting already: answered at once, and again (the first answer may have been lost)
        first = await asyncio.wait_for(terminal.pending_commands(MODEM, wait=120), 10)
        again = await asyncio.wait_for(terminal.pending_commands(MODEM, wait=120), 10)
        assert [c.id for c in first] == [c.id for c in again] == [command.id]
        outcome = CommandOutcome(
            command_id=command.id,
            status=OutcomeStatus.SUCCEEDED,
            time=datetime.now(UTC),
            confirmed_state=False,
        )
        await terminal.report_outcome(MODEM, outcome)
        assert await terminal.pending_commands(MODEM, wait=0) == ()
        # and a batch acknowledgement does not bring it back either
        assert (await client.command(MODEM, command.id)).status is CommandStatus.SUCCEEDED


async def test_the_wait_ends_empty_when_no_command_comes(database: str, tmp_path: Path) -> None:
    async with running_server(database, tmp_path) as server:
        terminal, _ = await _setup(server)
        started = time.monotonic()
        assert await terminal.pending_commands(MODEM, wait=1) == ()
        assert time.monotonic() - started >= 0.9
        assert await terminal.pending_commands(MODEM) == ()  # no wait: at once
        assert server.service.events_hub.listeners(MODEM) == 0


async def test_another_modems_command_does_not_answer_the_wait(
    database: str, tmp_path: Path
) -> None:
    async with running_server(database, tmp_path) as server:
        terminal, _ = await _setup(server)
        other, _ = await server.enrolled_terminal(OTHER)
        owner = server.client()
        await owner.claim(OTHER, AUTH_CODE)
        waiting = asyncio.ensure_future(terminal.pending_commands(MODEM, wait=2))
        await _until_waiting(server.service)
        command = await owner.send_command(OTHER, PUMP_OFF)
        assert await asyncio.wait_for(waiting, 10) == ()
        assert [c.id for c in await other.pending_commands(OTHER)] == [command.id]


async def test_an_expired_command_is_never_handed_over(database: str, tmp_path: Path) -> None:
    now = [datetime.now(UTC)]
    async with running_server(database, tmp_path, clock=lambda: now[0]) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_OFF)
        assert command.expires is not None
        now[0] = command.expires + timedelta(milliseconds=1)
        assert await terminal.pending_commands(MODEM, wait=1) == ()
        assert (await client.command(MODEM, command.id)).status is CommandStatus.EXPIRED


async def test_a_command_handed_over_is_not_handed_over_past_its_expiry(
    database: str, tmp_path: Path
) -> None:
    now = [datetime.now(UTC)]
    async with running_server(database, tmp_path, clock=lambda: now[0]) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_OFF)
        assert [c.id for c in await terminal.pending_commands(MODEM)] == [command.id]
        assert command.expires is not None
        now[0] = command.expires + timedelta(milliseconds=1)
        assert await terminal.pending_commands(MODEM) == ()


async def test_only_the_modems_own_secret_may_wait(database: str, tmp_path: Path) -> None:
    async with running_server(database, tmp_path) as server:
        await _setup(server)
        other, _ = await server.enrolled_terminal(OTHER)
        with pytest.raises(ApiError) as refused:
            await other.pending_commands(MODEM, wait=0)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
        stranger = server.client("not-a-terminal-secret")
        with pytest.raises(ApiError) as unknown:
            await stranger.pending_commands(MODEM, wait=0)
        assert unknown.value.status == 401


@pytest.mark.parametrize("wait", ["301", "-1", "x", "1.5", "", "9999999999"])
async def test_a_wait_out_of_range_is_refused(database: str, tmp_path: Path, wait: str) -> None:
    async with running_server(database, tmp_path) as server:
        _, secret = await server.enrolled_terminal()
        async with server.session.get(
            f"{server.url}/api/v1/modems/{MODEM}/pending-commands",
            params={"wait": wait},
            headers={"Authorization": f"Bearer {secret}"},
        ) as response:
            assert response.status == 400
            body = await response.json()
        assert (body["code"], body["field"]) == ("invalid_request", "wait")


async def test_a_wait_ends_when_the_server_stops(database: str, tmp_path: Path) -> None:
    async with running_server(database, tmp_path) as server:
        terminal, _ = await _setup(server)
        waiting = asyncio.ensure_future(terminal.pending_commands(MODEM, wait=120))
        await _until_waiting(server.service)
        server.service.close()
        assert await asyncio.wait_for(waiting, 10) == ()


async def test_a_command_created_by_another_server_process_wakes_the_wait(
    backend: str, database: str, tmp_path: Path
) -> None:
    """Two server processes on one PostgreSQL: the terminal waits on one, Home Assistant
    sends the command to the other (``LISTEN``/``NOTIFY`` wakes the wait)."""
    if backend != "postgresql":
        pytest.skip("SQLite is one process's database")
    async with (
        running_server(database, tmp_path, notify=True) as first,
        running_server(database, tmp_path, notify=True) as second,
    ):
        terminal, _ = await first.enrolled_terminal()
        client = second.client()
        await client.claim(MODEM, AUTH_CODE)
        started = time.monotonic()
        waiting = asyncio.ensure_future(terminal.pending_commands(MODEM, wait=120))
        await _until_waiting(first.service)
        command = await client.send_command(MODEM, PUMP_OFF)
        handed = await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 10
        assert [c.id for c in handed] == [command.id]
