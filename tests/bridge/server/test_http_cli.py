"""``smartpower-bridge server`` as its own process: it says where it listens, serves both
halves of the API, and stops with exit 0 on SIGTERM; bad options are one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from hardware_bridge.api import Enrolment, SmartPowerClient
from hardware_bridge.cli import main
from hardware_bridge.cli._server import parse_command_expiry
from hardware_bridge.server.storage import DEFAULT_DATABASE_FILE

from .http_harness import AUTH_CODE, MODEM, description

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_server_process_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    key_file = tmp_path / "enrolment.key"
    key_file.write_text("site-key\n", encoding="utf-8")
    # a state directory of an earlier release, which kept descriptions as files
    legacy = tmp_path / "state" / "descriptions"
    legacy.mkdir(parents=True)
    earlier = replace(description(), name="From an earlier release")
    (legacy / f"{MODEM}.json").write_text(json.dumps(earlier.to_json()), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hardware_bridge",
        "server",
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        str(tmp_path / "state"),
        "--enrolment-key-file",
        str(key_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split("listening on ")[1].strip()
        async with aiohttp.ClientSession() as session:
            terminal = SmartPowerClient(session, url)
            secret = secrets.token_urlsafe(32)
            await terminal.enrol(
                MODEM,
                Enrolment(terminal_secret=secret, auth_code=AUTH_CODE, enrolment_key="site-key"),
            )
            terminal.token = secret
            client = SmartPowerClient(session, url)
            await client.claim(MODEM, AUTH_CODE)
            assert await client.description(MODEM) == earlier  # imported at start
            await terminal.put_description(MODEM, description())
            assert await client.description(MODEM) == description()
        assert (tmp_path / "state" / DEFAULT_DATABASE_FILE).exists()
        assert not legacy.exists()  # imported once: the folder is no longer read
        assert (tmp_path / "state" / "descriptions.imported" / f"{MODEM}.json").exists()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert secret.encode() not in stderr
    assert AUTH_CODE.encode() not in stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["server", "--listen", "nowhere"], "expected HOST:PORT"),
        (["server", "--listen", "127.0.0.1:0", "--retention", "soon"], "expected a duration"),
        (["server", "--listen", "127.0.0.1:0", "--command-expiry", "0"], "expected a duration"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "minutes"), [("30m", 30), ("2h", 120), ("45", 45), ("90s", 1.5), ("1d", 1440)]
)
def test_command_expiry_durations(text: str, minutes: float) -> None:
    assert parse_command_expiry(text) == timedelta(minutes=minutes)


def test_a_missing_enrolment_key_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "server",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path),
            "--enrolment-key-file",
            str(tmp_path / "missing"),
        ]
    )
    assert code == 2
    assert "--enrolment-key-file" in capsys.readouterr().err
