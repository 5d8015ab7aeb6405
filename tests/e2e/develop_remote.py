"""``scripts/develop --remote``: the simulated panel read by a terminal daemon that sends to a
SmartPower server, and Home Assistant paired with it by the slip, as a remote site would be.

Each piece runs in its own process, with its state under ``.dev/remote/`` (kept between runs;
Home Assistant's configuration is there too):

* ``terminal/`` — ``terminal.yaml`` (rewritten on every start), the daemon's state
  (identity, queue) in ``state/``, its output in ``daemon.out`` (the slips it printed, appended)
  and its log in ``daemon.log``;
* ``server/`` — the server's SQLite database and the terminals' descriptions, its log in
  ``server.log``.

The terminal's identity is made once: a second start shows the same Modem No and, when the
slip of the first start is still in ``daemon.out`` and still valid, the same auth code (else
how to renew it). Home Assistant's pairing (its token) and the server's database stay too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hardware_bridge.daemon.config import load_config
from hardware_bridge.daemon.state_files import read_status
from hardware_bridge.simulators.modbus_line import SimulatedDevice
from hardware_bridge.uplink.identity import IdentityError, TerminalIdentity

from .harness import REPO, wait_for

__all__ = [
    "SEND_PERIOD",
    "BridgeProcess",
    "RemoteSite",
    "Slip",
    "device_names",
    "remote_instructions",
    "slip_of",
    "write_terminal_config",
]

SEND_PERIOD = 30
"""Seconds between the terminal's uploads: short for a demo (the daemon warns that it is under
a minute, as it should)."""
POLL_INTERVAL = 5
"""Seconds between the terminal's polls of the Modbus devices' instantaneous values."""
SLIP_MODEM = "Modem No: "
SLIP_CODE = "Auth code (Yetki Kodu): "
_CODE = re.compile(r"^Auth code \(Yetki Kodu\): (\S+)$", re.MULTILINE)
_MODEM = re.compile(r"^Modem No: (\S+)$", re.MULTILINE)


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _bridge_command() -> str:
    """``smartpower-bridge`` as the person runs it from the checkout (the venv's script)."""
    script = Path(sys.executable).parent / "smartpower-bridge"
    return _shown(script) if script.exists() else "smartpower-bridge"


def device_names(devices: Sequence[SimulatedDevice]) -> dict[int, str]:
    """The daemon's names for the simulated Modbus devices, by address: ``io_board`` for a
    board with relays or inputs, else the profile's id (``_<address>`` when repeated)."""
    names: dict[int, str] = {}
    for device in sorted(devices, key=lambda d: d.device_id):
        name = "io_board" if device.profile.io else device.profile.id
        if name in names.values():
            name = f"{name}_{device.device_id}"
        names[device.device_id] = name
    return names


def write_terminal_config(
    folder: Path,
    *,
    modbus_port: Path,
    meter_port: Path,
    modem_port: Path,
    devices: Sequence[SimulatedDevice],
    listen_port: int,
    server_url: str,
) -> Path:
    """The daemon's ``terminal.yaml``: the simulated RS-485 line, the optical head, the modem,
    mains seen on the first device with phase voltages; rewritten on every start."""
    names = device_names(devices)
    device_lines = "".join(
        f"      - {{name: {names[d.device_id]}, address: {d.device_id}, profile: {d.profile.id}}}\n"
        for d in sorted(devices, key=lambda d: d.device_id)
    )
    analyser = next(
        (names[d.device_id] for d in devices if "voltage_l1" in d.profile.value_keys), None
    )
    mains = f"mains: {{device: {analyser}}}\n" if analyser is not None else ""
    path = folder / "terminal.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""\
# Written by scripts/develop --remote on every start (its state stays in {folder.name}/state).
state_dir: {folder / "state"}
listen: 127.0.0.1:{listen_port}
upstream: {{url: {server_url}}}
send_period: {SEND_PERIOD}s
lines:
  - name: rs485
    port: {modbus_port}
    protocol: modbus
    poll_interval: {POLL_INTERVAL}s
    slow_interval: 1m
    io_interval: 1s
    timeout: 300ms
    devices:
{device_lines}  - name: optical
    port: {meter_port}
    protocol: iec62056
    poll_interval: 1m
    devices:
      - name: main_meter
{mains}modem: {{port: {modem_port}, poll_interval: 10s}}
""",
        encoding="utf-8",
    )
    return path


class BridgeProcess:
    """A ``smartpower-bridge`` command in its own process and session (Ctrl-C in the terminal
    reaches only ``scripts/develop``, which stops the pieces in order); stdout and stderr are
    appended to files, so what earlier runs printed stays."""

    def __init__(self, name: str, argv: list[str], stdout: Path, stderr: Path) -> None:
        self.name = name
        self.argv = argv
        self.stdout_file = stdout
        self.stderr_file = stderr
        self.popen: subprocess.Popen[bytes] | None = None
        self._start_offset = 0

    def start(self) -> None:
        self.stdout_file.parent.mkdir(parents=True, exist_ok=True)
        self._start_offset = self.stdout_file.stat().st_size if self.stdout_file.exists() else 0
        out: IO[bytes]
        with self.stdout_file.open("ab") as out, self.stderr_file.open("ab") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "hardware_bridge", *self.argv],
                stdout=out,
                stderr=subprocess.STDOUT if self.stderr_file == self.stdout_file else err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def output(self) -> str:
        """What this run printed on stdout."""
        with self.stdout_file.open("rb") as file:
            file.seek(self._start_offset)
            return file.read().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        text = self.stderr_file.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def printed(self, marker: str, timeout: float = 60) -> str:  # noqa: ASYNC109
        """This run's stdout once it holds ``marker``; fails at once if the process ended."""

        async def probe() -> str | None:
            text = self.output()
            if marker in text:
                return text
            if not self.running:
                code = None if self.popen is None else self.popen.returncode
                raise RuntimeError(
                    f"{self.name} ended ({code}) before it was ready "
                    f"(see {_shown(self.stderr_file)}):\n{self.log_tail()}"
                )
            return None

        return await wait_for(probe, f"{self.name} to print {marker!r}", timeout, interval=0.2)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (a clean stop: the daemon's last upload, the server's database closed),
        SIGKILL if it has not stopped after ``timeout`` seconds."""
        popen = self.popen
        if popen is None:
            return None
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)
        return popen.returncode


@dataclass(frozen=True)
class Slip:
    """What the person types in Home Assistant: the Modem No and, when still known, the code."""

    modem_no: str
    auth_code: str | None
    first_start: bool


def slip_of(output: str, all_output: str, state_dir: Path) -> Slip:
    """The slip of this run (``output``: a first start prints one), or the last one printed
    (``all_output``: every run's) if it is still the terminal's auth code."""
    modem = _MODEM.search(output)
    if modem is None:
        raise ValueError("the daemon printed no Modem No")
    printed = _CODE.search(output)
    if printed is not None:
        return Slip(modem.group(1), printed.group(1), first_start=True)
    earlier = _CODE.findall(all_output)
    code = earlier[-1] if earlier else None
    if code is not None:
        try:
            valid = TerminalIdentity.load(state_dir).verify_auth_code(code)
        except IdentityError:
            valid = False
        if not valid:  # renewed since (auth-code --renew prints to its own terminal)
            code = None
    return Slip(modem.group(1), code, first_start=False)


@dataclass
class RemoteSite:
    """The terminal daemon and the SmartPower server of ``scripts/develop --remote``."""

    dev: Path
    server_port: int
    terminal_port: int

    def __post_init__(self) -> None:
        self.terminal_dir = self.dev / "terminal"
        self.server_dir = self.dev / "server"
        self.server_url = f"http://127.0.0.1:{self.server_port}"
        self.config = self.terminal_dir / "terminal.yaml"
        self.server = BridgeProcess(
            "the SmartPower server",
            [
                "server",
                "--listen",
                f"127.0.0.1:{self.server_port}",
                "--state-dir",
                str(self.server_dir),
            ],
            self.server_dir / "server.log",
            self.server_dir / "server.log",
        )
        self.daemon = BridgeProcess(
            "the terminal daemon",
            ["run", "--config", str(self.config), "--no-qr"],
            self.terminal_dir / "daemon.out",
            self.terminal_dir / "daemon.log",
        )

    async def start(self) -> Slip:
        """Server first (the daemon enrols with it at its first contact), then the daemon; the
        terminal contacts the server at once (``upload-now``) so it can be paired right away."""
        self.server.start()
        await self.server.printed("listening on ")
        self.daemon.start()
        output = await self.daemon.printed("listening on ")
        slip = slip_of(
            output,
            self.daemon.stdout_file.read_text(encoding="utf-8", errors="replace"),
            self.terminal_dir / "state",
        )
        await self._first_contact()
        return slip

    def warnings(self) -> list[str]:
        """What the daemon warns about its configuration (the short send period)."""
        return list(load_config(self.config).warnings)

    async def _first_contact(self) -> None:
        """``upload-now`` once the terminal has queued its first readings (a request before
        that finds nothing to send), and wait until the server acknowledged them: the server
        knows the terminal, and pairing works at once."""
        state_dir = self.terminal_dir / "state"
        started = read_status(state_dir) or {}

        async def queued() -> bool:
            return bool((read_status(state_dir) or {}).get("queue_depth"))

        async def delivered() -> bool:
            last = (read_status(state_dir) or {}).get("last_upload")
            return last is not None and last != started.get("last_upload")

        with contextlib.suppress(TimeoutError):
            await wait_for(queued, "the terminal's first readings", 30, interval=0.2)
        if self.daemon.pid is not None:
            os.kill(self.daemon.pid, signal.SIGUSR1)  # what upload-now does
        with contextlib.suppress(TimeoutError):  # else it tries again every send period
            await wait_for(delivered, "the terminal's first upload", 30, interval=0.2)

    async def stop(self) -> None:
        """The daemon (its last upload goes to the server), then the server."""
        loop = asyncio.get_running_loop()
        for process in (self.daemon, self.server):
            with contextlib.suppress(OSError):
                await loop.run_in_executor(None, process.stop)

    def exited(self) -> BridgeProcess | None:
        """A piece that stopped by itself, if any."""
        for process in (self.server, self.daemon):
            if process.popen is not None and not process.running:
                return process
        return None


def remote_instructions(
    url: str,
    site: RemoteSite,
    slip: Slip,
    config_dir: Path,
    *,
    control_url: str | None,
    controls_help: str,
) -> str:
    """What ``scripts/develop --remote`` prints once everything runs."""
    config = _shown(config_dir)
    server_log = _shown(site.server.stderr_file)
    bridge = _bridge_command()
    terminal_config = _shown(site.config)
    renew = f"{bridge} auth-code --renew --config {terminal_config}"
    if slip.auth_code is not None:
        where = (
            "printed just now by the terminal's first start"
            if slip.first_start
            else f"printed at the terminal's first start, kept in {_shown(site.daemon.stdout_file)}"
        )
        code_line = f"Auth code (Yetki Kodu): {slip.auth_code}\n       ({where})"
    else:
        code_line = (
            "Auth code (Yetki Kodu): the one printed at the terminal's first start\n"
            f"       (in {_shown(site.daemon.stdout_file)}, unless renewed since);"
            " lost? renew it:\n"
            f"         {renew}"
        )
    sent = f", or from another shell:\n  curl -d i3 {control_url}/" if control_url else ""
    return f"""
Home Assistant is running at {url}  (log: {config}/home-assistant.log)
The terminal daemon reads the simulated panel and sends to the SmartPower server every
{SEND_PERIOD} s (config {terminal_config}, log {_shown(site.daemon.stderr_file)}); the server
runs at {site.server_url} (SQLite in {_shown(site.server_dir)}, log {server_log}).

  1. Open {url} and create your user (first start only).
  2. Settings → Devices & services → Add integration → "SmartPower Terminal",
     Line protocol "Remote terminal (SmartPower server or a terminal on the network)",
     leave the serial port empty.
  3. Server URL: {site.server_url}
  4. Modem No: {slip.modem_no}
     {code_line}
     (Already paired? Nothing to do: the pairing is kept in {config}.)
  5. The terminal's devices appear with their values: the Modbus devices are read every
     {POLL_INTERVAL} s and sent every {SEND_PERIOD} s; alarms (the mains cut, an input changed)
     go at once. To send now:
       {bridge} upload-now --config {terminal_config}
     Directly on the LAN instead (no server): Server URL http://127.0.0.1:{site.terminal_port}
     (the daemon's own API), same Modem No and auth code.

The panel is in your hands: type a command and Enter here{sent}
{controls_help}
  (the terminal sees a mains cut on the analyser's voltages and reports it at once; the modem's
  signal and registration go with its next batch; the terminal's own view:
    {bridge} status --config {terminal_config})

Ctrl-C stops Home Assistant, the terminal daemon, the server and the simulators.
"""
