"""``smartpower-bridge run``/``status``/``auth-code``/``upload-now``/``init`` as a user meets
them: the slip at first start, a 0600 identity, status read beside a running daemon, renewal
revoking tokens, SIGUSR1, a clean SIGTERM stop, and no secret in any log."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge.cli import main
from hardware_bridge.daemon import OutgoingBatch, Runner, load_config, load_config_text
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.at_modem import ModemSimulator, ModemState
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import IDENTITY_FILE, ReadingQueue, Record, TerminalIdentity

# The daemon's API listens on a free loopback port (found with a socket in the test).
pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture(scope="module")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_config(tmp_path: Path, port: str, *, upstream: str = "") -> Path:
    path = tmp_path / "terminal.yaml"
    path.write_text(
        f"""\
state_dir: {tmp_path / "state"}
listen: 127.0.0.1:{_free_port()}
send_period: 15m
{upstream}
lines:
  - name: rs485
    port: {port}
    protocol: modbus
    poll_interval: 1s
    timeout: 300ms
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
"""
    )
    return path


def _cli(argv: Sequence[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


async def _line(stream: asyncio.StreamReader, seen: list[str], marker: str) -> None:
    async with asyncio.timeout(60):
        while not any(marker in line for line in seen):
            raw = await stream.readline()
            assert raw, f"the daemon ended before printing {marker!r}: {seen}"
            seen.append(raw.decode())


async def test_the_daemon_as_a_process_slip_status_upload_now_and_a_clean_stop(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(devices) as sim:
        config = _write_config(tmp_path, sim.path)
        state = tmp_path / "state"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hardware_bridge",
            "run",
            "--config",
            str(config),
            "--log-level",
            "debug",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        assert process.stderr is not None
        stdout: list[str] = []
        try:
            await _line(process.stdout, stdout, "line rs485:")
            text = "".join(stdout)
            modem_no = text.split("Modem No: ")[1].split()[0]
            code = text.split("Auth code (Yetki Kodu): ")[1].split()[0]
            assert text.index("Modem No: ") < text.index("Auth code (Yetki Kodu): ")
            assert "▀" in text or "no QR code" in text  # drawn, or said why not
            identity_file = state / IDENTITY_FILE
            assert stat.S_IMODE(identity_file.stat().st_mode) == 0o600
            identity = TerminalIdentity.load(state)
            assert identity.modem_no == modem_no
            assert identity.verify_auth_code(code)

            # status, read beside the running daemon once it has written one with readings
            for _ in range(150):  # another process: the daemon rewrites it every few seconds
                result, out, _ = await asyncio.to_thread(
                    _cli, ["status", "--config", str(config), "--json"]
                )
                assert result == 0
                status = json.loads(out)
                if status.get("committed"):
                    break
                await asyncio.sleep(0.2)
            assert status["modem_no"] == modem_no
            assert status["running"] is True
            assert status["pid"] == process.pid
            assert isinstance(status["queue_depth"], int)
            for key in ("last_upload", "last_error", "signal_dbm"):
                assert key in status
            assert status["lines"]["rs485"]["devices"] == {"analyser": True}

            result, out, _ = await asyncio.to_thread(_cli, ["upload-now", "--config", str(config)])
            assert (result, str(process.pid) in out) == (0, True)
            stderr: list[str] = []
            await _line(process.stderr, stderr, "Upload requested")
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                rest_out, rest_err = await process.communicate()
        assert process.returncode == 0
        logs = "".join(stderr) + rest_err.decode()
        assert "Stopped;" in logs
        assert code not in logs + rest_out.decode()
        assert identity.upload_secret not in logs

    # a clean stop folded the log into the database; everything committed is there
    wal = state / "queue.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    final = json.loads((state / "status.json").read_text())
    assert final["running"] is False
    assert final["queue_depth"] == 0  # LAN-only: every record acknowledged as history
    with ReadingQueue(state / "queue.sqlite3") as queue:
        assert queue.stats().last_seq == final["committed"] > 0
    result, out, _ = await asyncio.to_thread(_cli, ["status", "--config", str(config)])
    assert result == 0
    assert "not running" in out
    result, _, err = await asyncio.to_thread(_cli, ["upload-now", "--config", str(config)])
    assert result == 1
    assert "no daemon runs" in err


def test_auth_code_renew_revokes_every_token_and_logs_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _write_config(tmp_path, "/dev/null")
    state = tmp_path / "state"
    with caplog.at_level(logging.DEBUG):
        opened = TerminalIdentity.open(state)
        old_code = opened.new_auth_code
        assert old_code is not None
        identity = opened.identity
        tokens = [identity.issue_token(), identity.issue_token()]
        result, out, _ = _cli(["auth-code", "--config", str(config), "--renew"])
    assert result == 0
    new_code = out.split("Auth code (Yetki Kodu): ")[1].split()[0]
    assert f"Modem No: {identity.modem_no}" in out
    assert "2 access tokens revoked" in out
    assert identity.verify_auth_code(new_code)
    assert not identity.verify_auth_code(old_code)
    assert not any(identity.verify_token(token) for token in tokens)
    assert identity.token_count == 0
    for secret in (old_code, new_code, identity.upload_secret, *tokens):
        assert secret not in caplog.text
    # without --renew nothing changes and the user is told why
    result, _, err = _cli(["auth-code", "--config", str(config)])
    assert result == 2
    assert "--renew" in err
    assert identity.verify_auth_code(new_code)


def test_a_config_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("state_dir: /x\nsend_period: soon\nlines: []\n")
    result, out, err = _cli(["run", "--config", str(path)])
    assert (result, out) == (2, "")
    assert err.strip().endswith(
        f"{path}:2: send_period: expected a duration such as 30s, 15m, 1h or 7d, got 'soon'"
    )
    assert "Traceback" not in err


def test_a_readable_identity_file_refuses_the_start(tmp_path: Path) -> None:
    config = _write_config(tmp_path, "/dev/null")
    TerminalIdentity.open(tmp_path / "state")
    (tmp_path / "state" / IDENTITY_FILE).chmod(0o644)
    result, _, err = _cli(["run", "--config", str(config)])
    assert result == 2
    assert "chmod 600" in err


class CountingRunner(Runner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed_more = asyncio.Event()

    async def commit(self, records: Sequence[Record]) -> None:
        await super().commit(records)
        self.committed_more.set()

    async def until_committed(self, count: int) -> None:
        async with asyncio.timeout(30):
            while self.committed < count:
                self.committed_more.clear()
                await self.committed_more.wait()


class RecordingUplink:
    def __init__(self) -> None:
        self.batches: list[OutgoingBatch] = []
        self.arrived = asyncio.Event()

    async def send(self, batch: OutgoingBatch) -> int:
        self.batches.append(batch)
        self.arrived.set()
        return batch.last_seq


async def test_sigusr1_sends_at_once_and_a_stop_flushes_the_rest(
    tmp_path: Path, catalogue: ProfileCatalogue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    upstream = "upstream:\n  url: https://up.example\n  enrolment_key: ek-7Hq2-secret"
    async with ModbusLineSimulator(devices) as sim:
        config = load_config(_write_config(tmp_path, sim.path, upstream=upstream))
        uplink = RecordingUplink()
        opened = await asyncio.to_thread(TerminalIdentity.open, config.state_dir)
        assert opened.new_auth_code is not None
        runner = CountingRunner(
            config,
            opened.identity,
            uplink=uplink,
            catalogue=catalogue,
        )
        task = asyncio.create_task(runner.run(handle_signals=True))
        await runner.until_committed(2 * 40)  # two polls of the analyser, at least
        assert uplink.batches == []  # the 15-minute period has not come
        uplink.arrived.clear()
        os.kill(os.getpid(), signal.SIGUSR1)
        async with asyncio.timeout(10):
            await uplink.arrived.wait()
        assert uplink.batches[0].first_seq == 1
        await runner.until_committed(uplink.batches[-1].last_seq + 1)  # more after the upload
        runner.stop()
        await task
    with ReadingQueue(config.state_dir / "queue.sqlite3") as queue:
        stats = queue.stats()
    for secret in ("ek-7Hq2-secret", opened.new_auth_code, opened.identity.upload_secret):
        assert secret not in caplog.text
        assert secret not in (config.state_dir / "status.json").read_text()
    received = [q.seq for batch in uplink.batches for q in batch.records]
    assert received == list(range(1, stats.last_seq + 1))  # the stop sent the rest, in order
    assert stats.pending == 0


async def test_init_writes_a_starter_file_that_loads(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=3, profile=catalogue.get("kael_varkombi")),
    ]
    output = tmp_path / "terminal.yaml"
    async with ModbusLineSimulator(devices) as sim:
        argv = ["init", "--port", sim.path, "-o", str(output), "--last", "4", "--timeout", "0.1"]
        result, out, err = await asyncio.to_thread(_cli, argv)
    assert result == 0, err
    assert f"wrote {output}" in out
    config = load_config(output)
    (line,) = config.lines
    assert line.config.serial.port == sim.path
    found = {(d.device_id, d.profile_id) for d in line.config.devices}
    assert (1, "eastron_sdm630") in found
    assert 3 in {device_id for device_id, _ in found}
    result, _, err = await asyncio.to_thread(_cli, ["init", "--port", "/x", "-o", str(output)])
    assert result == 2
    assert "exists" in err
    assert load_config_text(output.read_text()).lines == config.lines


async def test_the_modem_s_signal_and_registration_ride_with_every_batch(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with (
        ModbusLineSimulator(devices) as sim,
        ModemSimulator("quectel_ec25", ModemState(csq=25)) as modem,
    ):
        path = _write_config(tmp_path, sim.path, upstream="upstream:\n  url: https://up.example")
        path.write_text(path.read_text() + f"modem:\n  port: {modem.path}\n")
        config = load_config(path, catalogue=catalogue)
        uplink = RecordingUplink()
        runner = CountingRunner(
            config,
            (await asyncio.to_thread(TerminalIdentity.open, config.state_dir)).identity,
            uplink=uplink,
            catalogue=catalogue,
        )
        task = asyncio.create_task(runner.run())
        try:
            await runner.until_committed(1)
            async with asyncio.timeout(30):
                while runner.cellular is None:
                    runner.committed_more.clear()
                    await runner.committed_more.wait()  # the modem is read beside the polls
            uplink.arrived.clear()
            runner.upload_now()
            async with asyncio.timeout(10):
                await uplink.arrived.wait()
            status = await runner.status()
        finally:
            runner.stop()
            await task
    cellular = uplink.batches[-1].cellular
    assert cellular is not None
    assert cellular.signal_dbm == -63  # CSQ 25
    assert cellular.registration == "home"
    assert (status["signal_dbm"], status["registration"]) == (-63, "home")
