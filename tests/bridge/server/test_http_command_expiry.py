"""A relay command the terminal has not fetched in time ends ``expired`` and is never carried
out: a pump is not switched on hours after it was asked for. The server's clock is the test's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge.api import (
    Batch,
    BatchReading,
    CommandOutcome,
    CommandRequest,
    CommandStatus,
    OutcomeStatus,
    SmartPowerClient,
)

from .http_harness import AUTH_CODE, MODEM, Server, running_server

pytestmark = pytest.mark.usefixtures("socket_enabled")

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PUMP_ON = CommandRequest(device="terminal", key="pump", state=True)
LIFETIME = timedelta(seconds=2 * 900 + 60)  # the description's send period is 900 s


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def upload(seq: int, *, outcomes: tuple[CommandOutcome, ...] = ()) -> Batch:
    """A batch of one reading, as a terminal sends every send period."""
    reading = BatchReading(
        seq=seq, device="sdm630", key="voltage_l1", value=230.0, unit="V", time=T0
    )
    return Batch(
        batch_id=f"b-{seq}",
        first_seq=seq,
        last_seq=seq,
        created=T0,
        readings=(reading,),
        outcomes=outcomes,
    )


async def _setup(server: Server) -> tuple[SmartPowerClient, SmartPowerClient]:
    terminal, _ = await server.enrolled_terminal()
    client = server.client()
    await client.claim(MODEM, AUTH_CODE)
    return terminal, client


@asynccontextmanager
async def command_events(client: SmartPowerClient) -> AsyncIterator[asyncio.Queue[Any]]:
    """The ``command`` events of the modem's stream, as they come."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    opened = asyncio.Event()

    async def follow() -> None:
        events = client.events(MODEM)
        try:
            pending = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.3)  # the stream is open (keep-alive comments have passed)
            opened.set()
            while True:
                event = await pending
                if event.event == "command":
                    queue.put_nowait(json.loads(event.data))
                pending = asyncio.ensure_future(anext(events))
        finally:
            await events.aclose()

    task = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        yield queue
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_command_not_fetched_in_time_expires_and_is_not_delivered(
    database: str, tmp_path: Path, clock: Clock
) -> None:
    async with running_server(database, tmp_path, clock=clock, keep_alive=0.2) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_ON)
        assert command.expires == T0 + LIFETIME  # two send periods and a minute
        async with command_events(client) as events:
            clock.now = T0 + LIFETIME - timedelta(seconds=1)
            assert await server.service.expiry_pass() == 0
            assert (await client.command(MODEM, command.id)).status is CommandStatus.PENDING

            # the terminal was off for six hours; when it calls again, nothing is handed over
            clock.now = T0 + timedelta(hours=6)
            ack = await terminal.upload_batch(MODEM, upload(1))
            assert ack.commands == ()
            expired = await client.command(MODEM, command.id)
            assert expired.status is CommandStatus.EXPIRED
            assert expired.updated == T0 + LIFETIME
            assert expired.confirmed_state is None
            assert expired.message is not None
            assert "expired" in expired.message
            # the event stream says so, as for any other outcome
            event = await asyncio.wait_for(events.get(), 10)
            assert (event["id"], event["status"]) == (command.id, "expired")
        # a later upload does not bring it back either
        assert (await terminal.upload_batch(MODEM, upload(2))).commands == ()


async def test_the_server_says_a_command_expired_without_an_upload(
    database: str, tmp_path: Path, clock: Clock
) -> None:
    """A terminal that stays silent: the expiry pass tells the event stream all the same."""
    async with running_server(database, tmp_path, clock=clock, keep_alive=0.2) as server:
        _, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_ON)
        async with command_events(client) as events:
            clock.now = T0 + LIFETIME
            assert await server.service.expiry_pass() == 1
            event = await asyncio.wait_for(events.get(), 10)
            assert (event["id"], event["status"]) == (command.id, "expired")
        assert await server.service.expiry_pass() == 0


async def test_a_command_fetched_in_time_is_carried_out_and_never_expired(
    database: str, tmp_path: Path, clock: Clock
) -> None:
    async with running_server(database, tmp_path, clock=clock) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_ON)
        clock.now = T0 + timedelta(minutes=15)
        ack = await terminal.upload_batch(MODEM, upload(1))
        assert [(c.id, c.status) for c in ack.commands] == [(command.id, CommandStatus.SENT)]
        assert (await client.command(MODEM, command.id)).status is CommandStatus.SENT
        # its outcome comes late (the report waited for the next batch): it still counts
        clock.now = T0 + LIFETIME + timedelta(minutes=5)
        assert await server.service.expiry_pass() == 0
        outcome = CommandOutcome(
            command_id=command.id,
            status=OutcomeStatus.SUCCEEDED,
            time=T0 + timedelta(minutes=15, seconds=2),
            confirmed_state=True,
        )
        ack = await terminal.upload_batch(MODEM, upload(2, outcomes=(outcome,)))
        assert ack.commands == ()
        done = await client.command(MODEM, command.id)
        assert (done.status, done.confirmed_state) == (CommandStatus.SUCCEEDED, True)


async def test_a_command_handed_over_is_not_handed_over_after_its_expiry(
    database: str, tmp_path: Path, clock: Clock
) -> None:
    """A reply with the command was lost: it is handed over again, but not once expired."""
    async with running_server(database, tmp_path, clock=clock) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_ON)
        clock.now = T0 + timedelta(minutes=15)
        assert [c.id for c in (await terminal.upload_batch(MODEM, upload(1))).commands] == [
            command.id
        ]
        clock.now = T0 + timedelta(minutes=30)
        assert [c.id for c in (await terminal.upload_batch(MODEM, upload(2))).commands] == [
            command.id
        ]
        clock.now = T0 + LIFETIME
        assert (await terminal.upload_batch(MODEM, upload(3))).commands == ()


async def test_the_server_setting_bounds_the_wait(
    database: str, tmp_path: Path, clock: Clock
) -> None:
    """Two send periods of a slow terminal can be hours: the server's setting caps it."""
    limit = timedelta(minutes=10)
    async with running_server(database, tmp_path, clock=clock, command_expiry=limit) as server:
        terminal, client = await _setup(server)
        command = await client.send_command(MODEM, PUMP_ON)
        assert command.expires == T0 + limit
        clock.now = T0 + limit
        assert (await terminal.upload_batch(MODEM, upload(1))).commands == ()
        assert (await client.command(MODEM, command.id)).status is CommandStatus.EXPIRED
