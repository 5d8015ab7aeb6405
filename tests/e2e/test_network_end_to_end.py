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
from collections.abc import Generator
from pathlib import Path

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.modbus_line import SimulatedDevice

from .harness import wait_for
from .stack import Stack, explain, serve, wait_loaded
from .terminals import (
    Daemon,
    Process,
    TerminalDevice,
    entities,
    pair,
    remove_entry,
    slip,
    start_server,
    write_daemon_config,
)

pytestmark = pytest.mark.e2e

ANALYSER_ID = 1  # Eastron SDM630
BOARD_ID = 3  # Waveshare Modbus RTU Relay (D): 8 relays, 8 inputs
BOARD = "waveshare_relay_8ch_d"
DEVICES = (
    TerminalDevice("analyser", ANALYSER_ID, "eastron_sdm630"),
    TerminalDevice("io_board", BOARD_ID, BOARD),
)
DEVICE_KEYS = tuple(d.name for d in DEVICES)  # the devices' names in the daemon's config


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
        found = await entities(stack, entry_id, DEVICE_KEYS)
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


# -- 1. through a SmartPower server --------------------------------------------------------------
def test_through_a_server_paired_by_the_slip(
    hass_stack: Stack, processes: list[Process], tmp_path: Path
) -> None:
    stack = hass_stack
    server, server_url = start_server(stack, tmp_path)
    processes.append(server)
    config = write_daemon_config(
        tmp_path / "terminal", stack.panel.modbus_port, server_url, DEVICES
    )
    daemon = Daemon(tmp_path / "terminal", config)
    processes.append(daemon)
    printed = slip(stack, daemon)
    modem_no, auth_code = printed.modem_no, printed.auth_code
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
    config = write_daemon_config(tmp_path / "terminal", stack.panel.modbus_port, None, DEVICES)
    daemon = Daemon(tmp_path / "terminal", config)
    processes.append(daemon)
    printed = slip(stack, daemon)
    modem_no, auth_code, api_url = printed.modem_no, printed.auth_code, printed.api_url
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
