"""``scripts/develop``'s configuration and printed steps (no Home Assistant process needed)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import yaml

from custom_components.smartpower_terminal.const import (
    DEFAULT_FAST_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    MIN_SLOW_INTERVAL,
)
from hardware_bridge import Modem, ModemSettings, load_catalogue
from hardware_bridge.simulators.at_modem import ModemSimulator
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

from .develop import MODBUS_UPDATE_INTERVAL, _instructions
from .harness import (
    DEVELOP_INTEGRATIONS,
    DOMAIN,
    LOCATION,
    REPO,
    HomeAssistantClient,
    add_modbus_line,
    free_port,
    wait_for,
    write_config,
)
from .panel_control import HELP, MAINS_PRESENT_INPUT, PanelControl
from .stack import USER, explain, log_problems


def _onboarding(config_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (config_dir / ".storage" / "onboarding").read_text(encoding="utf-8")
    )
    return data


def test_onboarding_cannot_overwrite_the_location_or_start_extra_integrations(
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "config"
    write_config(config_dir, 8123, extra=DEVELOP_INTEGRATIONS)
    core = yaml.safe_load((config_dir / "configuration.yaml").read_text(encoding="utf-8"))
    assert core["homeassistant"] == LOCATION
    assert LOCATION["country"] == "TR"
    assert LOCATION["time_zone"] == "Europe/Istanbul"
    # The location step (filled from the browser's locale, and starting met, radio_browser,
    # google_translate and shopping_list) is done before Home Assistant starts; the owner
    # account is still created by the user.
    store = _onboarding(config_dir)
    assert store["key"] == "onboarding"
    assert set(store["data"]["done"]) == {"core_config", "analytics"}


def test_an_existing_onboarding_is_kept(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    store = config_dir / ".storage" / "onboarding"
    store.parent.mkdir(parents=True)
    existing = {"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": ["user"]}}
    store.write_text(json.dumps(existing), encoding="utf-8")
    write_config(config_dir, 8123)
    write_config(config_dir, 8123)
    assert _onboarding(config_dir)["data"]["done"] == ["user", "core_config", "analytics"]


def test_the_printed_steps_say_when_values_really_change() -> None:
    panel = SimpleNamespace(modbus_port=Path("/d/ttyUSB0"), meter_port=Path("/d/ttyUSB1"))
    text = _instructions("http://127.0.0.1:8123", panel, SimpleNamespace(address="MSY1"))  # type: ignore[arg-type]
    assert f"stages: read every {DEFAULT_FAST_INTERVAL} s" in text
    assert f"change them every {MODBUS_UPDATE_INTERVAL:g} s" in text
    assert f"readout: read every {DEFAULT_SLOW_INTERVAL} min" in text
    assert f'readouts every" {MIN_SLOW_INTERVAL} min' in text
    assert "every second" not in text
    assert "60×" not in text


def test_a_state_folder_outside_the_checkout_is_shown_as_it_is() -> None:
    panel = SimpleNamespace(modbus_port=Path("/d/ttyUSB0"), meter_port=Path("/d/ttyUSB1"))
    meter = SimpleNamespace(address="MSY1")
    text = _instructions("http://x", panel, meter, Path("/srv/dev/config"))  # type: ignore[arg-type]
    assert "(log: /srv/dev/config/home-assistant.log)" in text
    default = _instructions("http://x", panel, meter)  # type: ignore[arg-type]
    assert "(log: .dev/config/home-assistant.log)" in default


# -- the panel control ---------------------------------------------------------------------------
def _board_line() -> Any:
    catalogue = load_catalogue()
    return ModbusLineSimulator(
        [
            SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
            SimulatedDevice(device_id=3, profile=catalogue.get("waveshare_relay_8ch_d")),
        ]
    )


async def test_commands_flip_inputs_and_cut_the_mains() -> None:
    sim = _board_line()  # not started: the control works on the simulated devices' state
    control = PanelControl(sim, [3])
    board = sim.board(3)
    assert board.inputs[MAINS_PRESENT_INPUT - 1] is True  # the mains is there at the start
    assert control.command("i3") == "board 3 input 3: closed"
    assert board.inputs[2] is True
    assert control.command("I3 off") == "board 3 input 3: open"
    assert control.command("i3@3 on") == "board 3 input 3: closed"
    for bad, says in [
        ("i9", "inputs 1-8"),
        ("i3@4", "no I/O board at address 4"),
        ("ix", "expected i<N>"),
        ("i3 maybe", "expected on or off"),
        ("x", "unknown command 'x'"),
    ]:
        assert says in control.command(bad), bad
    assert control.command("") == ""

    try:
        volts = float(sim.values(1)["voltage_l1"])
        assert volts > 200
        assert control.command("m") == "mains: cut (0 V, no load)"
        assert board.inputs[MAINS_PRESENT_INPUT - 1] is False  # the mains-present contact opens
        for _ in range(5):  # as long as it is cut
            sim.advance(3600)
            assert float(sim.values(1)["voltage_l1"]) == 0.0
        assert "mains: cut" in control.status()
        assert control.command("m on") == "mains: present"
        assert board.inputs[MAINS_PRESENT_INPUT - 1] is True
        sim.advance(1)
        assert float(sim.values(1)["voltage_l1"]) > 200
    finally:
        await control.close()


async def test_commands_set_the_modems_signal_and_show_its_sms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    modem = ModemSimulator("quectel_ec25")
    control = PanelControl(_board_line(), [3], modem)
    assert control.command("sig 10") == "modem signal: CSQ 10 (-93 dBm)"
    assert modem.state.csq == 10
    assert control.command("reg roaming") == "modem registration: roaming"
    assert modem.state.registration == "roaming"
    for bad, says in [("sig 40", "expected sig"), ("sig", "expected sig"), ("reg x", "reg <")]:
        assert says in control.command(bad), bad
    assert "modem: SIM ready, roaming, CSQ 10, 0 SMS part(s) sent" in control.status()
    assert "no modem" in PanelControl(_board_line(), [3]).command("sig 3")
    async with modem, Modem(ModemSettings(port=modem.path)) as driver:
        await driver.send_sms("+905321234567", "Şebeke kesildi")
    control.print_new_sms()
    assert "modem: SMS to +905321234567: Şebeke kesildi" in capsys.readouterr().out


async def test_commands_typed_in_the_terminal_are_done(capsys: pytest.CaptureFixture[str]) -> None:
    sim = _board_line()
    control = PanelControl(sim, [3])
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as typed, os.fdopen(write_fd, "wb", buffering=0) as keyboard:
        control.read_stdin(typed)
        keyboard.write(b"i2\n")

        async def done() -> bool:
            return sim.board(3).inputs[1]

        try:
            await wait_for(done, "input 2 to close", 5, interval=0.05)
        finally:
            asyncio.get_running_loop().remove_reader(read_fd)
    assert "board 3 input 2: closed" in capsys.readouterr().out


def test_the_printed_steps_say_how_to_use_the_panel_control() -> None:
    panel = SimpleNamespace(modbus_port=Path("/d/ttyUSB0"), meter_port=Path("/d/ttyUSB1"))
    meter = SimpleNamespace(address="MSY1")
    text = _instructions(
        "http://x",
        panel,  # type: ignore[arg-type]
        meter,  # type: ignore[arg-type]
        control_url="http://127.0.0.1:8124",
        board_ids=[3],
    )
    assert "address 3, profile waveshare_relay_8ch_d" in text
    assert f"input {MAINS_PRESENT_INPUT}" in text
    assert "curl -d i3 http://127.0.0.1:8124/" in text
    assert HELP in text
    without_board = _instructions("http://x", panel, meter)  # type: ignore[arg-type]
    assert "curl" not in without_board
    assert "waveshare" not in without_board


# -- scripts/develop running: a person flips an input and cuts the mains ---------------------
async def _post(session: aiohttp.ClientSession, url: str, command: str) -> str:
    async with session.post(url, data=command) as response:
        assert response.status == 200, await response.text()
        return (await response.text()).strip()


async def _entities(client: HomeAssistantClient, subentry_id: str) -> dict[str, str]:
    found = {}
    for entity in await client.entity_registry():
        unique_id = entity.get("unique_id") or ""
        if entity.get("platform") == DOMAIN and f"_{subentry_id}_" in unique_id:
            found[unique_id.split(f"_{subentry_id}_", 1)[1]] = entity["entity_id"]
    return found


async def _set_up_through_the_printed_steps(
    client: HomeAssistantClient, port: Path
) -> dict[str, str]:
    """Steps 3, 6 and 7 of the printed instructions, as the frontend does them."""
    entry_id = await add_modbus_line(client, port, mains_detection=True)

    async def configure(changes: dict[str, Any]) -> None:
        form = await client.start_options_flow(entry_id)
        values = {}
        for field in form["data_schema"]:
            shown = (field.get("description") or {}).get("suggested_value", field.get("default"))
            if shown is not None:
                values[field["name"]] = shown
        done = await client.options_flow_step(form["flow_id"], {**values, **changes})
        assert done["type"] == "create_entry", done

    async def add(name: str, address: int, profile: str) -> dict[str, Any]:
        menu = await client.start_subentry_flow(entry_id, "modbus_device")
        form = await client.subentry_flow_step(menu["flow_id"], {"next_step_id": "manual"})
        return await client.subentry_flow_step(
            form["flow_id"], {"name": name, "device_id": address, "profile": profile}
        )

    async def loaded() -> bool:
        entry = next(e for e in await client.entries() if e["entry_id"] == entry_id)
        assert entry["state"] not in ("setup_error", "failed_unload"), entry
        return bool(entry["state"] == "loaded")

    await wait_for(loaded, "the line to load", 60)
    await configure({"fast_interval": 5, "io_support": True})
    await wait_for(loaded, "the line to load", 60)
    assert (await add("Analyser", 1, "eastron_sdm630"))["type"] == "create_entry"
    io_form = await add("I/O board", 3, "waveshare_relay_8ch_d")
    assert io_form.get("step_id") == "io", io_form
    done = await client.subentry_flow_step(
        io_form["flow_id"], {f"input_{MAINS_PRESENT_INPUT}_name": "Mains present"}
    )
    assert done["type"] == "create_entry", done
    await wait_for(loaded, "the line to load", 60)
    ids = {s["title"]: s["subentry_id"] for s in await client.subentries(entry_id)}
    await configure({"mains_source": f"{ids['I/O board']}:input_{MAINS_PRESENT_INPUT}"})
    await wait_for(loaded, "the line to load", 60)

    async def entities() -> dict[str, str] | None:
        board = await _entities(client, ids["I/O board"])
        analyser = await _entities(client, ids["Analyser"])
        mains = next(
            (
                e["entity_id"]
                for e in await client.entity_registry()
                if e.get("unique_id") == f"{entry_id}_mains_power"
            ),
            None,
        )
        if mains is None or "input_3" not in board or "voltage_l1" not in analyser:
            return None
        return {"input_3": board["input_3"], "voltage": analyser["voltage_l1"], "mains": mains}

    return await wait_for(entities, "the board's, analyser's and mains entities", 60)


async def _add_the_modem(client: HomeAssistantClient, port: Path) -> str:
    """Step 8 of the printed instructions; the modem's signal entity."""
    form = await client.start_flow(DOMAIN)
    step = await client.flow_step(
        form["flow_id"],
        {"port": str(port), "protocol": "at_modem", "terminal_model": "adapter"},
    )
    assert step.get("step_id") == "modem", step
    done = await client.flow_step(step["flow_id"], {"recipients": ["+905321234567"]})
    assert done["type"] == "create_entry", done
    entry_id = done["result"]["entry_id"]

    async def signal() -> str | None:
        return next(
            (
                e["entity_id"]
                for e in await client.entity_registry()
                if e.get("config_entry_id") == entry_id
                and e.get("unique_id", "").endswith("_signal_strength")
            ),
            None,
        )

    return await wait_for(signal, "the modem's signal entity", 60)


@pytest.mark.e2e
async def test_develop_hands_the_panel_to_the_person_running_it(
    tmp_path: Path, socket_enabled: None
) -> None:
    dev = tmp_path / "dev"
    port = control_port = free_port()
    while control_port == port:
        control_port = free_port()
    output = tmp_path / "develop.out"
    with output.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
            [
                sys.executable,
                "-m",
                "tests.e2e.develop",
                "--dir",
                str(dev),
                "--port",
                str(port),
                "--control-port",
                str(control_port),
            ],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    control_url = f"http://127.0.0.1:{control_port}/"
    try:

        async def printed() -> bool:
            assert process.poll() is None, output.read_text(encoding="utf-8", errors="replace")
            return "Ctrl-C stops" in output.read_text(encoding="utf-8", errors="replace")

        await wait_for(printed, "scripts/develop to print its steps", 150, interval=0.5)
        text = output.read_text(encoding="utf-8")
        assert f"curl -d i3 {control_url}" in text, text

        async with (
            HomeAssistantClient(f"http://127.0.0.1:{port}") as client,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        ):
            await client.onboard(**USER)
            await client.wait_until_running()
            ids = await _set_up_through_the_printed_steps(client, dev / "serial" / "ttyUSB0")
            for key in ("input_3", "mains"):
                state = await client.wait_for_state(
                    ids[key], lambda s: s["state"] in ("on", "off"), "to be known", 30
                )
                assert state["state"] == ("on" if key == "mains" else "off"), state

            assert await _post(session, control_url, "i3") == "board 3 input 3: closed"
            await client.wait_for_state(ids["input_3"], lambda s: s["state"] == "on", "on", 20)

            assert await _post(session, control_url, "m") == "mains: cut (0 V, no load)"
            await client.wait_for_state(ids["mains"], lambda s: s["state"] == "off", "off", 30)
            voltage = await client.wait_for_state(
                ids["voltage"], lambda s: s["state"] == "0.0", "to read 0 V", 30
            )
            assert voltage["attributes"]["unit_of_measurement"] == "V", voltage
            assert await _post(session, control_url, "m") == "mains: present"
            await client.wait_for_state(ids["mains"], lambda s: s["state"] == "on", "on", 40)
            status = await _post(session, control_url, "s")
            assert status.startswith("mains: present\nmodem: SIM ready"), status
            assert "\nboard 3: inputs 00100001" in status, status

            signal_id = await _add_the_modem(client, dev / "serial" / "ttyUSB2")
            assert await _post(session, control_url, "sig 10") == "modem signal: CSQ 10 (-93 dBm)"
            await client.post("/api/services/smartpower_terminal/read_now", {})
            await client.wait_for_state(signal_id, lambda s: s["state"] == "-93", "-93 dBm", 30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            returncode = process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    log = (dev / "config" / "home-assistant.log").read_text(encoding="utf-8", errors="replace")
    problems = log_problems(log.splitlines())
    assert not problems, "Home Assistant logged:\n" + explain(problems)
    assert returncode == 0, output.read_text(encoding="utf-8", errors="replace")
