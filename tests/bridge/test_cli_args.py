"""``smartpower-bridge`` arguments: every bad one exits 2 with one line, before any I/O.

Runs ``main([...])`` in-process with the port pointing nowhere; a bad argument must be
refused by the parser (exit 2) rather than reach the line, hang on it or end in a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardware_bridge.cli import COMMANDS, _demo, _simulate, build_parser, main
from hardware_bridge.cli._args import IEC_BAUDRATES, baudrate, seconds, text

NOWHERE = "/nonexistent/ttyUSB9"
READ = ["modbus-read", "--port", NOWHERE, "--device-id", "1", "--profile", "eastron_sdm630"]
SCAN = ["scan", "--port", NOWHERE]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """``simulate`` and ``demo`` serve until interrupted: reaching that point fails the test."""

    async def serving(*_: object) -> None:
        raise AssertionError("the command went on to serve")

    monkeypatch.setattr(_simulate, "_serve_meters", serving)
    monkeypatch.setattr(_simulate, "_serve_modbus", serving)
    monkeypatch.setattr(_demo, "_run", serving)


def run(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``smartpower-bridge ARGV``, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        ([*READ, "--timeout", "nan"], "--timeout"),
        ([*READ, "--timeout", "inf"], "--timeout"),
        ([*READ, "--timeout", "-inf"], "--timeout"),
        ([*READ, "--timeout", "0"], "--timeout"),
        ([*READ, "--timeout", "1e9"], "--timeout"),
        ([*READ, "--timeout", "1_0"], "--timeout"),
        ([*SCAN, "--timeout", "nan"], "--timeout"),
        ([*SCAN, "--timeout", "inf"], "--timeout"),
        ([*READ, "--baudrate", "0"], "--baudrate"),
        ([*READ, "--baudrate", "12345"], "--baudrate"),
        ([*SCAN, "--baudrate", "0"], "--baudrate"),
        ([*READ, "--retries", "-1"], "--retries"),
        ([*READ, "--retries", "1000000"], "--retries"),
        ([*READ, "--stopbits", "3"], "--stopbits"),
        ([*READ, "--parity", "X"], "--parity"),
        (["modbus-read", "--port", NOWHERE, "--device-id", "x1", "--profile", "e"], "--device-id"),
        (["modbus-read", "--port", "", "--device-id", "1", "--profile", "e"], "--port"),
        (["modbus-read", "--port", "/dev/tty\0S0", "--device-id", "1", "--profile", "e"], "--port"),
        ([*SCAN, "--first", "٣"], "--first"),
        (["simulate", "modbus", "--update-interval", "-1"], "--update-interval"),
        (["simulate", "modbus", "--update-interval", "nan"], "--update-interval"),
        (["simulate", "modbus", "--update-interval", "0"], "--update-interval"),
        (["simulate", "meter", "--time-scale", "nan"], "--time-scale"),
        (["simulate", "meter", "--time-scale", "-60"], "--time-scale"),
        (["simulate", "meter", "--baud-char", "9"], "--baud-char"),
        (["demo", "--interval", "nan"], "--interval"),
        (["demo", "--interval", "-5"], "--interval"),
        (["demo", "--cycles", "-1"], "--cycles"),
    ],
)
def test_bad_argument_exits_2_naming_it_in_one_line(argv: list[str], option: str) -> None:
    code, out, err = run(argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert f"argument {option}: " in err


def test_baudrate_given_is_used_not_replaced_by_the_profiles() -> None:
    """``--baudrate`` used to be dropped when it was falsy; any rate given is now honoured."""
    from hardware_bridge.cli._modbus import _settings
    from hardware_bridge.modbus import load_catalogue

    sdm = load_catalogue().get("eastron_sdm630")
    args = build_parser("modbus-read").parse_args([*READ, "--baudrate", "19200"])
    assert _settings(args, sdm).baudrate == 19200
    args = build_parser("modbus-read").parse_args([*READ, "--stopbits", "2", "--parity", "E"])
    settings = _settings(args, sdm)
    assert (settings.baudrate, settings.parity, settings.stopbits) == (
        sdm.serial.baudrate,
        "E",
        2,
    )


def test_good_arguments_reach_the_line_and_fail_there_with_exit_1() -> None:
    code, out, err = run([*READ, "--timeout", "0.2", "--baudrate", "19200", "--retries", "0"])
    assert (code, out) == (1, "")
    assert err == f"smartpower-bridge: cannot open {NOWHERE}\n" or NOWHERE in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"/XYZ\r\n0.0.0(1)\r\n!\r\n", "identification too short"),
        (b"/LUN5<1>LUN669205929\r\n0.0.0(69205929\r\n1.8.0(1.0*kWh)\r\n!\r\n", "unterminated"),
        (b"0.0.0(1)\r\n!\r\n", "the first line after comments must be the identification"),
        (b"/LUN5<1>LUN669205929\r\n0.0.0(6920\xff5929)\r\n!\r\n", "can't decode byte 0xff"),
        (b"", "the first line after comments must be the identification"),
    ],
)
def test_simulate_meter_with_a_bad_telegram_file_exits_2_naming_it(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    telegram = tmp_path / "meter.txt"
    telegram.write_bytes(content)
    code, out, err = run(["simulate", "meter", "--meter", str(telegram)])
    assert (code, out) == (2, "")
    assert err.startswith(f"smartpower-bridge: simulate meter: {telegram}: ")
    assert problem in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no_such_meter", "no_such_meter: no such telegram file"),
        ("makel_c520_3p@MSY!1", "device address 'MSY!1' is not printable ASCII"),
    ],
)
def test_simulate_meter_bad_spec_exits_2(spec: str, problem: str, tmp_path: Path) -> None:
    code, out, err = run(["simulate", "meter", "--meter", spec])
    assert (code, out) == (2, "")
    assert problem in err
    assert err.count("\n") == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_simulate_meter_refuses_a_pipe_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "meter.txt"
    os.mkfifo(fifo)
    code, _, err = run(["simulate", "meter", "--meter", str(fifo)])
    assert code == 2
    assert "no such telegram file" in err


def test_simulate_modbus_missing_profiles_dir_exits_2(tmp_path: Path) -> None:
    code, out, err = run(["simulate", "modbus", "--profiles-dir", str(tmp_path / "nope")])
    assert (code, out) == (2, "")
    assert "profile directory does not exist" in err


def test_simulate_meter_serves_what_was_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[list[object]] = []

    async def serve(meters: list[object]) -> None:
        served.append(meters)

    monkeypatch.setattr(_simulate, "_serve_meters", serve)
    code, _, err = run(["simulate", "meter", "--meter", "luna_1p@LUN1", "--baud-char", "4"])
    assert (code, err) == (0, "")
    [[meter]] = served
    assert (meter.address, meter.identification.baud_char) == ("LUN1", "4")  # type: ignore[attr-defined]


# -- start-up: sub-command modules are imported only when their command is chosen ----------


def _modules_after(argv: list[str]) -> dict[str, object]:
    code = (
        "import contextlib, io, json, sys\n"
        "from hardware_bridge.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as exc:\n"
        "        status = exc.code\n"
        "print(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-800:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_help_imports_no_sub_command_module() -> None:
    result = _modules_after(["--help"])
    assert result["status"] == 0
    modules = set(result["modules"])  # type: ignore[call-overload]
    loaded = {m for m in modules if m.startswith("hardware_bridge.cli.")}
    assert loaded == set()
    assert not {m for m in modules if m.startswith(("hardware_bridge.simulators", "aiohttp"))}


def test_a_sub_command_imports_only_its_own_module() -> None:
    result = _modules_after(["modbus-read", "--help"])
    assert result["status"] == 0
    modules = set(result["modules"])  # type: ignore[call-overload]
    loaded = {m for m in modules if m.startswith("hardware_bridge.cli.")}
    assert loaded == {"hardware_bridge.cli._modbus", "hardware_bridge.cli._args"}
    assert not {m for m in modules if m.startswith(("hardware_bridge.simulators", "aiohttp"))}


def test_simulate_help_does_not_start_the_modbus_server_stack() -> None:
    result = _modules_after(["simulate", "--help"])
    assert result["status"] == 0
    modules = set(result["modules"])  # type: ignore[call-overload]
    assert "hardware_bridge.simulators.modbus_line" not in modules
    assert not {m for m in modules if m.startswith(("aiohttp", "pymodbus.server"))}


def test_command_list_matches_what_each_module_registers() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    registered = {action.dest: action.help for action in sub._choices_actions}
    assert registered == {name: help_text for name, (_, help_text) in COMMANDS.items()}
    for name in set(COMMANDS) - {"simulate"}:  # simulate's handlers sit one level down
        assert sub.choices[name].get_default("handler") is not None, name  # type: ignore[attr-defined]


def test_version_and_help_exit_0_and_unknown_command_exits_2() -> None:
    assert run(["--version"])[0] == 0
    assert run(["--version"])[1].startswith("smartpower-bridge ")
    code, out, _ = run(["--help"])
    assert code == 0
    assert all(name in out for name in COMMANDS)
    code, _, err = run(["no-such-command"])
    assert code == 2
    assert err.count("\n") == 1
    assert run([])[0] == 2


# -- the argument types themselves (cli/_args.py, shared with the IEC commands) ---------------


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-inf", "infinity", "1e309", "1_0", "٣", " 5", "5 ", "0x10", "", "0"]
)
def test_seconds_refuse_what_python_float_would_take(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected seconds above 0, at most 60"):
        seconds(60)(value)


@pytest.mark.parametrize(("value", "expected"), [("0.5", 0.5), ("60", 60.0), ("1e1", 10.0)])
def test_seconds_take_plain_decimals(value: str, expected: float) -> None:
    assert seconds(60)(value) == expected


def test_zero_seconds_only_where_allowed_and_baud_zero_only_where_it_means_something() -> None:
    assert seconds(10, zero=True)("0") == 0.0
    assert baudrate(IEC_BAUDRATES, allow_zero="no retry")("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=r"or 0 \(no retry\)"):
        baudrate(IEC_BAUDRATES, allow_zero="no retry")("110")
    with pytest.raises(argparse.ArgumentTypeError, match="expected one of 300, 600"):
        baudrate(IEC_BAUDRATES)("0")


@pytest.mark.parametrize("value", ["", "a\x00b", "line\nbreak", "\ud800", "x" * 5000])
def test_text_refuses_what_no_command_line_or_file_system_carries(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a file"):
        text("a file")(value)


def test_text_keeps_names_the_file_system_gave_us() -> None:
    undecodable = os.fsdecode(b"meter-\xff.txt")  # how Python passes such a name in argv
    assert text("a file")(undecodable) == undecodable
    assert text("a file")("sayaç/ölçüm.txt") == "sayaç/ölçüm.txt"
