"""``smartpower-bridge gpio`` on an in-memory chip: states printed, relays confirmed, bad
arguments refused with one line, a missing binding named."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest
from io_fakes import FakeChip

from hardware_bridge.cli import _gpio, main


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def chip(monkeypatch: pytest.MonkeyPatch) -> FakeChip:
    fake = FakeChip(path="/dev/gpiochip0")
    monkeypatch.setattr(_gpio, "chip_factory", lambda path: fake)
    return fake


LINES = ["gpio", "--input", "in1=17", "--input", "in2=27", "--relay", "c1=22"]


def test_prints_inputs_and_relays(chip: FakeChip) -> None:
    chip.electrical[27] = False  # IN2's contact is closed to ground
    code, out, err = run(LINES)
    assert (code, err) == (0, "")
    assert out.splitlines() == ["in1: off", "in2: on", "c1: off"]
    assert chip.lines is not None
    setups = chip.lines.setups
    assert setups[17].active_low
    assert setups[17].bias == "pull_up"
    assert setups[17].debounce.total_seconds() == 0.05
    assert setups[22].output


def test_a_relay_that_does_not_follow_is_exit_1(chip: FakeChip) -> None:
    chip.stuck[22] = False
    code, _, err = run([*LINES, "--set", "c1=on"])
    assert code == 1
    assert err == "smartpower-bridge: relay 'c1': read back off after switching on\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gpio"], "give at least one --input or --relay"),
        (["gpio", "--input", "in1=x"], "expected NAME=OFFSET"),
        (["gpio", "--input", "in1=5000"], "offset 0..1023"),
        (["gpio", "--relay", "c1=3", "--set", "c2=on"], "--set names no --relay: c2"),
        (["gpio", "--relay", "c1=3", "--set", "c1=maybe"], "expected NAME=on or NAME=off"),
        (["gpio", "--input", "in1=3", "--relay", "c1=3"], "offset 3 is already 'in1'"),
        (["gpio", "--input", "in1=3", "--debounce", "nan"], "--debounce"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    chip: FakeChip, argv: list[str], message: str
) -> None:
    code, _, err = run(argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert chip.lines is None  # refused before any line was requested


def test_missing_binding_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)
    code, _, err = run(LINES)
    assert code == 1
    assert "'gpiod' package" in err
    assert "pip install" in err
