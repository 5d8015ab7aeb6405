"""End to end: a user adds a Modbus line with an energy meter and a compensation relay, and an
optical head with an IEC 62056-21 meter, in a real Home Assistant, and sees live values.

One Home Assistant process and one set of simulators serve the whole module (they run on an
event loop in a background thread; the tests talk to them through :class:`Stack`). The tests
run in file order, like a user would: add lines and devices, read values, lose a device, look
at the pages in a browser.

Screenshots: written to a temporary directory; with ``SMARTPOWER_UPDATE_SCREENSHOTS=1`` also
copied to ``docs/images/`` (what the README shows). The browser test needs Debian's chromium
at /usr/bin/chromium (or ``SMARTPOWER_CHROMIUM``); without it the test is skipped, unless
``SMARTPOWER_E2E_BROWSER=required`` (set by CI), where it fails saying how to install it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import Fault, SimulatedDevice

from .browser import browser_or_skip, logged_in_page, page_text
from .harness import DOMAIN, LOCATION, REPO, add_modbus_line, wait_for
from .stack import Stack, explain, serve, wait_loaded

pytestmark = pytest.mark.e2e

SCREENSHOTS = REPO / "docs" / "images"

METER_ID = 1  # Eastron SDM630 on the RS-485 line
RELAY_ID = 2  # KAEL VARkombi compensation relay on the same line
# How the real devices put multi-register values on the wire, from the makers' manuals — not
# from our profile files, so a profile that decodes with the wrong word order fails here.
WIRE_WORD_ORDER = {"eastron_sdm630": "big"}  # SDM630 protocol manual: float32, high word first
# Meter readout values (OBIS code in the Makel telegram → measurement key).
METER_KEYS = {
    "1.8.0": "energy_import_total",
    "32.7.0": "voltage_l1",
    "31.7.0": "current_l1",
    "14.7.0": "frequency",
}


def _device(device_id: int, profile_id: str) -> SimulatedDevice:
    profile = load_catalogue().get(profile_id)
    order = WIRE_WORD_ORDER.get(profile_id)
    if order is not None:
        points = tuple(
            dataclasses.replace(p, word_order=order) if p.width > 1 else p for p in profile.points
        )
        profile = dataclasses.replace(profile, points=points)
    return SimulatedDevice(device_id=device_id, profile=profile)


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Generator[Stack]:
    devices = [_device(METER_ID, "eastron_sdm630"), _device(RELAY_ID, "kael_varkombi")]
    meters = [SimulatedMeter("makel_c520_3p")]
    root = tmp_path_factory.mktemp("e2e")
    yield from serve(lambda: Stack(root, devices=devices, meters=meters))


@pytest.fixture
def hass_stack(home_assistant: Stack, socket_enabled: None) -> Stack:
    """The shared stack, with sockets allowed for this test (HA's test plugin blocks them)."""
    return home_assistant


# -- 0. onboarding ------------------------------------------------------------------------------
def test_onboarding_keeps_the_configured_location_and_units(hass_stack: Stack) -> None:
    stack = hass_stack
    steps = stack.run(stack.client.get("/api/onboarding"))
    assert all(step["done"] for step in steps), steps
    config = stack.run(stack.client.get("/api/config"))
    shown = {
        "country": config["country"],
        "currency": config["currency"],
        "time_zone": config["time_zone"],
        "length": config["unit_system"]["length"],
        "temperature": config["unit_system"]["temperature"],
    }
    assert shown == {
        "country": LOCATION["country"],
        "currency": LOCATION["currency"],
        "time_zone": LOCATION["time_zone"],
        "length": "km",
        "temperature": "°C",
    }
    # Finishing onboarding's location step sets these up (their packages are absent here).
    entries = stack.run(stack.client.get("/api/config/config_entries/entry"))
    onboarding_extras = {"google_translate", "met", "radio_browser", "shopping_list"}
    assert not onboarding_extras & {e["domain"] for e in entries}, entries


# -- 1. flows, as the frontend drives them ------------------------------------------------------
async def _add_modbus_line(stack: Stack) -> None:
    client = stack.client
    entry_id = await add_modbus_line(client, stack.panel.modbus_port)
    stack.ids["modbus_line"] = entry_id

    # Options: read fast values every 5 s (the minimum) so availability changes show quickly.
    form = await client.start_options_flow(entry_id)
    values = {}
    for field in form["data_schema"]:  # what the form shows: current values, else defaults
        shown = (field.get("description") or {}).get("suggested_value", field.get("default"))
        if shown is not None:
            values[field["name"]] = shown
    done = await client.options_flow_step(form["flow_id"], {**values, "fast_interval": 5})
    assert done["type"] == "create_entry", done

    # The SDM630 by hand: menu → manual.
    menu = await client.start_subentry_flow(entry_id, "modbus_device")
    assert menu["type"] == "menu", menu
    assert set(menu["menu_options"]) >= {"manual", "scan"}, menu
    form = await client.subentry_flow_step(menu["flow_id"], {"next_step_id": "manual"})
    done = await client.subentry_flow_step(
        form["flow_id"], {"name": "Main meter", "device_id": METER_ID, "profile": "eastron_sdm630"}
    )
    assert done["type"] == "create_entry", done

    # The relay through a bus scan: it must be found at its address with the right profile.
    await wait_loaded(stack, entry_id)
    menu = await client.start_subentry_flow(entry_id, "modbus_device")
    form = await client.subentry_flow_step(menu["flow_id"], {"next_step_id": "scan"})
    progress = await client.subentry_flow_step(
        form["flow_id"], {"first_address": 1, "last_address": 3}
    )
    if progress["type"] == "progress":
        progress = await client.wait_for_progress(
            progress["flow_id"], "/api/config/config_entries/subentries/flow"
        )
    if progress["type"] == "progress_done" or progress.get("step_id") != "scan_result":
        progress = await client.subentry_flow_step(progress["flow_id"])
    assert progress.get("step_id") == "scan_result", progress
    found = progress["data_schema"][0]["selector"]["select"]["options"]
    assert [o["value"] for o in found] == [str(RELAY_ID)], found  # address 1 is taken already
    assert "VARkombi" in found[0]["label"], found
    form = await client.subentry_flow_step(progress["flow_id"], {"found": str(RELAY_ID)})
    assert form.get("step_id") == "manual", form
    done = await client.subentry_flow_step(
        form["flow_id"],
        {"name": "Compensation relay", "device_id": RELAY_ID, "profile": "kael_varkombi"},
    )
    assert done["type"] == "create_entry", done


async def _add_meter_line(stack: Stack) -> None:
    client = stack.client
    form = await client.start_flow(DOMAIN)
    done = await client.flow_step(
        form["flow_id"],
        {
            "port": str(stack.panel.meter_port),
            "protocol": "iec62056",
            "terminal_model": "ht_g21",
            "mains_detection": False,
        },
    )
    assert done["type"] == "create_entry", done
    entry_id = done["result"]["entry_id"]
    stack.ids["meter_line"] = entry_id
    form = await client.start_subentry_flow(entry_id, "meter")
    assert (form["type"], form["step_id"]) == ("form", "user"), form
    done = await client.subentry_flow_step(
        form["flow_id"],
        {
            "name": "Grid meter",
            "address": stack.meter.address,
            "readout_mode": "full",
            "max_baud": "9600",
        },
    )
    assert done["type"] == "create_entry", done


async def _subentry_ids(stack: Stack) -> None:
    for role in ("modbus_line", "meter_line"):
        for sub in await stack.client.subentries(stack.ids[role]):
            stack.ids[sub["title"]] = sub["subentry_id"]


def test_user_adds_two_lines_and_three_devices_through_the_flows(hass_stack: Stack) -> None:
    stack = hass_stack

    async def scenario() -> None:
        await _add_modbus_line(stack)
        await _add_meter_line(stack)
        for role in ("modbus_line", "meter_line"):
            await wait_loaded(stack, stack.ids[role])
        await _subentry_ids(stack)

    stack.run(scenario())
    titles = {e["title"]: e for e in stack.run(stack.client.entries())}
    assert len(titles) == 2, titles
    assert {"Main meter", "Compensation relay", "Grid meter"} <= set(stack.ids), stack.ids


# -- 2. values ----------------------------------------------------------------------------------
def _close(state: str, expected: float) -> bool:
    try:
        value = float(state)
    except ValueError:
        return False
    return math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-3)


async def _modbus_mismatches(stack: Stack, title: str, device_id: int) -> list[str]:
    """Every enabled entity of the device whose state differs from what the device serves."""
    served = stack.panel.modbus.values(device_id)
    entities = await stack.entities_of(stack.ids[title])
    compared, wrong = 0, []
    for key, entity in sorted(entities.items()):
        if key not in served or served[key] is None:
            continue
        state = await stack.client.state(entity["entity_id"])
        assert state is not None, entity["entity_id"]
        expected = served[key]
        if isinstance(expected, bool):
            ok = state["state"] == ("on" if expected else "off")
        else:
            ok = _close(state["state"], float(expected))
        compared += 1
        if not ok:
            wrong.append(
                f"{entity['entity_id']}: HA shows {state['state']}, device sends {expected}"
            )
    assert compared >= 5, f"{title}: only {compared} entities compared ({sorted(entities)})"
    return wrong


def test_entity_states_equal_what_the_simulated_devices_send(hass_stack: Stack) -> None:
    stack = hass_stack

    async def check() -> list[str]:
        return [
            *await _modbus_mismatches(stack, "Main meter", METER_ID),
            *await _modbus_mismatches(stack, "Compensation relay", RELAY_ID),
        ]

    async def settled() -> bool | None:
        # The first poll after a reload may still be on its way: retry briefly, then report.
        return True if not await check() else None

    try:
        stack.run(wait_for(settled, "no mismatches", 20, interval=1))
    except TimeoutError:
        wrong = stack.run(check())
        assert not wrong, "entity states differ from the devices:\n" + "\n".join(wrong)

    async def meter_values() -> dict[str, tuple[str, float]]:
        entities = await stack.entities_of(stack.ids["Grid meter"])
        shown = {}
        for code, key in METER_KEYS.items():
            assert key in entities, f"meter has no {key} entity ({sorted(entities)})"
            state = await stack.client.state(entities[key]["entity_id"])
            assert state is not None
            shown[key] = (state["state"], stack.meter.counter(code))
        return shown

    for key, (state, expected) in stack.run(meter_values()).items():
        # Counters grow while the test runs (2 kW simulated load): allow a minute's growth.
        assert math.isclose(float(state), expected, abs_tol=0.05), (key, state, expected)


def test_energy_sensor_is_ready_for_the_energy_dashboard(hass_stack: Stack) -> None:
    stack = hass_stack

    async def attributes() -> list[dict[str, Any]]:
        found = []
        for title in ("Main meter", "Grid meter"):
            entity = (await stack.entities_of(stack.ids[title]))["energy_import_total"]
            state = await stack.client.state(entity["entity_id"])
            assert state is not None
            found.append(state)
        return found

    for state in stack.run(attributes()):
        attrs = state["attributes"]
        assert attrs.get("device_class") == "energy", state
        assert attrs.get("state_class") == "total_increasing", state
        assert attrs.get("unit_of_measurement") == "kWh", state
        assert float(state["state"]) > 0, state


def test_a_silent_device_becomes_unavailable_and_comes_back(hass_stack: Stack) -> None:
    stack = hass_stack
    sim = stack.panel.modbus

    async def scenario() -> None:
        meter = await stack.entities_of(stack.ids["Main meter"])
        relay = await stack.entities_of(stack.ids["Compensation relay"])
        voltage, relay_voltage = meter["voltage_l1"]["entity_id"], relay["voltage_l1"]["entity_id"]
        sim.set_fault(METER_ID, Fault.SILENT)
        await stack.client.wait_for_state(
            voltage, lambda s: s["state"] == "unavailable", "to become unavailable", 60
        )
        other = await stack.client.state(relay_voltage)
        assert other is not None
        assert other["state"] != "unavailable", other  # only the silent device is affected
        sim.set_fault(METER_ID, Fault.NONE)
        back = await stack.client.wait_for_state(
            voltage, lambda s: s["state"] not in ("unavailable", "unknown"), "to come back", 90
        )
        assert _close(back["state"], float(sim.values(METER_ID)["voltage_l1"])), back

    stack.run(scenario())


# -- 3. what a user sees in the browser ----------------------------------------------------------


def _precision(entity: dict[str, Any]) -> int | None:
    """The decimals the entity registry says to show (a user's choice, else the suggestion)."""
    sensor = (entity.get("options") or {}).get("sensor") or {}
    precision = sensor.get("display_precision", sensor.get("suggested_display_precision"))
    return None if precision is None else int(precision)


def _shown_value(state: dict[str, Any], entity: dict[str, Any]) -> str:
    """The number as the frontend shows it (en-US): rounded to the entity's display precision."""
    precision = _precision(entity)
    if precision is None:
        return state["state"]
    return f"{float(state['state']):,.{precision}f}"


# What the frontend shows for each entity: its own formatter, the one its rows use.
_FORMATTED_STATES = """(ids) => {
  const hass = document.querySelector('home-assistant')?.hass;
  if (!hass || !hass.states || typeof hass.formatEntityState !== 'function') return null;
  const out = {};
  for (const id of ids) {
    const state = hass.states[id];
    out[id] = state ? [state.state, hass.formatEntityState(state)] : null;
  }
  return out;
}"""
_SHOWN_NUMBER = re.compile(r"-?\d[\d,]*(?:\.(\d+))?")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


async def _too_precise(page: Any, entities: dict[str, dict[str, Any]]) -> list[str]:
    """Entities whose number the page shows with more decimals than their display precision
    (none stated: a whole number only)."""
    by_id = {e["entity_id"]: e for e in entities.values()}
    shown = await page.evaluate(_FORMATTED_STATES, list(by_id))
    assert shown is not None, "the frontend's hass object (formatEntityState) is not there"
    wrong = []
    numeric = 0
    for entity_id, entity in sorted(by_id.items()):
        if shown.get(entity_id) is None:
            continue
        state, text = shown[entity_id]
        if not _is_number(state):
            continue  # text, dates, times, on/off, unknown, unavailable
        numeric += 1
        number = _SHOWN_NUMBER.search(text)
        assert number is not None, (entity_id, state, text)
        decimals = len(number.group(1) or "")
        allowed = _precision(entity) or 0
        if decimals > allowed:
            wrong.append(
                f"{entity_id}: shows {text!r} ({decimals} decimals) for {state}; "
                f"display precision {_precision(entity)}"
            )
    assert numeric >= 3, f"only {numeric} numeric entities found among {sorted(by_id)}"
    return wrong


def test_the_frontend_shows_the_lines_devices_and_values(hass_stack: Stack, tmp_path: Path) -> None:
    browser_or_skip()
    stack = hass_stack
    shots = tmp_path / "screenshots"
    shots.mkdir()
    stack.run(_browse(stack, shots, tmp_path / "chromium-profile"), timeout=240)
    if os.environ.get("SMARTPOWER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy2(png, SCREENSHOTS / png.name)


async def _browse(stack: Stack, shots: Path, profile_dir: Path) -> None:
    client = stack.client
    meter_device = await stack.device_of(stack.ids["Grid meter"])
    relay_device = await stack.device_of(stack.ids["Compensation relay"])
    meter_entities = await stack.entities_of(stack.ids["Grid meter"])
    relay_entities = await stack.entities_of(stack.ids["Compensation relay"])
    main_meter_entities = await stack.entities_of(stack.ids["Main meter"])
    meter_voltage = await client.state(meter_entities["voltage_l1"]["entity_id"])
    relay_voltage = await client.state(relay_entities["voltage_l1"]["entity_id"])
    assert meter_voltage is not None
    assert relay_voltage is not None

    async with logged_in_page(stack.process.url, profile_dir) as page:
        await page.goto(
            f"{stack.process.url}/config/integrations/integration/{DOMAIN}",
            wait_until="domcontentloaded",
        )
        await page_text(
            page,
            [
                "SmartPower Terminal",
                "Modbus RTU line",
                "IEC 62056-21 meters",
                "Main meter",
                "Compensation relay",
                "Grid meter",
            ],
        )
        await page.screenshot(path=str(shots / "integration.png"))

        await page.goto(
            f"{stack.process.url}/config/devices/device/{meter_device['id']}",
            wait_until="domcontentloaded",
        )
        await page_text(
            page,
            [
                "Grid meter",
                "Makel",
                "Voltage L1",
                _shown_value(meter_voltage, meter_entities["voltage_l1"]),
            ],
        )
        await page.screenshot(path=str(shots / "meter_device.png"))
        too_precise = await _too_precise(page, meter_entities)

        await page.goto(
            f"{stack.process.url}/config/devices/device/{relay_device['id']}",
            wait_until="domcontentloaded",
        )
        await page_text(
            page,
            [
                "Compensation relay",
                "KAEL",
                "Voltage L1",
                _shown_value(relay_voltage, relay_entities["voltage_l1"]),
            ],
        )
        await page.screenshot(path=str(shots / "relay_device.png"))
        too_precise += await _too_precise(page, relay_entities)
        too_precise += await _too_precise(page, main_meter_entities)
    assert not too_precise, "numbers shown with more decimals than their quantity needs:\n" + (
        "\n".join(too_precise)
    )


# -- 4. a healthy run is quiet ------------------------------------------------------------------
def test_home_assistant_logged_no_error_and_no_blocking_call(hass_stack: Stack) -> None:
    """Everything above is healthy operation (a device that stops answering is a warning,
    not an error): Home Assistant's log has no ERROR and no blocking call in the event loop."""
    problems = hass_stack.log_problems()
    assert not problems, "Home Assistant logged:\n" + explain(problems)
