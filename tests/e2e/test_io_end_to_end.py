"""End to end: relays, inputs and mains loss of a terminal in a real Home Assistant.

A user adds an RS-485 line with mains loss detection, an energy analyser and a Waveshare Modbus
RTU Relay (D) board (8 relays, 8 inputs), switches I/O support on, names a relay and an input,
and picks the analyser's phase voltages as the mains source. Then a relay is switched from the
browser and the board's coil follows; an input closes on the board and Home Assistant and the
page show it; the site's mains is cut and the terminal's "Mains power" goes off, and comes back.

One Home Assistant process and one simulated line serve the module; the tests run in file
order. The simulated clock stands still unless a test moves it (the mains outage). The browser
test needs Chromium as the other end-to-end module's does; with
``SMARTPOWER_UPDATE_SCREENSHOTS=1`` its screenshot is copied to ``docs/images/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.modbus_line import SimulatedDevice

from .browser import browser_or_skip, logged_in_page, page_text
from .harness import DOMAIN, REPO, add_modbus_line, wait_for
from .stack import Stack, explain, serve, wait_loaded

pytestmark = pytest.mark.e2e

SCREENSHOTS = REPO / "docs" / "images"
ANALYSER_ID = 1  # Eastron SDM630 on an auxiliary supply: it answers during an outage
BOARD_ID = 3  # Waveshare Modbus RTU Relay (D)
BOARD = "waveshare_relay_8ch_d"
RELAY_NAME = "Pump"  # relay 1
INPUT_NAME = "Panel door"  # input 1, a door contact: closed contact = door open
MAINS_KEY = "mains_power"
EVENT = "smartpower_terminal_event"


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Generator[Stack]:
    catalogue = load_catalogue()
    devices = [
        SimulatedDevice(device_id=ANALYSER_ID, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=BOARD_ID, profile=catalogue.get(BOARD)),
    ]
    root = tmp_path_factory.mktemp("e2e-io")
    yield from serve(lambda: Stack(root, devices=devices))


@pytest.fixture
def hass_stack(home_assistant: Stack, socket_enabled: None) -> Stack:
    """The shared stack, with sockets allowed for this test (HA's test plugin blocks them)."""
    return home_assistant


def _shown_options(form: dict[str, Any]) -> dict[str, Any]:
    """What an options form shows filled in: current values, else defaults."""
    values = {}
    for field in form["data_schema"]:
        shown = (field.get("description") or {}).get("suggested_value", field.get("default"))
        if shown is not None:
            values[field["name"]] = shown
    return values


async def _configure_line(stack: Stack, changes: dict[str, Any]) -> dict[str, Any]:
    """The line's Configure form, submitted with ``changes``; returns the form first shown."""
    client = stack.client
    form = await client.start_options_flow(stack.ids["line"])
    done = await client.options_flow_step(form["flow_id"], {**_shown_options(form), **changes})
    assert done["type"] == "create_entry", done
    await wait_loaded(stack, stack.ids["line"])
    return form


async def _add_device(stack: Stack, name: str, device_id: int, profile: str) -> dict[str, Any]:
    client = stack.client
    menu = await client.start_subentry_flow(stack.ids["line"], "modbus_device")
    form = await client.subentry_flow_step(menu["flow_id"], {"next_step_id": "manual"})
    return await client.subentry_flow_step(
        form["flow_id"], {"name": name, "device_id": device_id, "profile": profile}
    )


async def _entity_ids(stack: Stack) -> dict[str, str]:
    """Entity ids by role: "relay_1", "input_1", … of the board, and "mains"."""
    found = {}
    board = await stack.entities_of(stack.ids["I/O board"])
    for key, entity in board.items():
        found[key] = entity["entity_id"]
    mains_unique_id = f"{stack.ids['line']}_{MAINS_KEY}"
    for entity in await stack.client.entity_registry():
        if entity.get("platform") == DOMAIN and entity.get("unique_id") == mains_unique_id:
            found["mains"] = entity["entity_id"]
    return found


# -- 1. the user sets it up through the flows ---------------------------------------------------
def test_user_adds_a_line_with_an_io_board_and_mains_detection(hass_stack: Stack) -> None:
    stack = hass_stack
    client = stack.client

    async def scenario() -> dict[str, str]:
        entry_id = await add_modbus_line(client, stack.panel.modbus_port, mains_detection=True)
        stack.ids["line"] = entry_id
        await wait_loaded(stack, entry_id)
        # I/O support first: the device form asks for relays and inputs only with it on.
        await _configure_line(stack, {"fast_interval": 5, "io_support": True})

        done = await _add_device(stack, "Analyser", ANALYSER_ID, "eastron_sdm630")
        assert done["type"] == "create_entry", done
        io_form = await _add_device(stack, "I/O board", BOARD_ID, BOARD)
        assert (io_form["type"], io_form.get("step_id")) == ("form", "io"), io_form
        fields = {f["name"] for f in io_form["data_schema"]}
        assert {"relay_8_name", "input_8_device_class", "input_8_inverted"} <= fields, fields
        done = await client.subentry_flow_step(
            io_form["flow_id"],
            {
                "relay_1_name": RELAY_NAME,
                "relay_1_max_on": 0,
                "input_1_name": INPUT_NAME,
                "input_1_device_class": "door",
                "input_1_inverted": False,
            },
        )
        assert done["type"] == "create_entry", done
        await wait_loaded(stack, entry_id)
        for sub in await client.subentries(entry_id):
            stack.ids[sub["title"]] = sub["subentry_id"]

        # Mains loss from the analyser's phase voltages (the board's inputs are offered too).
        form = await client.start_options_flow(entry_id)
        source = next(f for f in form["data_schema"] if f["name"] == "mains_source")
        offered = {o["value"] for o in source["selector"]["select"]["options"]}
        analyser, board = stack.ids["Analyser"], stack.ids["I/O board"]
        assert analyser in offered, offered
        assert f"{board}:input_1" in offered, offered
        assert board not in offered, offered  # a relay board has no voltages
        await _configure_line(stack, {"mains_source": analyser})

        return await wait_for(
            lambda: _ready(stack), "the relays, inputs and mains sensor to be there", 60
        )

    entities = stack.run(scenario())

    states = stack.run(stack.client.states())
    pump, door, mains = (states[entities[k]] for k in ("relay_1", "input_1", "mains"))
    assert pump["attributes"]["friendly_name"] == f"I/O board {RELAY_NAME}", pump
    assert pump["state"] == "off", pump
    assert door["attributes"]["friendly_name"] == f"I/O board {INPUT_NAME}", door
    assert door["attributes"].get("device_class") == "door", door
    assert door["state"] == "off", door
    assert states[entities["relay_2"]]["attributes"]["friendly_name"] == "I/O board Relay 2"
    assert states[entities["input_8"]]["attributes"]["friendly_name"] == "I/O board Input 8"
    assert mains["attributes"].get("device_class") == "power", mains
    assert mains["state"] == "on", mains


async def _ready(stack: Stack) -> dict[str, str] | None:
    entities = await _entity_ids(stack)
    wanted = [f"relay_{n}" for n in range(1, 9)] + [f"input_{n}" for n in range(1, 9)]
    if not all(k in entities for k in [*wanted, "mains"]):
        return None
    for key in ("relay_1", "input_1", "mains"):
        state = await stack.client.state(entities[key])
        if state is None or state["state"] not in ("on", "off"):
            return None
    return entities


# -- 2. in the browser ---------------------------------------------------------------------------
def test_relay_input_and_mains_in_the_browser(hass_stack: Stack, tmp_path: Path) -> None:
    browser_or_skip()
    stack = hass_stack
    shots = tmp_path / "screenshots"
    shots.mkdir()
    stack.run(_browse(stack, shots, tmp_path / "chromium-profile"), timeout=240)
    if os.environ.get("SMARTPOWER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy2(png, SCREENSHOTS / png.name)


# What the frontend shows for entities, with its own formatter.
_SHOWN = """(ids) => {
  const hass = document.querySelector('home-assistant')?.hass;
  // null while the frontend (re)connects: asked again
  if (!hass || !hass.states) return null;
  const out = {};
  for (const id of ids) {
    const s = hass.states[id];
    out[id] = s ? [s.state, hass.formatEntityState(s)] : null;
  }
  return out;
}"""


async def _frontend_state(page: Any, entity_id: str, state: str) -> str:
    """Wait until the frontend has ``entity_id`` in ``state``; return how it words it."""

    async def probe() -> str | None:
        shown = await page.evaluate(_SHOWN, [entity_id])
        found = (shown or {}).get(entity_id)
        return found[1] if found and found[0] == state else None

    return await wait_for(probe, f"the frontend to show {entity_id} {state}", 30)


def _dashboard(entities: dict[str, str]) -> dict[str, Any]:
    """A dashboard of the terminal: its mains power, the board's relays and inputs."""
    return {
        "title": "Panel",
        "views": [
            {
                "title": "Terminal",
                "path": "terminal",
                "cards": [
                    {"type": "entities", "title": "Terminal", "entities": [entities["mains"]]},
                    {
                        "type": "entities",
                        "title": "Relays",
                        "show_header_toggle": False,  # no "all relays" switch next to a pump
                        "entities": [entities[f"relay_{n}"] for n in range(1, 9)],
                    },
                    {
                        "type": "entities",
                        "title": "Inputs",
                        "state_color": True,
                        "entities": [entities[f"input_{n}"] for n in range(1, 9)],
                    },
                ],
            }
        ],
    }


async def _browse(stack: Stack, shots: Path, profile_dir: Path) -> None:
    client = stack.client
    sim = stack.panel.modbus
    board = sim.board(BOARD_ID)
    entities = await _entity_ids(stack)
    pump, door, mains = entities["relay_1"], entities["input_1"], entities["mains"]
    board_device = await stack.device_of(stack.ids["I/O board"])
    url = stack.process.url
    assert board.relays[0] is False

    async with (
        client.events(EVENT) as events,
        logged_in_page(url, profile_dir, {"width": 1280, "height": 900}) as page,
    ):
        # The board's device page: the relay's toggle, clicked as a user does.
        await page.goto(f"{url}/config/devices/device/{board_device['id']}")
        await page_text(page, ["I/O board", "Waveshare", RELAY_NAME, INPUT_NAME, "Relay 2"])
        row = page.locator("hui-toggle-entity-row", has_text=RELAY_NAME)
        await row.locator("ha-entity-toggle").click()

        async def coil_on() -> bool:
            return board.relays[0]

        await wait_for(coil_on, "the board's relay 1 coil to be energised", 20)
        assert board.relays[1:] == [False] * 7, board.relays  # only the one clicked
        await client.wait_for_state(pump, lambda s: s["state"] == "on", "to be on", 20)
        await _frontend_state(page, pump, "on")

        # A dry contact closes on the board: the door sensor (a door contact) shows it.
        closed = await _frontend_state(page, door, "off")
        await page_text(page, [INPUT_NAME, closed])
        board.set_input(1, True)
        await client.wait_for_state(door, lambda s: s["state"] == "on", "to be on", 20)
        opened = await _frontend_state(page, door, "on")
        assert opened == "Open", opened
        await page_text(page, [INPUT_NAME, opened])
        assert board.relays[0] is True  # normal mode: the relay does not follow its input

        # The terminal at a glance: mains power, relays and inputs. The line's device is named
        # after its port; the user names it after what it is.
        line_device = next(
            d
            for d in await client.device_registry()
            if [DOMAIN, stack.ids["line"]] in d["identifiers"]
        )
        await client.ws(
            {
                "type": "config/device_registry/update",
                "device_id": line_device["id"],
                "name_by_user": "Terminal",
            }
        )
        await client.ws({"type": "lovelace/config/save", "config": _dashboard(entities)})
        await page.goto(f"{url}/lovelace/terminal")
        present = await _frontend_state(page, mains, "on")
        await page_text(page, ["Terminal Mains power", present, RELAY_NAME, INPUT_NAME, opened])
        await page.screenshot(path=str(shots / "terminal-io.png"))

        # The site's mains is cut (the analyser, on an auxiliary supply, reads 0 V) …
        sim.mains_outage(sim.time + 1, sim.time + 3600)
        sim.advance(2)
        off = await client.wait_for_state(mains, lambda s: s["state"] == "off", "to go off", 60)
        assert off["attributes"]["outage_start"] is not None, off
        lost = await _frontend_state(page, mains, "off")
        await page_text(page, ["Mains power", lost])
        # … and comes back an hour later.
        sim.advance(3600)
        back = await client.wait_for_state(mains, lambda s: s["state"] == "on", "to be on", 60)
        assert back["attributes"]["outage_start"] is None, back
        assert back["attributes"]["last_outage_end"] is not None, back
        await _frontend_state(page, mains, "on")

    # What automations were told, in order (the first readings after a start are no event).
    seen = [(e["type"], e.get("key"), e.get("state")) for e in events]
    assert seen == [
        ("relay_changed", "relay_1", True),
        ("input_changed", "input_1", True),
        ("mains_lost", MAINS_KEY, None),
        ("mains_restored", MAINS_KEY, None),
    ], events
    assert events[0]["entity_id"] == pump, events[0]
    assert events[0]["device_id"] == board_device["id"], events[0]


# -- 3. a healthy run is quiet ------------------------------------------------------------------
def test_home_assistant_logged_no_error_and_no_blocking_call(hass_stack: Stack) -> None:
    problems = hass_stack.log_problems()
    assert not problems, "Home Assistant logged:\n" + explain(problems)
