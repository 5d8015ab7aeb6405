"""``scripts/develop``'s configuration and printed steps (no Home Assistant process needed)."""

from __future__ import annotations

import asyncio
import json
import os
import re
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
from hardware_bridge.daemon.config import load_config
from hardware_bridge.daemon.slip import format_slip
from hardware_bridge.simulators.at_modem import ModemSimulator
from hardware_bridge.simulators.modbus_line import (
    ModbusLineSimulator,
    SimulatedDevice,
    devices_from_specs,
)
from hardware_bridge.uplink.identity import TerminalIdentity

from .develop import DEFAULT_DEVICES, MODBUS_UPDATE_INTERVAL, _instructions
from .develop_remote import (
    SEND_PERIOD,
    RemoteSite,
    Slip,
    remote_instructions,
    slip_of,
    write_terminal_config,
)
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
from .terminals import pair_by_flow


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


# -- scripts/develop --remote: a terminal daemon, a SmartPower server, pairing by the slip ----
def test_the_terminal_config_of_remote_mode_is_one_the_daemon_accepts(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    devices = devices_from_specs(DEFAULT_DEVICES, catalogue)
    path = write_terminal_config(
        tmp_path / "terminal",
        modbus_port=tmp_path / "serial" / "ttyUSB0",
        meter_port=tmp_path / "serial" / "ttyUSB1",
        modem_port=tmp_path / "serial" / "ttyUSB2",
        devices=devices,
        listen_port=8126,
        server_url="http://127.0.0.1:8125",
    )
    config = load_config(path)
    assert config.upstream is not None
    assert config.upstream.url == "http://127.0.0.1:8125"
    assert config.send_period.total_seconds() == SEND_PERIOD
    assert config.state_dir == tmp_path / "terminal" / "state"
    rs485 = config.lines[0]
    assert [(d.key, d.device_id) for d in rs485.config.devices] == [
        ("eastron_sdm630", 1),
        ("generic_compensation_relay", 2),
        ("io_board", 3),
    ]
    assert config.mains is not None
    assert config.mains.device == "eastron_sdm630"
    assert config.modem is not None
    assert config.modem.port == str(tmp_path / "serial" / "ttyUSB2")
    # the same warning the daemon logs at start, shown to the person
    assert [w for w in config.warnings if "under one minute" in w], config.warnings


def test_a_second_start_shows_the_first_slips_code_only_while_it_is_valid(tmp_path: Path) -> None:
    state = tmp_path / "state"
    opened = TerminalIdentity.open(state)
    code = opened.new_auth_code
    assert code is not None
    first = format_slip(opened.identity.modem_no, code, qr=False)
    ready = f"Modem No: {opened.identity.modem_no}\nlistening on http://127.0.0.1:8126\n"
    assert slip_of(first + ready, first + ready, state) == Slip(
        opened.identity.modem_no, code, first_start=True
    )
    again = slip_of(ready, first + ready + ready, state)
    assert again == Slip(opened.identity.modem_no, code, first_start=False)
    TerminalIdentity.load(state).renew_auth_code()  # auth-code --renew, in another shell
    renewed = slip_of(ready, first + ready + ready, state)
    assert renewed == Slip(opened.identity.modem_no, None, first_start=False)


def test_the_remote_steps_name_the_url_the_modem_and_how_to_renew(tmp_path: Path) -> None:
    site = RemoteSite(tmp_path, 8125, 8126)
    url = "http://127.0.0.1:8123"
    first = remote_instructions(
        url,
        site,
        Slip("4810273596", "K7RM2QXW9D", first_start=True),
        tmp_path / "config",
        control_url="http://127.0.0.1:8124",
        controls_help=HELP,
    )
    assert "Server URL: http://127.0.0.1:8125" in first
    assert "Modem No: 4810273596" in first
    assert "Auth code (Yetki Kodu): K7RM2QXW9D" in first
    assert '"Remote terminal' in first
    assert "curl -d i3 http://127.0.0.1:8124/" in first
    lost = remote_instructions(
        url,
        site,
        Slip("4810273596", None, first_start=False),
        tmp_path / "config",
        control_url=None,
        controls_help=HELP,
    )
    assert "K7RM2QXW9D" not in lost
    assert f"auth-code --renew --config {tmp_path / 'terminal' / 'terminal.yaml'}" in lost
    assert str(tmp_path / "terminal" / "daemon.out") in lost


def _start_develop(dev: Path, ports: dict[str, int], output: Path) -> subprocess.Popen[bytes]:
    """``scripts/develop --remote`` in its own session, as a terminal would run it."""
    with output.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.e2e.develop",
                "--remote",
                "--dir",
                str(dev),
                *(f"--{name}={port}" for name, port in ports.items()),
            ],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )


async def _printed_steps(process: subprocess.Popen[bytes], output: Path) -> str:
    async def printed() -> str | None:
        text = output.read_text(encoding="utf-8", errors="replace")
        assert process.poll() is None, text
        return text if "Ctrl-C stops" in text else None

    return await wait_for(printed, "scripts/develop --remote to print its steps", 240, interval=0.5)


def _ctrl_c(process: subprocess.Popen[bytes]) -> int:
    """What Ctrl-C in its terminal does: SIGINT to the foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def _processes_using(path: Path) -> list[str]:
    """Command lines of running processes that name ``path`` (HA, daemon, server)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in argv)
        if str(path) in text:
            found.append(f"{proc.name}: {text}")
    return found


def _printed(text: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}(\S+)\s*$", text, re.MULTILINE)
    assert match, f"no {label!r} in:\n{text}"
    return match.group(1)


async def _voltage(client: HomeAssistantClient, entry_id: str) -> str:
    """The simulated analyser's L1 voltage entity of the remote terminal's entry."""

    async def found() -> str | None:
        return next(
            (
                e["entity_id"]
                for e in await client.entity_registry()
                if e.get("unique_id") == f"{entry_id}_eastron_sdm630_voltage_l1"
            ),
            None,
        )

    return await wait_for(found, "the analyser's voltage entity", 90)


def _volts(state: dict[str, Any]) -> float | None:
    try:
        return float(state["state"])
    except ValueError:
        return None


@pytest.mark.e2e
async def test_develop_remote_pairs_by_the_printed_slip_and_keeps_it(
    tmp_path: Path, socket_enabled: None
) -> None:
    dev = tmp_path / "dev"
    chosen: set[int] = set()
    while len(chosen) < 4:
        chosen.add(free_port())
    ports = dict(
        zip(("port", "control-port", "server-port", "terminal-port"), sorted(chosen), strict=True)
    )
    control_url = f"http://127.0.0.1:{ports['control-port']}/"
    output = tmp_path / "develop.out"
    process = _start_develop(dev, ports, output)
    try:
        text = await _printed_steps(process, output)
        assert "send_period 30s is under one minute" in text, text
        server_url = _printed(text, "3. Server URL: ")
        assert server_url == f"http://127.0.0.1:{ports['server-port']}", text
        modem_no = _printed(text, "4. Modem No: ")
        auth_code = _printed(text, "Auth code (Yetki Kodu): ")
        assert "printed just now by the terminal's first start" in text, text
        async with (
            HomeAssistantClient(f"http://127.0.0.1:{ports['port']}") as client,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        ):
            await client.onboard(**USER)
            await client.wait_until_running()
            entry_id = await pair_by_flow(client, server_url, modem_no, auth_code)
            voltage = await _voltage(client, entry_id)
            state = await client.wait_for_state(
                voltage, lambda s: (_volts(s) or 0) > 200, "the analyser's voltage", 90
            )
            assert state["attributes"]["unit_of_measurement"] == "V", state
            # the panel control acts on what the terminal reads, and the terminal reports it
            assert await _post(session, control_url, "m") == "mains: cut (0 V, no load)"
            await client.wait_for_state(voltage, lambda s: _volts(s) == 0.0, "0 V", 90)
            assert await _post(session, control_url, "m") == "mains: present"
        assert _ctrl_c(process) == 0, output.read_text(encoding="utf-8", errors="replace")
        assert not _processes_using(dev), _processes_using(dev)
        _logged_nothing_wrong(dev, auth_code)

        # Started again: the same terminal and code, still paired, values still arriving.
        output_again = tmp_path / "develop-again.out"
        process = _start_develop(dev, ports, output_again)
        again = await _printed_steps(process, output_again)
        assert _printed(again, "4. Modem No: ") == modem_no, again
        assert _printed(again, "Auth code (Yetki Kodu): ") == auth_code, again
        assert "printed at the terminal's first start" in again, again
        async with HomeAssistantClient(f"http://127.0.0.1:{ports['port']}") as client:
            await client.login(USER["username"], USER["password"])
            await wait_loaded_entry(client, entry_id)
            await client.wait_for_state(
                voltage, lambda s: (_volts(s) or 0) > 200, "the analyser's voltage", 90
            )
        assert _ctrl_c(process) == 0, output_again.read_text(encoding="utf-8", errors="replace")
        assert not _processes_using(dev), _processes_using(dev)
        _logged_nothing_wrong(dev, auth_code)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(90)


def _logged_nothing_wrong(dev: Path, auth_code: str) -> None:
    """Home Assistant (its log of the last start), the daemon and the server: no error, no
    traceback, and the auth code in no log."""
    log = (dev / "config" / "home-assistant.log").read_text(encoding="utf-8", errors="replace")
    problems = log_problems(log.splitlines())
    assert not problems, "Home Assistant logged:\n" + explain(problems)
    for name in ("terminal/daemon.log", "server/server.log"):
        written = (dev / name).read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in written, f"{name}:\n{written}"
        assert not re.search(r"^(\S+ \S+ )?(ERROR|CRITICAL) ", written, re.MULTILINE), written
        assert auth_code not in written, name


async def wait_loaded_entry(client: HomeAssistantClient, entry_id: str) -> None:
    async def loaded() -> bool:
        entry = next(e for e in await client.entries() if e["entry_id"] == entry_id)
        assert entry["state"] not in ("setup_error", "failed_unload"), entry
        return bool(entry["state"] == "loaded")

    await wait_for(loaded, "the remote terminal's entry to load", 90)
