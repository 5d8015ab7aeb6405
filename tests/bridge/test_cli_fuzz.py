"""Fuzzing every option of every ``smartpower-bridge`` command.

Each example runs ``main([...])`` in this process with one option set to arbitrary text,
the port pointing nowhere and the serving commands (``simulate``, ``demo``) stopped before
they serve. Whatever the text, the outcome is exit 0, 1 or 2 with at most one line on
stderr: never a traceback, never a hang (each example has a deadline).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hardware_bridge.cli import _demo, _simulate, main

NOWHERE = "/nonexistent/ttyUSB9"
MISSING_FILE = "/nonexistent/readout.txt"

BASE: dict[str, list[str]] = {
    "modbus-read": [
        "modbus-read", "--port", NOWHERE, "--device-id", "1", "--profile", "kael_varkombi",
    ],
    "scan": ["scan", "--port", NOWHERE, "--first", "1", "--last", "2"],
    "iec-parse": ["iec-parse", MISSING_FILE],
    "read-meter": ["read-meter", "--port", NOWHERE],
    "simulate meter": ["simulate", "meter"],
    "simulate modbus": ["simulate", "modbus"],
    "demo": ["demo"],
}  # fmt: skip
OPTIONS: dict[str, list[str]] = {
    "modbus-read": [
        "--port", "--device-id", "--profile", "--baudrate", "--parity", "--stopbits",
        "--profiles-dir", "--keys", "--timeout", "--retries",
    ],
    "scan": [
        "--port", "--baudrate", "--parity", "--stopbits", "--profiles-dir", "--first", "--last",
        "--timeout",
    ],
    "iec-parse": ["FILE"],
    "read-meter": [
        "--port", "--address", "--mode", "--max-baud", "--fallback-baud", "--timeout",
        "--switch-delay",
    ],
    "simulate meter": ["--meter", "--baud-char", "--time-scale"],
    "simulate modbus": ["--device", "--profiles-dir", "--update-interval"],
    "demo": ["--interval", "--cycles"],
}  # fmt: skip
CASES = [(command, option) for command, options in OPTIONS.items() for option in options]
PATH_LIKE = {"--port", "--profiles-dir", "FILE", "--meter"}

INTERESTING = [
    "", " ", "-", "--", "nan", "NaN", "inf", "-inf", "infinity", "1e309", "-1e309", "1e-320",
    "0", "-0", "-1", "1", "2", "3", "247", "248", "300", "9600", "19200", "115200", "0.0",
    "0.05", "1e3", "1_0", "0x10", "٣", "²", " 5", "5 ", "5\n", "9" * 40, "1" * 5000, "\x00",
    "a\x00b", "\ud800", "N", "E", "O", "full", "short", "eastron_sdm630", "1:eastron_sdm630",
    "0:eastron_sdm630", "1:", ":x", "makel_c520_3p", "luna_1p@LUN1", "makel_c520_3p@a!b",
    "x" * 300, "-h", "--help", "/", ".", "/dev/null", "..",
]  # fmt: skip

values = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(max_size=24),
    st.from_regex(r"-?[0-9]{1,7}(\.[0-9]{1,4})?([eE]-?[0-9]{1,3})?", fullmatch=True),
)


@pytest.fixture(autouse=True)
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """What simulate and demo would serve until interrupted ends at once instead."""

    async def served(*_: object) -> None:
        return None

    monkeypatch.setattr(_simulate, "_serve_meters", served)
    monkeypatch.setattr(_simulate, "_serve_modbus", served)
    monkeypatch.setattr(_demo, "_run", served)


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else -1
    return code, err.getvalue()


def _check(command: str, option: str, value: str, *, equals_form: bool) -> None:
    argv = list(BASE[command])
    if option == "FILE":
        argv[-1] = value
        argv.insert(-1, "--")  # a value such as "-h" is the file's name, not an option
    elif equals_form:
        argv.append(f"{option}={value}")
    else:
        argv += [option, value]
    with contextlib.chdir(_EMPTY_DIR):
        code, err = _run(argv)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err
    assert err.count("\n") <= 1, err


def _leads_nowhere(option: str, value: str) -> bool:
    """Paths given to the commands must not name a real device or file on this machine."""
    if option not in PATH_LIKE or value in _SHIPPED_NAMES:
        return True
    try:
        return not value.strip() or not os.path.lexists(value.partition("@")[0])
    except (ValueError, OSError):  # a NUL or an unencodable character: not a path at all
        return True


@pytest.mark.parametrize(("command", "option"), CASES)
def test_listed_awkward_values_of_every_option(command: str, option: str) -> None:
    for value in INTERESTING:
        if _leads_nowhere(option, value):
            _check(command, option, value, equals_form=value.startswith("-"))


@pytest.mark.parametrize(("command", "option"), CASES)
@settings(
    max_examples=int(os.environ.get("SMARTPOWER_FUZZ_EXAMPLES", "30")),
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=values, equals_form=st.booleans())
def test_any_value_of_any_option_exits_0_1_or_2_in_one_line(
    command: str, option: str, value: str, equals_form: bool
) -> None:
    assume(_leads_nowhere(option, value))
    _check(command, option, value, equals_form=equals_form)


_SHIPPED_NAMES = {"makel_c520_3p", "luna_1p"}
_EMPTY_DIR = Path(tempfile.mkdtemp(prefix="cli-fuzz-"))
