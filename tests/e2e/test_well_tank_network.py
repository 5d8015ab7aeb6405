"""End to end: the well–tank blueprint drives a pump on one terminal from a float on another.

Terminal A stands at the tank: the tank's low-level float is a dry contact on an input of its
Waveshare Modbus RTU Relay (D) board. Terminal B stands at the well: the pump's contactor hangs
on a relay of its Waveshare Modbus RTU Relay board, on a line of its own. Each terminal is a
daemon in its own process sending to one SmartPower server (its own process); Home Assistant
pairs with both through the server by their slips, and runs the shipped well–tank blueprint,
installed the way a user does (the file in ``blueprints/automation/smartpower_terminal/`` of the
config folder, the automation saved through the automation editor's API).

The water falls below the low mark: the float closes on board A, Home Assistant switches the
pump on, the command reaches terminal B through the wait for commands it keeps open at the
server (within seconds, though its send period is an hour: nobody asks it to upload), and board
B's coil is energised; only then does Home Assistant show the pump on. The tank fills: the
float opens and the pump stops the same way. Terminal B has nothing but its relay board:
nothing it reads changes while the pump waits, and its relay must stay available in Home
Assistant.

The automation's minimum on and off times are 0 (the blueprint allows it); its longest run and
fill time are at their smallest, 5 minutes, longer than the test.

One Home Assistant process serves the module; the tests run in file order.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.modbus_io_boards import IoBoard
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

from .harness import REPO, wait_for
from .stack import Stack, explain, serve
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

BLUEPRINT = "smartpower_terminal/well_tank_pump.yaml"
TANK_BOARD = TerminalDevice("tank_board", 3, "waveshare_relay_8ch_d")  # terminal A
PUMP_BOARD = TerminalDevice("pump_board", 5, "waveshare_relay_8ch")  # terminal B
FLOAT_INPUT = 2  # the tank's low-level float on board A: closed while the tank needs water
PUMP_RELAY = 3  # the pump's contactor on board B
AUTOMATION_ID = "well_tank_pump"


class AutomationStack(Stack):
    """The module's stack, its configuration as a user's: automations the editor saves are
    in ``automations.yaml``, included from ``configuration.yaml`` (as in Home Assistant's
    default configuration), and the well–tank blueprint is in the config folder."""

    async def _start(self) -> None:
        config = self.config_dir / "configuration.yaml"  # written by Stack.start just before
        with config.open("a", encoding="utf-8") as out:
            out.write("automation: !include automations.yaml\n")
        automations = self.config_dir / "automations.yaml"
        if not automations.exists():
            automations.write_text("[]\n", encoding="utf-8")
        target = self.config_dir / "blueprints" / "automation" / BLUEPRINT
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "blueprints" / "automation" / BLUEPRINT, target)
        await super()._start()


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Generator[Stack]:
    catalogue = load_catalogue()
    tank_board = SimulatedDevice(
        device_id=TANK_BOARD.address, profile=catalogue.get(TANK_BOARD.profile)
    )
    root = tmp_path_factory.mktemp("e2e-well-tank")
    yield from serve(lambda: AutomationStack(root, devices=[tank_board]))


@pytest.fixture(scope="module")
def pump_line(home_assistant: Stack) -> Generator[ModbusLineSimulator]:
    """Terminal B's RS-485 line with the pump's relay board, served on the stack's loop."""
    device = SimulatedDevice(
        device_id=PUMP_BOARD.address, profile=load_catalogue().get(PUMP_BOARD.profile)
    )
    line = ModbusLineSimulator([device])
    home_assistant.run(line.start())
    try:
        yield line
    finally:
        home_assistant.run(line.stop())


@pytest.fixture
def hass_stack(home_assistant: Stack, socket_enabled: None) -> Stack:
    """The shared stack, with sockets allowed for this test (HA's test plugin blocks them)."""
    return home_assistant


def start_terminal(
    stack: Stack,
    folder: Path,
    port: Path,
    server_url: str,
    device: TerminalDevice,
    send_period: str = "10s",
) -> tuple[Daemon, str, str]:
    """A terminal daemon sending to the server; it, its Modem No and its auth code."""
    config = write_daemon_config(folder, port, server_url, (device,), send_period=send_period)
    daemon = Daemon(folder, config)
    printed = slip(stack, daemon)
    return daemon, printed.modem_no, printed.auth_code


async def entity_of(stack: Stack, entry_id: str, device: TerminalDevice, key: str) -> str:
    found = await entities(stack, entry_id, (device.name,))
    assert (device.name, key) in found, sorted(found)
    return found[device.name, key]


async def save_automation(stack: Stack, tank_low: str, pump: str) -> str:
    """Settings → Automations → Create from the blueprint → Save, as the editor does; the
    automation's entity id once it is on."""
    client = stack.client
    config = {
        "alias": "Well pump",
        "description": "Fills the tank from the well",
        "use_blueprint": {
            "path": BLUEPRINT,
            "input": {
                "tank_low": tank_low,
                "pump_switch": pump,
                "min_on_time": 0,
                "min_off_time": 0,
                "max_runtime": 5,  # the smallest the blueprint allows
                "fill_timeout": 5,
            },
        },
    }
    saved = await client.post(f"/api/config/automation/config/{AUTOMATION_ID}", config)
    assert saved == {"result": "ok"}, saved

    async def automation_on() -> str | None:
        for entity in await client.entity_registry():
            if entity.get("platform") == "automation" and entity["unique_id"] == AUTOMATION_ID:
                state = await client.state(entity["entity_id"])
                if state is not None and state["state"] == "on":
                    return str(entity["entity_id"])
        return None

    return await wait_for(automation_on, "the saved automation to be on", 60)


async def pump_switched(stack: Stack, pump: str, board: IoBoard, on: bool) -> dict[str, Any]:
    """The blueprint asked for the pump ``on``/off: Home Assistant shows the pump as it was
    until board B's coil follows — within seconds, terminal B's wait for commands brings it
    (nobody asks the terminal to upload, and its send period is an hour) — and only the coil's
    confirmed state shows in Home Assistant. The pump's final state."""
    client = stack.client
    before = list(board.relays)
    was = "off" if on else "on"

    async def commanded() -> bool:
        state = await client.state(pump)
        if board.relays[PUMP_RELAY - 1] is on:  # the terminal's own contact came first
            return True
        if state is None or state["attributes"].get("command") != "pending":
            return False
        assert state["state"] == was, f"{pump} shows {state['state']} before the coil moved"
        return True

    await wait_for(commanded, f"Home Assistant to command the pump {'on' if on else 'off'}", 60)

    async def coil() -> bool:
        return board.relays[PUMP_RELAY - 1] is on

    # seconds, not terminal B's send period (an hour): the command does not wait for an upload
    await wait_for(coil, f"board B's relay {PUMP_RELAY} to be {'on' if on else 'off'}", 20)
    expected = [on if i == PUMP_RELAY - 1 else s for i, s in enumerate(before)]
    assert board.relays == expected, board.relays
    return await client.wait_for_state(
        pump,
        lambda s: s["state"] == ("on" if on else "off") and "command" not in s["attributes"],
        f"to show the confirmed {'on' if on else 'off'}",
        60,
    )


# -- 1. the float on terminal A runs the pump on terminal B --------------------------------------
def test_the_tank_float_on_one_terminal_runs_the_pump_on_another(
    hass_stack: Stack, pump_line: ModbusLineSimulator, processes: list[Process], tmp_path: Path
) -> None:
    stack = hass_stack
    server, server_url = start_server(stack, tmp_path)
    processes.append(server)
    tank, modem_a, code_a = start_terminal(
        stack, tmp_path / "terminal-a", stack.panel.modbus_port, server_url, TANK_BOARD
    )
    processes.append(tank)
    # terminal B uploads once an hour: only its wait for commands brings the pump's commands
    well, modem_b, code_b = start_terminal(
        stack, tmp_path / "terminal-b", Path(pump_line.path), server_url, PUMP_BOARD, "60m"
    )
    processes.append(well)
    for daemon in (tank, well):  # enrolled and described without waiting a period
        daemon.upload_now()
    float_contact = stack.panel.modbus.board(TANK_BOARD.address)
    pump_board = pump_line.board(PUMP_BOARD.address)

    async def scenario() -> None:
        client = stack.client
        entry_a = await pair(stack, server_url, modem_a, code_a)
        entry_b = await pair(stack, server_url, modem_b, code_b)
        tank_low = await entity_of(stack, entry_a, TANK_BOARD, f"input_{FLOAT_INPUT}")
        pump = await entity_of(stack, entry_b, PUMP_BOARD, f"relay_{PUMP_RELAY}")
        await client.wait_for_state(tank_low, lambda s: s["state"] == "off", "to be off", 60)
        await client.wait_for_state(pump, lambda s: s["state"] == "off", "to be off", 60)
        automation = await save_automation(stack, tank_low, pump)

        # The water falls below the low mark.
        float_contact.set_input(FLOAT_INPUT, True)
        await client.wait_for_state(tank_low, lambda s: s["state"] == "on", "to be on", 60)
        await pump_switched(stack, pump, pump_board, on=True)

        # The tank is full.
        float_contact.set_input(FLOAT_INPUT, False)
        await client.wait_for_state(tank_low, lambda s: s["state"] == "off", "to be off", 60)
        await pump_switched(stack, pump, pump_board, on=False)

        state = await client.state(automation)
        assert state is not None
        assert state["attributes"].get("last_triggered"), state
        await client.request("DELETE", f"/api/config/automation/config/{AUTOMATION_ID}")
        await remove_entry(stack, entry_b)
        await remove_entry(stack, entry_a)

    stack.run(scenario())
    assert not any(pump_board.relays), pump_board.relays
    assert pump_board.writes == 2, "the pump's relay was written more than on and off once"
    for code in (code_a, code_b):
        assert code not in tank.stderr + well.stderr + server.stderr


# -- 2. a healthy run is quiet ------------------------------------------------------------------
def test_home_assistant_logged_no_error_and_no_blocking_call(hass_stack: Stack) -> None:
    problems = hass_stack.log_problems()
    assert not problems, "Home Assistant logged:\n" + explain(problems)
