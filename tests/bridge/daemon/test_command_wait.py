"""A terminal with relays keeps a wait for commands open at its server
(``GET …/pending-commands``): a command reaches its relay in seconds, not on the reply to the
next upload — with a one-hour send period, an hour later. Failures back off and are logged
once per outage; a server without the endpoint leaves commands to the uploads' replies."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_bridge.daemon import load_config_text
from hardware_bridge.daemon.uplink_client import ApiUplink, write_pending_auth_code
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import TerminalIdentity

from .fake_server import FakeServer
from .test_uplink_client import (  # _stop_runners: the same clean-up here (autouse)
    ENROLMENT_KEY,
    CountingRunner,
    _batch,
    _config,
    _stop_runners,  # noqa: F401
    _Stopper,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture(scope="module")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = await FakeServer(enrolment_key=ENROLMENT_KEY).start()
    try:
        yield fake
    finally:
        await fake.close()


def _relay_board_config(state_dir: Path, url: str, wait: str) -> str:
    return (
        _config(state_dir, "PORT", url)
        .replace("      - {name: analyser, address: 1, profile: eastron_sdm630}\n", "")
        .replace("command_wait: 0\n", f"command_wait: {wait}\n" if wait else "")
    )


async def _enrolled_uplink(state_dir: Path, server: FakeServer) -> ApiUplink:
    opened = await asyncio.to_thread(TerminalIdentity.open, state_dir)
    assert opened.new_auth_code is not None
    write_pending_auth_code(state_dir, opened.new_auth_code)
    return ApiUplink(opened.identity, state_dir, server=server.url, enrolment_key=ENROLMENT_KEY)


async def _until_waiting(server: FakeServer, count: int = 1) -> None:
    """Until ``count`` waits for commands have reached the server (counted as they arrive;
    ``changed`` fires only when one is answered)."""
    async with asyncio.timeout(15):
        while server.requests_by_kind.get("pending-commands", 0) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("wait", ["", "2m"])  # the default, and a wait set
async def test_a_command_reaches_the_relay_in_seconds_with_an_hour_long_send_period(
    tmp_path: Path, catalogue: ProfileCatalogue, server: FakeServer, wait: str
) -> None:
    devices = [SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io"))]
    text = _relay_board_config(tmp_path, server.url, wait)
    assert "send_period: 60m" in text
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(text.replace("PORT", sim.path), catalogue=catalogue)
        uplink = await _enrolled_uplink(tmp_path, server)
        runner = CountingRunner(config, uplink._identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        task = asyncio.create_task(runner.run())
        _Stopper(runner, task)
        try:
            # it enrols at once (not at the first upload, an hour away) and waits
            await _until_waiting(server)
            await runner.until(lambda: runner.committed >= 4)  # the board's first states
            assert server.waits == 0
            uploads = server.uploads
            assert sim.board(2).relays[0] is False
            started = time.monotonic()
            server.add_command("cmd_on", "io_board", "relay_1", True)
            await server.until(lambda: len(server.outcomes) == 1, timeout=10)
            assert time.monotonic() - started < 10
            assert server.outcomes[0].message is None, server.outcomes[0]
            assert sim.board(2).relays[0] is True
            assert server.outcomes[0].status.value == "succeeded"
            assert server.outcomes[0].confirmed_state is True
            assert server.uploads == uploads  # it did not wait for an upload
            # the next command comes the same way: the wait was opened again
            await _until_waiting(server, 2)
            server.add_command("cmd_off", "io_board", "relay_1", False)
            await server.until(lambda: len(server.outcomes) == 2, timeout=10)
            assert sim.board(2).relays[0] is False
            assert server.uploads == uploads
        finally:
            runner.stop()
            await task
            await uplink.close()
    assert uplink.commands_executed == 2


async def test_off_leaves_commands_to_the_uploads(
    tmp_path: Path, catalogue: ProfileCatalogue, server: FakeServer
) -> None:
    devices = [SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io"))]
    text = _relay_board_config(tmp_path, server.url, "off")
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(text.replace("PORT", sim.path), catalogue=catalogue)
        uplink = await _enrolled_uplink(tmp_path, server)
        runner = CountingRunner(config, uplink._identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        task = asyncio.create_task(runner.run())
        _Stopper(runner, task)
        try:
            await runner.until(lambda: runner.committed >= 4)  # the first I/O states
            server.add_command("cmd_on", "io_board", "relay_1", True)
            await asyncio.sleep(1.5)
            assert server.outcomes == []
            runner.upload_now()
            await server.until(lambda: len(server.outcomes) == 1, timeout=15)
            assert sim.board(2).relays[0] is True
        finally:
            runner.stop()
            await task
            await uplink.close()
    assert server.waits == 0
    assert server.requests_by_kind.get("pending-commands", 0) == 0


async def test_failures_back_off_and_are_logged_once_per_outage(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    uplink = await _enrolled_uplink(tmp_path, server)
    await uplink.send(_batch("qid1", 1, 2))  # enrolled
    server.down = True
    caplog.set_level(logging.DEBUG, logger="hardware_bridge.daemon.uplink_client")
    follow = asyncio.create_task(
        uplink.follow_commands(1, jitter=lambda: 1.0, backoff_base=0.05, backoff_max=0.4)
    )
    try:
        await server.until(lambda: server.requests_by_kind.get("pending-commands", 0) >= 6)
        started = server.requests_by_kind["pending-commands"]
        await asyncio.sleep(1.0)
        # exponential, capped: 0.4 s apart by now, not a request loop
        assert server.requests_by_kind["pending-commands"] - started <= 4
        server.down = False
        server.add_command("cmd_1", "io_board", "relay_1", True)
        await server.until(lambda: len(server.outcomes) == 1)
        # a second outage is told again
        server.down = True
        count = server.requests_by_kind["pending-commands"]
        await server.until(lambda: server.requests_by_kind["pending-commands"] >= count + 3)
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await uplink.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert all("Waiting for relay commands" in r.getMessage() for r in warnings)
    assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    # no runner attached: the command is reported as not carried out, but reported
    assert server.outcomes[0].status.value == "failed"


async def test_a_server_without_the_wait_is_not_asked_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    older = await FakeServer(enrolment_key=ENROLMENT_KEY, offer_wait=False).start()
    try:
        uplink = await _enrolled_uplink(tmp_path, older)
        await uplink.send(_batch("qid1", 1, 2))
        caplog.set_level(logging.INFO, logger="hardware_bridge.daemon.uplink_client")
        follow = asyncio.create_task(uplink.follow_commands(60, backoff_base=0.01))
        await older.until(lambda: older.requests_by_kind.get("pending-commands", 0) >= 1)
        await asyncio.sleep(0.5)
        assert not follow.done()  # it does not end the daemon
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await uplink.close()
    finally:
        await older.close()
    assert older.requests_by_kind["pending-commands"] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "does not offer waiting for commands" in caplog.text


class _Monotonic:
    """The terminal's monotonic clock: ``delay`` seconds pass between a command's receipt
    and its execution (a busy line, a slow relay)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return 1000.0 if self.calls == 1 else 1000.0 + self.delay


@pytest.mark.parametrize(
    ("clock_off", "left", "delay", "expired"),
    [
        # the terminal's clock is 40 minutes ahead: a command with 30 minutes left is in time
        (timedelta(minutes=40), timedelta(minutes=30), 0.0, False),
        # 40 minutes behind: a command with a minute left, carried out two minutes after it
        # arrived, is past its expiry though the terminal's clock says otherwise
        (-timedelta(minutes=40), timedelta(minutes=1), 120.0, True),
        # on time, a command with a minute left carried out at once
        (timedelta(0), timedelta(minutes=1), 0.0, False),
    ],
)
async def test_expiry_is_judged_by_the_servers_clock_not_the_terminals(
    tmp_path: Path,
    server: FakeServer,
    clock_off: timedelta,
    left: timedelta,
    delay: float,
    expired: bool,
) -> None:
    opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
    assert opened.new_auth_code is not None
    write_pending_auth_code(tmp_path, opened.new_auth_code)
    uplink = ApiUplink(
        opened.identity,
        tmp_path,
        server=server.url,
        enrolment_key=ENROLMENT_KEY,
        wall=lambda: datetime.now(UTC) + clock_off,
        monotonic=_Monotonic(delay),
    )
    try:
        server.add_command("cmd_1", "io_board", "relay_1", True, expires=datetime.now(UTC) + left)
        await uplink.send(_batch("qid1", 1, 2))
        await uplink.wait_commands()
    finally:
        await uplink.close()
    (outcome,) = server.outcomes
    assert outcome.status.value == "failed"  # no runner: nothing could be switched
    message = outcome.message or ""
    if expired:
        assert "expired" in message, message
    else:  # it was tried: the relay, not the clock, decided
        assert "not running its engines" in message, message
