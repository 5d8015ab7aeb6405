"""Any value of any option of ``modem`` and ``sms``: exit 1 or 2 in one line, no traceback."""

from __future__ import annotations

import contextlib
import io
import os
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hardware_bridge.cli import main

NOWHERE = "/nonexistent/ttyUSB9"
BASE = {
    "modem": ["modem", "--port", NOWHERE],
    "sms": ["sms", "--port", NOWHERE, "--to", "+905321234567", "--text", "x"],
}
OPTIONS = [("modem", "--port"), ("sms", "--port"), ("sms", "--to"), ("sms", "--text")]
AWKWARD = ["", " ", "-", "--", "+", "++90", "\x00", "\ud800", "ş" * 20000, "5\n", "-h", "/"]


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else -1
    return code, err.getvalue()


def _check(command: str, option: str, value: str, equals_form: bool) -> None:
    argv = list(BASE[command])
    if option in argv:
        del argv[argv.index(option) : argv.index(option) + 2]
    argv += [f"{option}={value}"] if equals_form else [option, value]
    code, err = _run(argv)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err
    assert err.count("\n") <= 1, err


def _nowhere(option: str, value: str) -> bool:
    if option != "--port":
        return True
    try:
        return not value.strip() or not os.path.lexists(value)
    except (ValueError, OSError):
        return True


def test_awkward_values() -> None:
    for command, option in OPTIONS:
        for value in AWKWARD:
            if _nowhere(option, value):
                _check(command, option, value, equals_form=value.startswith("-"))


@settings(
    max_examples=60,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.sampled_from(OPTIONS), st.text(max_size=40), st.booleans())
def test_any_value(case: tuple[str, str], value: str, equals_form: bool) -> None:
    command, option = case
    assume(_nowhere(option, value))
    _check(command, option, value, equals_form)
