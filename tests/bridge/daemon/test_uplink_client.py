"""The uploader against a strict fake server (``fake_server.py``, the terminal endpoints of
the contract over aiohttp): every committed reading arrives once and in order across outages,
lost answers and restarts; a relay command in an acknowledgement reaches the board and its
outcome comes back; errors are mapped; no secret reaches a log or a state file."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from hardware_bridge.api import ApiError, Unauthorized
from hardware_bridge.daemon import OutgoingBatch, Runner, load_config_text
from hardware_bridge.daemon.uplink_client import (
    PENDING_AUTH_CODE_FILE,
    UPLINK_STATE_FILE,
    ApiUplink,
    write_pending_auth_code,
)
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import (
    QueuedRecord,
    ReadingQueue,
    Record,
    TerminalIdentity,
    normalize_auth_code,
)

from .fake_server import FakeServer

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
ENROLMENT_KEY = "ek-Zr81-site-secret"

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback HTTP to the fake server


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


def _config(state_dir: Path, port: str, url: str) -> str:
    return f"""\
state_dir: {state_dir}
send_period: 60m
command_wait: 0
upstream:
  url: {url}
  enrolment_key: {ENROLMENT_KEY}
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


def _uplink(identity: TerminalIdentity, state_dir: Path, server: FakeServer) -> ApiUplink:
    return ApiUplink(identity, state_dir, server=server.url, enrolment_key=ENROLMENT_KEY)


def _queue_history(state_dir: Path) -> tuple[list[QueuedRecord], int]:
    with ReadingQueue(state_dir / "queue.sqlite3") as queue:
        page = queue.history(EPOCH, FAR, limit=1_000_000)
        stats = queue.stats()
    return list(page.records), stats.pending


async def _run(runner: Runner) -> asyncio.Task[None]:
    return asyncio.create_task(runner.run())


class _Stopper:
    """Stops a runner left running by a failed assertion (at the fixture's teardown)."""

    running: ClassVar[list[tuple[Runner, asyncio.Task[None]]]] = []

    def __init__(self, runner: Runner, task: asyncio.Task[None]) -> None:
        self.running.append((runner, task))


@pytest.fixture(autouse=True)
async def _stop_runners() -> AsyncIterator[None]:
    yield
    while _Stopper.running:
        runner, task = _Stopper.running.pop()
        if task.done() or task.get_loop() is not asyncio.get_running_loop():
            continue  # stopped by its test, or left by another test's loop (not ours to await)
        runner.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_every_committed_reading_arrives_once_and_in_order_across_outages_and_restarts(
    tmp_path: Path,
    catalogue: ProfileCatalogue,
    server: FakeServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io")),
    ]
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(_config(tmp_path, sim.path, server.url), catalogue=catalogue)
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        code = opened.new_auth_code
        assert code is not None
        write_pending_auth_code(tmp_path, code)  # what `run` does at first start
        identity = opened.identity

        # first run: enrolment, an upload, an outage, an answer lost after storing
        uplink = _uplink(identity, tmp_path, server)
        runner = CountingRunner(config, identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        task = await _run(runner)
        _Stopper(runner, task)
        await runner.until(lambda: runner.committed >= 40)
        runner.upload_now()
        await server.until(lambda: server.acked > 0)
        assert server.auth_codes == [code]
        # each batch names its queue, so a server keeps a recreated queue's numbers apart
        assert server.streams == {(await runner.queue.stats()).queue_id}
        assert not (tmp_path / PENDING_AUTH_CODE_FILE).exists()
        assert server.descriptions, "the description follows the enrolment"
        assert await asyncio.to_thread(identity.verify_auth_code, server.auth_codes[0])

        await runner.until(lambda: runner.committed > server.acked + 10)
        server.down = True
        failed = server.requests
        runner.upload_now()
        await server.until(lambda: server.requests > failed)
        committed = runner.committed
        await runner.until(lambda: runner.committed > committed + 20)  # polls go on
        server.down = False
        server.lose_answers = 1  # stored, but the terminal never hears it
        held = server.acked
        runner.upload_now()
        await server.until(lambda: server.acked > held)
        committed = runner.committed
        await runner.until(lambda: runner.committed > committed + 20)  # the batch grows
        server.lose_answers = 1  # the stop's flush is stored, its answer lost
        runner.stop()
        await task
        await uplink.close()

        # second run, a new process: the unanswered range is sent again, as it was
        duplicates = server.duplicates
        described = len(server.descriptions)
        uplink = _uplink(identity, tmp_path, server)
        runner = CountingRunner(config, identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        task = await _run(runner)
        _Stopper(runner, task)
        await runner.until(lambda: runner.committed > 10)
        runner.stop()
        await task
        await uplink.close()

    records, pending = _queue_history(tmp_path)
    assert pending == 0
    assert server.duplicates > duplicates  # the resent range was recognised, not stored again
    assert len(server.descriptions) == described  # unchanged: not sent again after a restart
    assert server.conflicts == 0
    last = records[-1].seq
    # every sequence number stored exactly once, in order
    assert server.stored == list(range(1, last + 1))
    for queued in records:
        item = queued.item
        assert isinstance(item, Record)
        got = server.readings.get(queued.seq) or server.events[queued.seq]
        if queued.seq in server.readings:
            reading = server.readings[queued.seq]
            assert (reading.device, reading.key, reading.unit) == (item.device, item.key, item.unit)
            assert reading.value == item.value
            assert type(reading.value) is type(item.value)
            assert abs(reading.time - item.time) < timedelta(milliseconds=1)
        else:
            assert (got.alarm.device, got.alarm.key) == (item.device, item.key)
    secrets = (ENROLMENT_KEY, code, identity.upload_secret)
    for secret in secrets:
        assert secret not in caplog.text
        for name in (UPLINK_STATE_FILE, "status.json"):
            assert secret not in (tmp_path / name).read_text()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_relay_command_in_the_ack_reaches_the_board_and_its_outcome_comes_back(
    tmp_path: Path, catalogue: ProfileCatalogue, server: FakeServer
) -> None:
    devices = [SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io"))]
    text = _config(tmp_path, "PORT", server.url).replace(
        "      - {name: analyser, address: 1, profile: eastron_sdm630}\n", ""
    )
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(text.replace("PORT", sim.path), catalogue=catalogue)
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        assert opened.new_auth_code is not None
        write_pending_auth_code(tmp_path, opened.new_auth_code)
        uplink = _uplink(opened.identity, tmp_path, server)
        runner = CountingRunner(config, opened.identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        task = await _run(runner)
        try:
            await runner.until(lambda: runner.committed >= 4)  # the first I/O states
            assert sim.board(2).relays[0] is False
            server.add_command("cmd_on", "io_board", "relay_1", True)
            server.add_command("cmd_bad", "io_board", "relay_9", True)
            runner.upload_now()
            await server.until(lambda: len(server.outcomes) == 2)
            assert sim.board(2).relays[0] is True
            outcomes = {outcome.command_id: outcome for outcome in server.outcomes}
            assert outcomes["cmd_on"].status.value == "succeeded"
            assert outcomes["cmd_on"].confirmed_state is True
            assert outcomes["cmd_bad"].status.value == "failed"
            assert "relay_9" in (outcomes["cmd_bad"].message or "")
            assert server.commands["cmd_on"].status.value == "succeeded"
            # the switch is recorded as the board read it, and uploaded
            await runner.until(
                lambda: any(
                    q.item.key == "relay_1" and q.item.value is True
                    for q in _queue_history(tmp_path)[0]
                    if isinstance(q.item, Record) and q.item.device == "io_board"
                )
            )
            runner.upload_now()
            uploads = server.uploads
            await server.until(lambda: server.uploads > uploads)
        finally:
            runner.stop()
            await task
            await uplink.close()
    assert uplink.commands_executed == 2  # each command once, though acks repeat it
    assert any(e.alarm.key == "relay_1" and e.alarm.value is True for e in server.events.values())


async def test_a_relay_board_that_does_not_change_still_gets_its_commands(
    tmp_path: Path, catalogue: ProfileCatalogue, server: FakeServer
) -> None:
    """A terminal that only drives a relay board (a pump at a well) has no new values while
    nothing switches. It still contacts its server every send period, sending its relays' and
    inputs' state again, so a command waiting there is carried out without anyone asking for
    an upload, and the server's latest states stay current."""
    devices = [SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io"))]
    text = (
        _config(tmp_path, "PORT", server.url)
        .replace("      - {name: analyser, address: 1, profile: eastron_sdm630}\n", "")
        .replace("send_period: 60m", "send_period: 2s")
    )
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(text.replace("PORT", sim.path), catalogue=catalogue)
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        assert opened.new_auth_code is not None
        write_pending_auth_code(tmp_path, opened.new_auth_code)
        uplink = _uplink(opened.identity, tmp_path, server)
        runner = CountingRunner(config, opened.identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        task = await _run(runner)
        _Stopper(runner, task)
        try:
            # the first states are uploaded; nothing on the board changes from here on
            await server.until(
                lambda: any(r.device == "io_board" for r in server.readings.values())
            )
            first = max(r.time for r in server.readings.values())
            uploads = server.uploads
            server.add_command("cmd_on", "io_board", "relay_1", True)
            await server.until(lambda: len(server.outcomes) == 1, timeout=15)
            assert server.uploads > uploads
            assert sim.board(2).relays[0] is True
            assert server.outcomes[0].status.value == "succeeded"
            # the states that did not change were sent again, read anew
            again = [r for r in server.readings.values() if r.key == "input_1"]
            assert len(again) >= 2, again
            assert max(r.time for r in again) > first
            assert all(r.value is False for r in again)
        finally:
            runner.stop()
            await task
            await uplink.close()


async def test_upload_now_brings_a_relay_boards_command_at_once(
    tmp_path: Path, catalogue: ProfileCatalogue, server: FakeServer
) -> None:
    """``upload-now`` on a terminal with only a relay board, whose states do not change and
    whose send period is an hour: the states are recorded again so the upload happens, and
    the command waiting at the server rides back on its reply."""
    devices = [SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io"))]
    text = _config(tmp_path, "PORT", server.url).replace(
        "      - {name: analyser, address: 1, profile: eastron_sdm630}\n", ""
    )
    async with ModbusLineSimulator(devices) as sim:
        config = load_config_text(text.replace("PORT", sim.path), catalogue=catalogue)
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
        assert opened.new_auth_code is not None
        write_pending_auth_code(tmp_path, opened.new_auth_code)
        uplink = _uplink(opened.identity, tmp_path, server)
        runner = CountingRunner(config, opened.identity, uplink=uplink, catalogue=catalogue)
        uplink.attach(runner)
        runner.upload_now()  # asked for at the start, before anything is queued
        task = await _run(runner)
        _Stopper(runner, task)
        try:
            await server.until(
                lambda: any(r.device == "io_board" for r in server.readings.values()),
                timeout=15,
            )
            uploads = server.uploads
            server.add_command("cmd_on", "io_board", "relay_1", True)
            runner.upload_now()
            await server.until(lambda: len(server.outcomes) == 1, timeout=15)
            assert server.uploads > uploads
            assert sim.board(2).relays[0] is True
        finally:
            runner.stop()
            await task
            await uplink.close()


def _batch(queue_id: str, first: int, last: int) -> OutgoingBatch:
    at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    records = tuple(
        QueuedRecord(
            seq,
            Record(device="analyser", key="voltage_l1", value=230.0 + seq, unit="V", time=at),
        )
        for seq in range(first, last + 1)
    )
    return OutgoingBatch(
        modem_no="x",
        queue_id=queue_id,
        first_seq=first,
        last_seq=last,
        records=records,
        urgent=False,
    )


async def test_a_sequence_conflict_resumes_after_what_the_server_holds(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
    assert opened.new_auth_code is not None
    write_pending_auth_code(tmp_path, opened.new_auth_code)
    uplink = _uplink(opened.identity, tmp_path, server)
    try:
        assert await uplink.send(_batch("qid1", 1, 10)) == 10
        await uplink.close()  # a restart, the acknowledgement of 6..10 never reached the queue
        uplink = _uplink(opened.identity, tmp_path, server)
        # the server holds them already
        assert await uplink.send(_batch("qid1", 6, 12)) == 10
        assert await uplink.send(_batch("qid1", 11, 12)) == 12
        # a shorter batch than the one the server took: all of it is held already
        assert await uplink.send(_batch("qid1", 11, 11)) == 11
        # a queue made anew starts at 1 again: not resumed over the old queue's records
        with pytest.raises(ApiError):
            await uplink.send(_batch("qid2", 1, 5))
    finally:
        await uplink.close()
    assert server.stored == list(range(1, 13))
    assert server.conflicts == 3
    assert "refuses sequence numbers 1..5" in caplog.text
    assert "holds readings up to 10" in caplog.text


async def test_a_refused_secret_is_logged_once_and_retried(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
    server.secret = "tsec_someone_else_entirely"  # enrolled already, with another secret
    uplink = _uplink(opened.identity, tmp_path, server)
    try:
        for _ in range(3):
            with pytest.raises(Unauthorized):
                await uplink.send(_batch("qid1", 1, 3))
    finally:
        await uplink.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2  # not enrolled (no code at hand), then the 401: once each
    assert "auth-code --renew" in errors[0].getMessage()
    assert "401" in errors[1].getMessage()
    assert opened.identity.upload_secret not in caplog.text


async def test_a_renewed_auth_code_reaches_the_server_at_the_next_contact(
    tmp_path: Path, server: FakeServer
) -> None:
    opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)
    assert opened.new_auth_code is not None
    write_pending_auth_code(tmp_path, opened.new_auth_code)
    uplink = _uplink(opened.identity, tmp_path, server)
    try:
        await uplink.send(_batch("qid1", 1, 2))
        renewed = await asyncio.to_thread(opened.identity.renew_auth_code)
        write_pending_auth_code(tmp_path, renewed)  # what `auth-code --renew` does
        await uplink.send(_batch("qid1", 3, 4))
    finally:
        await uplink.close()
    assert server.auth_codes == [opened.new_auth_code, renewed]
    assert not (tmp_path / PENDING_AUTH_CODE_FILE).exists()


async def _line(stream: asyncio.StreamReader, seen: list[str], marker: str) -> None:
    async with asyncio.timeout(60):
        while not any(marker in line for line in seen):
            raw = await stream.readline()
            assert raw, f"the daemon ended before printing {marker!r}: {seen}"
            seen.append(raw.decode())


async def test_run_with_an_upstream_enrols_uploads_and_sends_a_renewed_code(
    tmp_path: Path, catalogue: ProfileCatalogue, server: FakeServer
) -> None:
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    state = tmp_path / "state"
    async with ModbusLineSimulator(devices) as sim:
        text = _config(state, sim.path, server.url).replace(
            "      - {name: io_board, address: 2, profile: bestep_2ch_io}\n", ""
        )
        with socket.socket() as probe:  # a free port: the local API stays on loopback
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = tmp_path / "terminal.yaml"
        config.write_text(
            text.replace("send_period: 60m\n", f"send_period: 60m\nlisten: 127.0.0.1:{port}\n")
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hardware_bridge",
            "run",
            "--config",
            str(config),
            "--no-qr",
            "--log-level",
            "debug",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        stdout: list[str] = []
        try:
            await _line(process.stdout, stdout, "upstream: ")
            if importlib.util.find_spec("hardware_bridge.api.http_app") is not None:
                await _line(process.stdout, stdout, f"listening on http://127.0.0.1:{port}")
            code = "".join(stdout).split("Auth code (Yetki Kodu): ")[1].split()[0]
            async with asyncio.timeout(60):  # upload-now, as a technician does, once polled
                while not server.acked:
                    process.send_signal(signal.SIGUSR1)
                    with contextlib.suppress(TimeoutError):
                        await server.until(lambda: server.acked > 0, timeout=0.5)
            assert server.descriptions[-1]["devices"][0]["key"] == "analyser"
            renew = [sys.executable, "-m", "hardware_bridge", "auth-code", "--renew"]
            renewal = await asyncio.create_subprocess_exec(
                *renew, "--config", str(config), "--no-qr", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await renewal.communicate()
            assert renewal.returncode == 0
            renewed = out.decode().split("Auth code (Yetki Kodu): ")[1].split()[0]
            assert f"{server.url} has the new code" in out.decode()  # told at once
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                _, err = await process.communicate()
    assert process.returncode == 0
    first, *later = [normalize_auth_code(c) for c in server.auth_codes]
    assert first == normalize_auth_code(code)
    assert later
    assert set(later) == {normalize_auth_code(renewed)}
    assert server.acked > 0
    logs = err.decode()
    for secret in (code, renewed, ENROLMENT_KEY, TerminalIdentity.load(state).upload_secret):
        assert secret not in logs
    assert "Traceback" not in logs
    assert [line for line in logs.splitlines() if line.startswith(("WARNING", "ERROR"))] == []
