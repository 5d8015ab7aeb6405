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

Each time Home Assistant is then stopped while the panel's clock runs on for more than two
hours (libfaketime moves the wall clock of Home Assistant, the daemon and the server, and the
simulators integrate the time passed: :mod:`fake_clock`); started again, the energy counter's
hourly statistics hold, for every hour it missed, that hour's last reading and energy, taken
from the terminal's history (the recorder's own rows for those hours show no increase).

One Home Assistant process and one simulated line serve the module; the tests run in file order.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.api import SmartPowerClient
from hardware_bridge.simulators.modbus_line import SimulatedDevice

from .fake_clock import FakeClock, libfaketime
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
def clock(tmp_path_factory: pytest.TempPathFactory) -> FakeClock | None:
    """The panel's wall clock, which the hour tests move; None without libfaketime (those
    tests are skipped then, or fail where ``SMARTPOWER_E2E_FAKETIME=required``)."""
    library = libfaketime()
    if library is None:
        if os.environ.get("SMARTPOWER_E2E_FAKETIME") == "required":
            pytest.fail("libfaketime is required (Debian: apt-get install libfaketime)")
        return None
    return FakeClock(tmp_path_factory.mktemp("clock"), library)


def on_clock(clock: FakeClock | None) -> dict[str, str]:
    return {} if clock is None else clock.environment()


@pytest.fixture(scope="module")
def home_assistant(
    tmp_path_factory: pytest.TempPathFactory, clock: FakeClock | None
) -> Generator[Stack]:
    catalogue = load_catalogue()
    devices = [
        SimulatedDevice(device_id=ANALYSER_ID, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=BOARD_ID, profile=catalogue.get(BOARD)),
    ]
    root = tmp_path_factory.mktemp("e2e-network")
    yield from serve(
        lambda: Stack(
            root, devices=devices, environment=on_clock(clock), integrations=("recorder",)
        )
    )


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
    hass_stack: Stack, clock: FakeClock | None, processes: list[Process], tmp_path: Path
) -> None:
    stack = hass_stack
    server, server_url = start_server(stack, tmp_path, on_clock(clock))
    processes.append(server)
    config = write_daemon_config(
        tmp_path / "terminal", stack.panel.modbus_port, server_url, DEVICES
    )
    daemon = Daemon(tmp_path / "terminal", config, on_clock(clock))
    processes.append(daemon)
    printed = slip(stack, daemon)
    modem_no, auth_code = printed.modem_no, printed.auth_code
    daemon.upload_now()  # enrolled and described on the server without waiting a period

    async def scenario() -> None:
        entry_id = await pair(stack, server_url, modem_no, auth_code)
        found = await values_match(stack, entry_id)
        await relay_and_input_round_trip(stack, found, 1, daemon)
        await restarted_while_the_terminal_sends(stack, entry_id, found, daemon)
        if clock is not None:
            terminal = Terminal(server_url, modem_no, auth_code, daemon)
            await missed_hours_are_in_the_statistics(stack, found, terminal, clock)
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


@dataclass(frozen=True, slots=True)
class Terminal:
    """Where Home Assistant reads a terminal (a server or the daemon itself), and the daemon
    when uploads go through a server."""

    url: str
    modem_no: str
    auth_code: str
    uploader: Daemon | None


COUNTER = ("analyser", "energy_import_total")  # kWh, total_increasing, slow group
STEP = 900  # the walk's step on the panel's clock: a 15-minute send period


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def hourly_statistics(stack: Stack, entity_id: str, start: datetime) -> list[dict[str, Any]]:
    """The entity's hourly long-term statistics from ``start``, as the energy dashboard asks."""
    result = await stack.client.ws(
        {
            "type": "recorder/statistics_during_period",
            "start_time": start.isoformat(),
            "period": "hour",
            "statistic_ids": [entity_id],
            "types": ["state", "sum"],
        }
    )
    rows: list[dict[str, Any]] = result.get(entity_id, [])
    for row in rows:  # milliseconds since the epoch on current releases, ISO text on old ones
        start_value = row["start"]
        row["start"] = (
            datetime.fromtimestamp(start_value / 1000, UTC)
            if isinstance(start_value, int | float)
            else datetime.fromisoformat(start_value)
        )
    return rows


async def counter_at_the_terminal(terminal: Terminal, since: datetime, expected: float) -> None:
    """Wait until the terminal's latest counter reading is the simulator's ``expected`` value,
    taken at ``since`` or later on the panel's clock (uploaded first when through a server)."""
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        client = SmartPowerClient(session, terminal.url)
        await client.claim(terminal.modem_no, terminal.auth_code)

        async def arrived() -> bool:
            if terminal.uploader is not None:
                await loop.run_in_executor(None, terminal.uploader.upload_now)
            page = await client.latest(terminal.modem_no)
            return any(
                (r.device, r.key) == COUNTER
                and r.time >= since
                and isinstance(r.value, float | int)
                and math.isclose(r.value, expected, rel_tol=1e-6)
                for r in page.readings
            )

        await wait_for(arrived, f"the counter's reading of {since:%H:%M} at the terminal", 60)


async def missed_hours_are_in_the_statistics(
    stack: Stack, found: dict[tuple[str, str], str], terminal: Terminal, clock: FakeClock
) -> None:
    """Home Assistant is stopped while the panel's clock runs on for more than two hours in
    15-minute steps (the counter's readings reach the terminal at each step); started again,
    the energy counter's hourly statistics have a row for every hour, each the counter's last
    reading of that hour, and the sums follow the counter: no hole in the energy dashboard,
    and no hour's energy put in another hour."""
    energy = found[COUNTER]
    modbus = stack.panel.modbus
    loop = asyncio.get_running_loop()
    readings: list[tuple[datetime, float]] = []  # (taken at or after, counter value)
    stopped_at: list[datetime] = []

    async def walk() -> None:
        stopped_at.append(clock.now())
        end = hour_of(clock.now()) + timedelta(hours=2, minutes=5)
        while clock.now() < end:
            await loop.run_in_executor(None, clock.advance, STEP, modbus.advance)
            taken = clock.now()
            value = float(modbus.values(ANALYSER_ID)[COUNTER[1]])
            await counter_at_the_terminal(terminal, taken, value)
            readings.append((taken, value))

    first_hour = hour_of(clock.now())
    problems = await stack.restart(walk)
    assert not problems, "Home Assistant logged before its restart:\n" + explain(problems)
    now_hour = hour_of(clock.now())
    last = readings[-1][1]
    await stack.client.wait_for_state(
        energy, lambda s: _close(s["state"], last), f"to show {last} kWh", 90
    )

    def last_reading(hour: datetime) -> float | None:
        values = [v for taken, v in readings if hour_of(taken) == hour]
        return values[-1] if values else None

    wanted = [first_hour + timedelta(hours=h) for h in range(1, 3)]
    wanted = [h for h in wanted if h < now_hour]
    assert wanted, (first_hour, now_hour)
    shown: list[dict[str, Any]] = []

    async def filled() -> bool:
        shown[:] = await hourly_statistics(stack, energy, first_hour)
        states = {row["start"]: row["state"] for row in shown}
        return all(
            hour in states and _close(str(states[hour]), last_reading(hour) or math.nan)
            for hour in wanted
        )

    try:
        await wait_for(filled, "the missed hours in the counter's statistics", 60)
    except TimeoutError as err:
        raise AssertionError(
            f"Home Assistant stopped at {stopped_at[0]:%H:%M:%S} and started at "
            f"{clock.now():%H:%M:%S} (panel clock); hourly rows:\n"
            + "\n".join(f"  {r['start']:%H:%M} state {r['state']} sum {r['sum']}" for r in shown)
            + f"\nreadings: {[(f'{t:%H:%M}', v) for t, v in readings]}"
        ) from err
    rows = {row["start"]: row for row in shown}
    described = "\n".join(
        f"  {r['start']:%H:%M} state {r['state']} sum {r['sum']} (last reading of the hour: "
        f"{last_reading(r['start'])})"
        for r in shown
    )
    for hour in wanted:
        expected = last_reading(hour)
        assert expected is not None, described
        assert _close(str(rows[hour]["state"]), expected), described
        before = rows.get(hour - timedelta(hours=1))
        assert before is not None, described
        # the hour's energy: what the counter rose by from the last reading of the hour before
        energy_of_hour = float(rows[hour]["state"]) - float(before["state"])
        assert math.isclose(
            float(rows[hour]["sum"]) - float(before["sum"]), energy_of_hour, abs_tol=1e-6
        ), described
        assert energy_of_hour > 0, described


# -- 2. directly on the LAN ----------------------------------------------------------------------
def test_directly_at_the_daemon_on_the_lan(
    hass_stack: Stack, clock: FakeClock | None, processes: list[Process], tmp_path: Path
) -> None:
    stack = hass_stack
    config = write_daemon_config(tmp_path / "terminal", stack.panel.modbus_port, None, DEVICES)
    daemon = Daemon(tmp_path / "terminal", config, on_clock(clock))
    processes.append(daemon)
    printed = slip(stack, daemon)
    modem_no, auth_code, api_url = printed.modem_no, printed.auth_code, printed.api_url
    assert api_url.startswith("http://127.0.0.1:"), api_url

    async def scenario() -> None:
        entry_id = await pair(stack, api_url, modem_no, auth_code)
        found = await values_match(stack, entry_id)
        await relay_and_input_round_trip(stack, found, 2, None)
        if clock is not None:
            terminal = Terminal(api_url, modem_no, auth_code, None)
            await missed_hours_are_in_the_statistics(stack, found, terminal, clock)
        await remove_entry(stack, entry_id)

    stack.run(scenario())
    assert auth_code not in daemon.stderr


# -- 3. a healthy run is quiet ------------------------------------------------------------------
def test_home_assistant_logged_no_error_and_no_blocking_call(hass_stack: Stack) -> None:
    problems = hass_stack.log_problems()
    assert not problems, "Home Assistant logged:\n" + explain(problems)


def test_the_missed_hours_were_checked(clock: FakeClock | None) -> None:
    """The missed-hour steps of the tests above need the panel's clock (libfaketime)."""
    if clock is None:
        pytest.skip("libfaketime is not installed: the missed hours were not checked")
