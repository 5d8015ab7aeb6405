"""``smartpower-bridge modem`` and ``sms``: the contract other tools rely on."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time

import pytest

from hardware_bridge.cli import main
from hardware_bridge.simulators.at_modem import ModemSimulator, ModemState

KEYS = [
    "sim",
    "registration",
    "operator",
    "access_technology",
    "signal_dbm",
    "rsrp_dbm",
    "rsrq_db",
    "imei",
    "model",
]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


async def _cli(argv: list[str]) -> tuple[int, str, str]:
    return await asyncio.to_thread(_run, argv)


async def test_modem_json_quectel() -> None:
    async with ModemSimulator("quectel_ec25", ModemState(csq=25, rsrp_dbm=-88)) as sim:
        code, out, err = await _cli(["modem", "--port", sim.path, "--json"])
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert list(data) == KEYS
    assert data == {
        "sim": "ready",
        "registration": "home",
        "operator": "Turkcell",
        "access_technology": "4G",
        "signal_dbm": -63,
        "rsrp_dbm": -88.0,
        "rsrq_db": -10.0,
        "imei": "867160040123458",
        "model": "EC25",
    }


async def test_modem_json_without_sim_is_still_an_answer() -> None:
    async with ModemSimulator("simcom_sim800", ModemState(sim="absent", csq=99)) as sim:
        code, out, _ = await _cli(["modem", "--port", sim.path, "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["sim"] == "absent"
    assert data["registration"] == "unknown"
    assert data["operator"] is None
    assert data["access_technology"] is None
    assert data["signal_dbm"] is None
    assert data["model"] == "SIMCOM_SIM800L"


async def test_modem_table() -> None:
    async with ModemSimulator("simcom_sim7600", ModemState(registration="roaming")) as sim:
        code, out, _ = await _cli(["modem", "--port", sim.path])
    assert code == 0
    assert "registration:      roaming" in out
    assert "rsrp_dbm:          -95.0" in out


async def test_modem_silent_port_exits_1_within_20_s() -> None:
    async with ModemSimulator("quectel_ec25", ModemState(silent=True)) as sim:
        started = time.monotonic()
        code, out, err = await _cli(["modem", "--port", sim.path, "--json"])
    assert time.monotonic() - started < 20
    assert (code, out) == (1, "")
    assert "no modem answers" in err
    code, out, err = await _cli(["modem", "--port", "/dev/nonexistent-modem"])
    assert (code, out) == (1, "")
    assert "cannot open" in err


async def test_sms_prints_the_references() -> None:
    async with ModemSimulator("quectel_ec25", first_reference=9) as sim:
        text = "Çatı deposu boşaldı, pompa durdu. " * 4
        code, out, err = await _cli(
            ["sms", "--port", sim.path, "--to", "+905321234567", "--text", text]
        )
        assert (code, err) == (0, "")
        assert out.split() == ["10", "11", "12"]
    assert sim.messages() == [("+905321234567", text)]


async def test_sms_cms_error_is_exit_1_with_its_meaning() -> None:
    async with ModemSimulator("quectel_ec25", ModemState(cms_error=330)) as sim:
        code, out, err = await _cli(
            ["sms", "--port", sim.path, "--to", "05321234567", "--text", "x"]
        )
    assert (code, out) == (1, "")
    assert "SMSC address unknown" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "extra",
    [
        ["--to", "not-a-number", "--text", "x"],
        ["--to", "+90 5x2", "--text", "x"],
        ["--to", "12", "--text", "x"],
        ["--to", "+905321234567", "--text", ""],
        ["--to", "+905321234567", "--text", "ş" * (67 * 255 + 1)],
        ["--to", "+905321234567"],
    ],
)
async def test_sms_bad_input_is_exit_2_before_the_port_is_opened(extra: list[str]) -> None:
    code, out, err = await _cli(["sms", "--port", "/dev/nonexistent-modem", *extra])
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
