"""End to end over a pty: the real client against the simulated meter line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import time
from types import ModuleType

import pytest
from conftest import fast_settings

from hardware_bridge.iec62056 import (
    BccError,
    LineError,
    MeterClient,
    NoResponseError,
    OptionMode,
)
from hardware_bridge.simulators.iec_meter import Faults, MeterSimulator, SimulatedMeter

MAKEL = "makel_c520_3p"
LUNA = "luna_1p"


def _sim(*meters: SimulatedMeter, faults: Faults | None = None) -> MeterSimulator:
    return MeterSimulator(list(meters) or None, reaction_time=0.01, faults=faults)


async def test_mode_c_negotiation_switches_the_same_port() -> None:
    async with _sim() as sim:
        assert sim.client_baud() is None or sim.client_baud() != 9600
        reading = await MeterClient(fast_settings(sim.path)).read()
        assert reading.baud == 9600
        assert sim.last_client_baud == 9600  # the pty really ran at 9600 when data was sent
        assert sim.option_selects == ["050"]
        assert reading.identification.ident == "C520.KMY.2251"
        assert reading.identification.tag == "<1>"
        assert reading.bcc_ok is True
        assert reading.complete
        assert reading.attempts == 1
        by_address = {d.address: d for d in reading.datasets}
        assert by_address["0.0.0"].value == "80099921"
        assert by_address["8.8.0*1"].values[0].value == "000047.817"
        assert float(by_address["1.8.0"].value or 0) >= 70.677


async def test_max_baud_caps_the_negotiated_rate() -> None:
    async with _sim() as sim:
        reading = await MeterClient(fast_settings(sim.path, max_baud=2400)).read()
        assert reading.baud == 2400
        assert sim.last_client_baud == 2400
        assert sim.option_selects == ["030"]


async def test_addressed_multi_drop_two_meters_on_one_line() -> None:
    makel = SimulatedMeter(MAKEL)
    luna = SimulatedMeter(LUNA, address="LUN69205929")
    assert makel.address == "MSY80099921"
    async with _sim(makel, luna) as sim:
        client = MeterClient(fast_settings(sim.path))
        first = await client.read(address="LUN69205929")
        second = await client.read(address="MSY80099921")
        assert first.identification.manufacturer == "LUN"
        assert first.identification.ident == "LUN669205929"
        assert second.identification.manufacturer == "MSY"
        assert sim.requests == ["LUN69205929", "MSY80099921"]
        with pytest.raises(NoResponseError):
            await client.read(address="MSY00000001")  # nobody has that address


async def test_short_readout_mode_6() -> None:
    async with _sim() as sim:
        reading = await MeterClient(fast_settings(sim.path)).read(mode=OptionMode.SHORT_READOUT)
        assert sim.option_selects == ["056"]
        addresses = [d.address for d in reading.datasets]
        assert "1.8.0" in addresses
        assert "F.F.0" in addresses
        assert all("*" not in a for a in addresses)
        assert "96.77.0*1" not in addresses
        assert len(addresses) < 40


async def test_echoing_adapter_is_handled() -> None:
    async with _sim(faults=Faults(echo=True)) as sim:
        received: list[bytes] = []
        client = MeterClient(fast_settings(sim.path), trace=lambda d, b: received.append(b))
        reading = await client.read()
        assert reading.baud == 9600
        assert reading.bcc_ok
        assert any(b"/?!" in chunk for chunk in received)  # the echo really came back


async def test_bad_bcc_strict_raises_lenient_reports() -> None:
    async with _sim(faults=Faults(bad_bcc=True)) as sim:
        with pytest.raises(BccError) as caught:
            await MeterClient(fast_settings(sim.path, fallback_baud=None)).read()
        assert b"1.8.0" in caught.value.block.payload
        reading = await MeterClient(fast_settings(sim.path, strict_bcc=False)).read()
        assert reading.bcc_ok is False
        assert reading.datasets


async def test_silent_meter_fails_fast_with_no_response() -> None:
    async with _sim(faults=Faults(silent=True)) as sim:
        client = MeterClient(fast_settings(sim.path, reaction_timeout=0.15))
        started = time.monotonic()
        with pytest.raises(NoResponseError):
            await client.read()
        assert time.monotonic() - started < 1.0


async def test_garbage_before_the_answers() -> None:
    async with _sim(faults=Faults(garbage=b"\xff\x00\x7fnoise\r\n\x13\x11")) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
        assert reading.identification.manufacturer == "MSY"
        assert reading.bcc_ok


async def test_slow_answers_within_and_beyond_the_reaction_timeout() -> None:
    async with _sim(faults=Faults(delay=0.3)) as sim:
        reading = await MeterClient(fast_settings(sim.path, reaction_timeout=0.8)).read()
        assert reading.baud == 9600
        with pytest.raises(NoResponseError):
            await MeterClient(fast_settings(sim.path, reaction_timeout=0.1)).read()


async def test_retry_at_lower_baud_when_fast_data_is_garbled() -> None:
    async with _sim(faults=Faults(max_clean_baud=2400)) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
        assert reading.attempts == 2
        assert reading.baud == 300
        assert sim.option_selects == ["050", "000"]
        assert reading.bcc_ok


async def test_wake_up_nuls_before_sign_on() -> None:
    async with _sim() as sim:
        settings = fast_settings(sim.path, wake_up=True, wake_up_duration=0.05, wake_up_pause=0.02)
        reading = await MeterClient(settings).read()
        assert reading.baud == 9600


async def test_energy_counters_grow_between_reads() -> None:
    meter = SimulatedMeter(MAKEL, time_scale=36000.0)  # ten simulated hours per second
    async with _sim(meter) as sim:
        client = MeterClient(fast_settings(sim.path))
        first = await client.read()
        await asyncio.sleep(0.05)
        second = await client.read()

        def energy(reading: object) -> float:
            return float(next(d for d in reading.datasets if d.address == "1.8.0").value)  # type: ignore[attr-defined]

        assert energy(second) > energy(first) > 70.677


async def test_missing_port_is_a_line_error() -> None:
    with pytest.raises(LineError):
        await MeterClient(fast_settings("/dev/does-not-exist-iec")).read()


def _run_cli(cli: ModuleType, argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.handler(args)
    return code, out.getvalue(), err.getvalue()


async def test_cli_read_meter_json(iec_cli: ModuleType) -> None:
    async with _sim(SimulatedMeter(LUNA, address="LUN69205929")) as sim:
        argv = ["read-meter", "--port", sim.path, "--address", "LUN69205929", "--json"]
        argv += ["--switch-delay", "0.02", "--timeout", "0.5"]
        code, out, _ = await asyncio.to_thread(_run_cli, iec_cli, argv)
        assert code == 0
        data = json.loads(out)
        assert data["baud"] == 9600
        assert data["bcc_ok"] is True
        assert data["identification"] == {
            "manufacturer": "LUN",
            "baud": "5",
            "tag": "<1>",
            "ident": "LUN669205929",
        }
        first = data["datasets"][0]
        assert first == {"address": "0.0.0", "values": [{"value": "69205929", "unit": None}]}


async def test_cli_read_meter_failures(iec_cli: ModuleType) -> None:
    async with _sim(faults=Faults(silent=True)) as sim:
        argv = ["read-meter", "--port", sim.path, "--timeout", "0.1"]
        code, out, err = await asyncio.to_thread(_run_cli, iec_cli, argv)
        assert code == 1
        assert out == ""
        assert len(err.strip().splitlines()) == 1
        code, _, err = await asyncio.to_thread(
            _run_cli, iec_cli, ["read-meter", "--port", sim.path, "--address", "bad!addr"]
        )
        assert code == 2


async def test_partial_blocks_are_acknowledged_and_joined() -> None:
    async with MeterSimulator(reaction_time=0.01, partial_block_size=256) as sim:
        reading = await MeterClient(fast_settings(sim.path)).read()
        assert len(sim.partial_replies) > 3
        assert all(reply.startswith(b"\x06") for reply in sim.partial_replies)
        assert reading.bcc_ok
        assert reading.complete
        addresses = [d.address for d in reading.datasets]
        assert addresses[0] == "0.0.0"
        assert addresses[-1] == "F.F.0"
        assert len(addresses) == len(SimulatedMeter(MAKEL).datasets())


async def test_port_refusing_7e1_gets_even_parity_from_the_client() -> None:
    # Linux ptys refuse 7E1 after opening; the client then runs 8N1 and sets bit 7 itself,
    # which is 7E1 on the wire.
    from hardware_bridge.simulators.virtual_serial import VirtualSerialPort

    async with VirtualSerialPort() as port:
        task = asyncio.create_task(
            MeterClient(fast_settings(port.path, reaction_timeout=0.3)).read()
        )
        raw = b""
        while len(raw) < 5:
            raw += await port.read(timeout=2)
        assert raw == bytes([0xAF, 0x3F, 0x21, 0x8D, 0x0A])  # "/?!\r\n" with even parity
        with pytest.raises(NoResponseError):
            await task
