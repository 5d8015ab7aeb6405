"""``smartpower-bridge modbus-write``: the contract other tools rely on."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from hardware_bridge.cli import main
from hardware_bridge.modbus import ProfileCatalogue
from hardware_bridge.modbus._loader import shipped_profile_files
from hardware_bridge.simulators.modbus_line import Fault, ModbusLineSimulator, SimulatedDevice

AsyncCli = Callable[[Sequence[str]], Awaitable[tuple[int, str, str]]]


def _args(port: str, device_id: int, profile: str, key: str, value: str) -> list[str]:
    return [
        "modbus-write",
        "--port",
        port,
        "--device-id",
        str(device_id),
        "--profile",
        profile,
        "--key",
        key,
        "--value",
        value,
        "--json",
    ]


async def test_write_prints_the_confirmed_state(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli
) -> None:
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("waveshare_relay_8ch_d")),
        SimulatedDevice(device_id=2, profile=catalogue.get("eletechsup_r4d3b16")),
    ]
    async with ModbusLineSimulator(devices) as sim:
        code, out, err = await run_cli_async(
            _args(sim.path, 1, "waveshare_relay_8ch_d", "relay_1", "on")
        )
        assert (code, err) == (0, "")
        assert json.loads(out) == {"key": "relay_1", "value": True, "confirmed": True}
        assert sim.board(1).relays[0] is True
        code, out, err = await run_cli_async(
            _args(sim.path, 2, "eletechsup_r4d3b16", "relay_16", "1")
        )
        assert (code, err) == (0, "")
        assert json.loads(out) == {"key": "relay_16", "value": True, "confirmed": True}
        code, out, _ = await run_cli_async(
            _args(sim.path, 2, "eletechsup_r4d3b16", "relay_16", "OFF")
        )
        assert json.loads(out)["value"] is False
        assert sim.board(2).relays[15] is False


async def test_a_mismatch_is_exit_1_with_one_line(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli, tmp_path: Path
) -> None:
    """A (D) profile without its init, in the user's folder: the board's linkage mode wins."""
    shipped = next(p for p in shipped_profile_files() if p.stem == "waveshare_relay_8ch_d")
    text = shipped.read_text(encoding="utf-8")
    head, _, rest = text.partition("\ninit:\n")
    (tmp_path / "waveshare_relay_8ch_d.yaml").write_text(
        head + "\n" + rest[rest.index("relays:") :], encoding="utf-8"
    )
    profile = catalogue.get("waveshare_relay_8ch_d")
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=profile)]) as sim:
        sim.board(1).set_input(1, True)
        argv = [
            *_args(sim.path, 1, "waveshare_relay_8ch_d", "relay_1", "off"),
            "--profiles-dir",
            str(tmp_path),
        ]
        code, out, err = await run_cli_async(argv)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "relay_1 not confirmed: wrote off, read back on" in err


@pytest.mark.parametrize("fault", ["absent", Fault.SILENT, Fault.EXCEPTION])
async def test_no_answer_is_exit_1_within_10_s(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli, fault: Fault | str
) -> None:
    profile = catalogue.get("waveshare_relay_8ch_d")
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=profile)]) as sim:
        if fault != "absent":
            sim.set_fault(1, fault)
        device_id = 9 if fault == "absent" else 1
        started = time.monotonic()
        code, out, err = await run_cli_async(
            [
                *_args(sim.path, device_id, "waveshare_relay_8ch_d", "relay_1", "on"),
                "--timeout",
                "1.5",
                "--retries",
                "2",
            ]
        )
        elapsed = time.monotonic() - started
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "not confirmed" in err
    assert elapsed < 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--value": "maybe"}, "expected on, off, 1 or 0"),
        ({"--value": "2"}, "expected on, off, 1 or 0"),
        ({"--key": "input_1"}, "input_1 of waveshare_relay_8ch_d is an input, not a relay"),
        ({"--key": "relay_9"}, "waveshare_relay_8ch_d has no relay relay_9"),
        ({"--profile": "nope"}, "unknown profile"),
        ({"--device-id": "300"}, "--device-id must be 1..247"),
        ({"--device-id": "x"}, "--device-id"),
        ({"--timeout": "5"}, "--timeout"),
    ],
)
def test_bad_input_is_exit_2(change: dict[str, str], message: str) -> None:
    argv = _args("/dev/null-port", 1, "waveshare_relay_8ch_d", "relay_1", "on")
    for option, value in change.items():
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
    code, out, err = _main(argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err


def test_the_command_is_listed() -> None:
    code, out, _ = _main(["--help"])
    assert code == 0
    assert "modbus-write" in out
    code, out, _ = _main(["modbus-write", "--help"])
    assert code == 0
    assert "--value" in out


def _main(argv: Sequence[str]) -> tuple[int, str, str]:
    """``smartpower-bridge`` itself (its parser prints usage errors as one line)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()
