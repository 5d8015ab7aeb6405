"""Terminal daemons and SmartPower servers as processes, and pairing a real Home Assistant
with them through the config flow, for the network-mode end-to-end tests.

:class:`Process` runs one ``smartpower-bridge`` command (stdout and stderr to files);
:class:`Daemon` is a terminal daemon with its config; :func:`start_server` a server on a free
loopback port; :func:`slip` reads the Modem No and auth code a daemon printed; :func:`pair` goes
*Add integration → Remote terminal → URL → Modem No + auth code* as the frontend does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harness import DOMAIN, HomeAssistantClient, free_port, wait_for
from .stack import Stack, wait_loaded

__all__ = [
    "Daemon",
    "Process",
    "Slip",
    "TerminalDevice",
    "after",
    "entities",
    "no_traceback",
    "pair",
    "pair_by_flow",
    "remove_entry",
    "slip",
    "start_server",
    "write_daemon_config",
]

SLIP_MODEM = "Modem No: "
SLIP_CODE = "Auth code (Yetki Kodu): "


class Process:
    """A ``smartpower-bridge`` command in its own process; its stdout and stderr go to files
    (a pipe nobody reads would stall it). ``env`` adds to the test's environment."""

    def __init__(
        self, folder: Path, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.stdout_file = folder / f"{name}.out"
        self.stderr_file = folder / f"{name}.err"
        with self.stdout_file.open("wb") as out, self.stderr_file.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "hardware_bridge", *argv],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )

    @property
    def stdout(self) -> str:
        return self.stdout_file.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text(encoding="utf-8", errors="replace")

    async def printed(self, marker: str, timeout: float = 60) -> str:  # noqa: ASYNC109
        """All of stdout once it holds ``marker`` (fails at once if the process ended)."""

        async def probe() -> str | None:
            text = self.stdout
            if marker in text:
                return text
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} ended ({self.popen.returncode}) before printing {marker!r}:\n"
                    f"{text}\n{self.stderr[-3000:]}"
                )
            return None

        return await wait_for(probe, f"{self.name} to print {marker!r}", timeout)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


def after(text: str, marker: str) -> str:
    """The word printed right after ``marker``."""
    return text.split(marker, 1)[1].split()[0]


def start_server(
    stack: Stack, folder: Path, env: Mapping[str, str] | None = None
) -> tuple[Process, str]:
    """A SmartPower server (SQLite in ``folder``) on a free loopback port, and its URL."""
    server = Process(
        folder,
        "server",
        ["server", "--listen", "127.0.0.1:0", "--state-dir", str(folder / "server")],
        env,
    )
    url = after(stack.run(server.printed("listening on ")), "listening on ")
    assert url.startswith("http://127.0.0.1:"), url
    return server, url


@dataclass(frozen=True, slots=True)
class TerminalDevice:
    """One device of a daemon's line: its name in the config (the device key), address and
    profile."""

    name: str
    address: int
    profile: str


def write_daemon_config(
    folder: Path,
    port: Path,
    upstream: str | None,
    devices: Sequence[TerminalDevice],
    *,
    send_period: str = "10s",  # under a minute: accepted with a warning (demos and tests)
) -> Path:
    """A terminal with one simulated line, its local API on a free loopback port."""
    upstream_block = f"upstream: {{url: {upstream}}}\n" if upstream else ""
    listed = "".join(
        f"      - {{name: {d.name}, address: {d.address}, profile: {d.profile}}}\n" for d in devices
    )
    path = folder / "terminal.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""\
state_dir: {folder / "state"}
listen: 127.0.0.1:{free_port()}
send_period: {send_period}
{upstream_block}lines:
  - name: rs485
    port: {port}
    protocol: modbus
    poll_interval: 2s
    slow_interval: 5s
    io_interval: 1s
    timeout: 300ms
    devices:
{listed}""",
        encoding="utf-8",
    )
    return path


class Daemon(Process):
    """``smartpower-bridge run --config CONFIG``."""

    def __init__(self, folder: Path, config: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(folder, "daemon", ["run", "--config", str(config)], env)
        self.config = config
        self.env = dict(env or {})

    def upload_now(self) -> None:
        """``smartpower-bridge upload-now``: the terminal contacts its server at once."""
        done = subprocess.run(
            [sys.executable, "-m", "hardware_bridge", "upload-now", "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **self.env},
        )
        assert done.returncode == 0, done


@dataclass(frozen=True, slots=True)
class Slip:
    """What a daemon printed on its first start."""

    modem_no: str
    auth_code: str
    api_url: str
    """Its local API."""


def slip(stack: Stack, daemon: Daemon) -> Slip:
    text = stack.run(daemon.printed("listening on "))
    return Slip(after(text, SLIP_MODEM), after(text, SLIP_CODE), after(text, "listening on "))


# a record's level: at the start of the line, after the time where one is logged
_ERROR = re.compile(r"^(?:\d{4}-\d\d-\d\d [\d:,.]+ )?(?:ERROR|CRITICAL) ", re.MULTILINE)


def no_traceback(process: Process) -> None:
    """Healthy operation: no traceback and no error in what the process logged."""
    text = process.stderr
    assert "Traceback" not in text, f"{process.name} wrote:\n{text}"
    assert not _ERROR.search(text), f"{process.name} logged an error:\n{text}"


# -- Home Assistant's side -----------------------------------------------------------------------
async def pair_by_flow(client: HomeAssistantClient, url: str, modem_no: str, auth_code: str) -> str:
    """Add integration → Remote terminal → the URL → Modem No + auth code, as the frontend does;
    the new entry's id."""
    form = await client.start_flow(DOMAIN)
    assert (form.get("type"), form.get("step_id")) == ("form", "user"), form
    form = await client.flow_step(
        form["flow_id"],
        {"protocol": "remote", "terminal_model": "adapter", "mains_detection": False},
    )
    assert form.get("step_id") == "remote", form
    form = await client.flow_step(form["flow_id"], {"url": url})
    assert form.get("step_id") == "remote_auth", form
    credentials = {"modem_no": modem_no, "auth_code": auth_code}

    async def submitted() -> dict[str, Any] | None:
        done = await client.flow_step(form["flow_id"], credentials)
        # A terminal's first contact may still be on its way to the server: the form says
        # "modem not found" and the user tries again.
        if done.get("errors") == {"base": "modem_not_found"}:
            return None
        return done

    done = await wait_for(submitted, "the server to know the terminal", 60, interval=1)
    assert done.get("type") == "create_entry", done
    assert done["title"] == f"SmartPower terminal {modem_no}", done
    return str(done["result"]["entry_id"])


async def pair(stack: Stack, url: str, modem_no: str, auth_code: str) -> str:
    """:func:`pair_by_flow` on the stack's Home Assistant; returns once the entry is loaded."""
    entry_id = await pair_by_flow(stack.client, url, modem_no, auth_code)
    await wait_loaded(stack, entry_id)
    return entry_id


async def entities(
    stack: Stack, entry_id: str, device_keys: Sequence[str]
) -> dict[tuple[str, str], str]:
    """Enabled entity ids of the entry by (device key, value key)."""
    found = {}
    for entity in await stack.client.entity_registry():
        if entity.get("config_entry_id") != entry_id or entity.get("disabled_by") is not None:
            continue
        # {entry id}_{device key}_{value key}; the device keys are the config's names
        rest = str(entity["unique_id"]).removeprefix(f"{entry_id}_")
        device = next((d for d in device_keys if rest.startswith(f"{d}_")), None)
        if device is not None:
            found[device, rest.removeprefix(f"{device}_")] = entity["entity_id"]
    return found


async def remove_entry(stack: Stack, entry_id: str) -> None:
    await stack.client.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")
