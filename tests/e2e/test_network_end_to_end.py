"""End to end: a terminal in network mode, paired with a real Home Assistant by its slip.

The terminal daemon (its own process) reads a simulated RS-485 line with an Eastron SDM630
analyser and a Waveshare Modbus RTU Relay (D) board. First it sends its readings to a SmartPower
server (its own process, SQLite in a temporary folder) and Home Assistant pairs through that
server with the Modem No and auth code the daemon printed; then a second daemon, in LAN-only
mode, is paired directly at its own local API. Each time the analyser's values in Home Assistant
are the simulator's, a relay switched in Home Assistant energises the board's coil (through the
server: on the terminal's next contact, asked for at once with ``upload-now``), and an input
closed on the board turns Home Assistant's binary sensor on. Through the server, Home Assistant
is then stopped while the terminal goes on sending (the contact opens meanwhile) and started
again: still paired, it shows what was sent while it was down.

Not covered here: the hours Home Assistant missed imported into its long-term statistics. Only
whole hours are filled, from the server's history of those hours, and the daemon's readings
carry the real time: a test of minutes has no missed hour to see (the unit tests of
``remote_statistics`` cover the import against a server's history).

One Home Assistant process and one simulated line serve the module; the tests run in file order.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.modbus_line import SimulatedDevice

from .harness import DOMAIN, free_port, wait_for
from .stack import Stack, explain, serve, wait_loaded

pytestmark = pytest.mark.e2e

ANALYSER_ID = 1  # Eastron SDM630
BOARD_ID = 3  # Waveshare Modbus RTU Relay (D): 8 relays, 8 inputs
BOARD = "waveshare_relay_8ch_d"
SEND_PERIOD = "10s"  # under a minute: accepted with a warning (demos and tests)
DEVICE_KEYS = ("analyser", "io_board")  # the devices' names in the daemon's config
SLIP_MODEM = "Modem No: "
SLIP_CODE = "Auth code (Yetki Kodu): "


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Generator[Stack]:
    catalogue = load_catalogue()
    devices = [
        SimulatedDevice(device_id=ANALYSER_ID, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=BOARD_ID, profile=catalogue.get(BOARD)),
    ]
    root = tmp_path_factory.mktemp("e2e-network")
    yield from serve(lambda: Stack(root, devices=devices))


@pytest.fixture
def hass_stack(home_assistant: Stack, socket_enabled: None) -> Stack:
    """The shared stack, with sockets allowed for this test (HA's test plugin blocks them)."""
    return home_assistant


# -- the daemon and the server as processes ------------------------------------------------------
class Process:
    """A ``smartpower-bridge`` command in its own process; its stdout and stderr go to files
    (a pipe nobody reads would stall it)."""

    def __init__(self, folder: Path, name: str, argv: list[str]) -> None:
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
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
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


def _after(text: str, marker: str) -> str:
    return text.split(marker, 1)[1].split()[0]


def write_daemon_config(folder: Path, port: Path, upstream: str | None) -> Path:
    """A terminal with the simulated line, its local API on a free loopback port."""
    upstream_block = f"upstream: {{url: {upstream}}}\n" if upstream else ""
    path = folder / "terminal.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""\
state_dir: {folder / "state"}
listen: 127.0.0.1:{free_port()}
send_period: {SEND_PERIOD}
{upstream_block}lines:
  - name: rs485
    port: {port}
    protocol: modbus
    poll_interval: 2s
    slow_interval: 5s
    io_interval: 1s
    timeout: 300ms
    devices:
      - {{name: analyser, address: {ANALYSER_ID}, profile: eastron_sdm630}}
      - {{name: io_board, address: {BOARD_ID}, profile: {BOARD}}}
""",
        encoding="utf-8",
    )
    return path


class Daemon(Process):
    def __init__(self, folder: Path, config: Path) -> None:
        super().__init__(folder, "daemon", ["run", "--config", str(config)])
        self.config = config

    def upload_now(self) -> None:
        """``smartpower-bridge upload-now``: the terminal contacts its server at once."""
        done = subprocess.run(
            [sys.executable, "-m", "hardware_bridge", "upload-now", "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done


# a record's level: at the start of the line, after the time where one is logged
_ERROR = re.compile(r"^(?:\d{4}-\d\d-\d\d [\d:,.]+ )?(?:ERROR|CRITICAL) ", re.MULTILINE)


def no_traceback(process: Process) -> None:
    """Healthy operation: no traceback and no error in what the process logged."""
    text = process.stderr
    assert "Traceback" not in text, f"{process.name} wrote:\n{text}"
    assert not _ERROR.search(text), f"{process.name} logged an error:\n{text}"


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Processes a test starts; stopped at its end, and none may have written a traceback."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()
    for process in started:
        no_traceback(process)


# -- Home Assistant's side -----------------------------------------------------------------------
async def pair(stack: Stack, url: str, modem_no: str, auth_code: str) -> str:
    """Add integration → Remote terminal → the URL → Modem No + auth code, as the frontend does;
    returns the new entry's id once it is loaded."""
    client = stack.client
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
    entry_id = str(done["result"]["entry_id"])
    await wait_loaded(stack, entry_id)
    return entry_id


async def entities(stack: Stack, entry_id: str) -> dict[tuple[str, str], str]:
    """Enabled entity ids of the entry by (device key, value key)."""
    found = {}
    for entity in await stack.client.entity_registry():
        if entity.get("config_entry_id") != entry_id or entity.get("disabled_by") is not None:
            continue
        # {entry id}_{device key}_{value key}; the device keys are the config's names
        rest = str(entity["unique_id"]).removeprefix(f"{entry_id}_")
        device = next((d for d in DEVICE_KEYS if rest.startswith(f"{d}_")), None)
        if device is not None:
            found[device, rest.removeprefix(f"{device}_")] = entity["entity_id"]
    return found


def _close(state: str, expected: float) -> bool:
    try:
        value = float(state)
    except ValueError:
        return False
    return math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-3)


async def analyser_mismatches(
    stack: Stack, found: dict[tuple[str, str], str]
) -> tuple[int, list[str]]:
    """How many of the analyser's entities were compared with the simulator, and which differ."""
    served = stack.panel.modbus.values(ANALYSER_ID)
    compared, wrong = 0, []
    for (device, key), entity_id in sorted(found.items()):
        if device != "analyser" or served.get(key) is None:
            continue
        state = await stack.client.state(entity_id)
        expected = served[key]
        compared += 1
        if state is None or not _close(state["state"], float(expected)):
            shown = None if state is None else state["state"]
            wrong.append(f"{entity_id}: HA shows {shown}, the analyser sends {expected}")
    return compared, wrong


async def values_match(stack: Stack, entry_id: str) -> dict[tuple[str, str], str]:
    """Wait until every analyser value in Home Assistant is the simulator's; the entities."""
    last: list[str] = []

    async def probe() -> dict[tuple[str, str], str] | None:
        found = await entities(stack, entry_id)
        compared, wrong = await analyser_mismatches(stack, found)
        last[:] = wrong or [f"{compared} values compared"]
        return found if compared >= 5 and not wrong else None

    try:
        return await wait_for(probe, "the analyser's values in Home Assistant", 90)
    except TimeoutError as err:
        raise AssertionError("\n".join(last)) from err


def relay_and_input(found: dict[tuple[str, str], str], n: int) -> tuple[str, str]:
    assert ("io_board", f"relay_{n}") in found, sorted(k for k in found if k[0] != "analyser")
    return found["io_board", f"relay_{n}"], found["io_board", f"input_{n}"]


async def relay_and_input_round_trip(
    stack: Stack, found: dict[tuple[str, str], str], n: int, daemon: Daemon | None
) -> None:
    """Relay ``n`` switched on in Home Assistant reaches the board's coil (``daemon`` given:
    through the server, on the terminal's next contact); input ``n`` closed on the board
    reaches Home Assistant."""
    client = stack.client
    board = stack.panel.modbus.board(BOARD_ID)
    relay, contact = relay_and_input(found, n)
    await client.wait_for_state(relay, lambda s: s["state"] == "off", "to be off", 60)
    await client.wait_for_state(contact, lambda s: s["state"] == "off", "to be off", 60)
    before = list(board.relays)
    assert before[n - 1] is False

    await client.call_service("switch", "turn_on", {"entity_id": relay})
    if daemon is not None:
        daemon.upload_now()

    async def coil_on() -> bool:
        return board.relays[n - 1]

    await wait_for(coil_on, f"the board's relay {n} coil to be energised", 30)
    assert board.relays == [on or i == n - 1 for i, on in enumerate(before)], board.relays
    await client.wait_for_state(relay, lambda s: s["state"] == "on", "to be on", 60)

    board.set_input(n, True)
    await client.wait_for_state(contact, lambda s: s["state"] == "on", "to be on", 60)


async def remove_entry(stack: Stack, entry_id: str) -> None:
    await stack.client.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")


# -- 1. through a SmartPower server --------------------------------------------------------------
def test_through_a_server_paired_by_the_slip(
    hass_stack: Stack, processes: list[Process], tmp_path: Path
) -> None:
    stack = hass_stack
    server = Process(
        tmp_path,
        "server",
        ["server", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "server")],
    )
    processes.append(server)
    server_url = _after(stack.run(server.printed("listening on ")), "listening on ")
    assert server_url.startswith("http://127.0.0.1:"), server_url

    config = write_daemon_config(tmp_path / "terminal", stack.panel.modbus_port, server_url)
    daemon = Daemon(tmp_path / "terminal", config)
    processes.append(daemon)
    slip = stack.run(daemon.printed("listening on "))
    modem_no, auth_code = _after(slip, SLIP_MODEM), _after(slip, SLIP_CODE)
    daemon.upload_now()  # enrolled and described on the server without waiting a period

    async def scenario() -> None:
        entry_id = await pair(stack, server_url, modem_no, auth_code)
        found = await values_match(stack, entry_id)
        await relay_and_input_round_trip(stack, found, 1, daemon)
        await restarted_while_the_terminal_sends(stack, entry_id, found, daemon)
        await remove_entry(stack, entry_id)

    stack.run(scenario())
    assert auth_code not in daemon.stderr + server.stderr


async def restarted_while_the_terminal_sends(
    stack: Stack, entry_id: str, found: dict[tuple[str, str], str], daemon: Daemon
) -> None:
    """Home Assistant stopped; meanwhile the door contact opens again and the terminal sends.
    Started again, it is still paired (the stored token), and shows what the terminal sent
    while it was down: the input's new state, the relay still on, the analyser's values."""
    board = stack.panel.modbus.board(BOARD_ID)

    async def meanwhile() -> None:
        board.set_input(1, False)
        await asyncio.get_running_loop().run_in_executor(None, daemon.upload_now)

    problems = await stack.restart(meanwhile)
    assert not problems, "Home Assistant logged before its restart:\n" + explain(problems)
    await wait_loaded(stack, entry_id)
    relay, contact = relay_and_input(found, 1)
    await stack.client.wait_for_state(contact, lambda s: s["state"] == "off", "to be off", 60)
    await stack.client.wait_for_state(relay, lambda s: s["state"] == "on", "to be on", 60)
    assert board.relays[0] is True
    assert await values_match(stack, entry_id) == found


# -- 2. directly on the LAN ----------------------------------------------------------------------
def test_directly_at_the_daemon_on_the_lan(
    hass_stack: Stack, processes: list[Process], tmp_path: Path
) -> None:
    stack = hass_stack
    config = write_daemon_config(tmp_path / "terminal", stack.panel.modbus_port, None)
    daemon = Daemon(tmp_path / "terminal", config)
    processes.append(daemon)
    slip = stack.run(daemon.printed("listening on "))
    modem_no, auth_code = _after(slip, SLIP_MODEM), _after(slip, SLIP_CODE)
    api_url = _after(slip, "listening on ")
    assert api_url.startswith("http://127.0.0.1:"), api_url

    async def scenario() -> None:
        entry_id = await pair(stack, api_url, modem_no, auth_code)
        found = await values_match(stack, entry_id)
        await relay_and_input_round_trip(stack, found, 2, None)
        await remove_entry(stack, entry_id)

    stack.run(scenario())
    assert auth_code not in daemon.stderr


# -- 3. a healthy run is quiet ------------------------------------------------------------------
def test_home_assistant_logged_no_error_and_no_blocking_call(hass_stack: Stack) -> None:
    problems = hass_stack.log_problems()
    assert not problems, "Home Assistant logged:\n" + explain(problems)
