"""End to end over pseudo-terminals: the bus master against the simulated RS-485 line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import pymodbus
import pytest

from hardware_bridge.modbus import (
    ModbusBus,
    ModbusExceptionResponse,
    ModbusNoResponse,
    ProfileCatalogue,
    Value,
    break_even_gap,
    plan_reads,
)
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.modbus_line import (
    Fault,
    ModbusLineSimulator,
    SimulatedDevice,
    devices_from_specs,
)
from hardware_bridge.simulators.modbus_server import uses_simdevice_api

Cli = Callable[[Sequence[str]], tuple[int, str, str]]
AsyncCli = Callable[[Sequence[str]], Awaitable[tuple[int, str, str]]]

# Fewest requests for a full read of each shipped profile, worked out from the register maps.
FULL_READ_REQUESTS = {
    "carlo_gavazzi_em24": 1,  # 0x00..0x5D
    "eastron_sdm120": 3,  # 0..31, 70..79 (a 38-register gap is dearer at 2400 baud), 342..345
    "eastron_sdm630": 3,  # 0..79, THD 234..249, per-phase counters 342..357
    "entes_mpr3x": 1,  # 0..91
    "generic_analyzer": 2,  # hole 40..49 splits it
    "generic_compensation_relay": 2,  # 1000..1017, 1148..1152
    "janitza_umg96rme": 1,  # 19000..19077
    "kael_varkombi": 2,  # identification 0..5, measurements 0x1000..0x101D
    "klemsan_klea": 1,  # 0..47
    "schneider_iem3000": 4,  # 2999..3084, 3109..3110 (a 24-register gap costs more than a
    # request at 9600 8N1 with a 20 ms reaction), 3203..3226, 3517..3528
}
NEW_LINE_GAP = break_even_gap(SerialSettings(port="-", baudrate=9600))
"""What a bus plans with before it has measured a device (9600 8N1, 20 ms reaction)."""


class FakeClock:
    """Back-off periods measured on a clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def assert_same_values(got: Mapping[str, Value], served: Mapping[str, Value]) -> None:
    assert got.keys() <= served.keys()
    for key, value in got.items():
        expected = served[key]
        assert value is not None, key
        if isinstance(expected, float):
            assert value == pytest.approx(expected, rel=1e-6, abs=1e-9), key
        else:
            assert value == expected, key


def test_simulator_uses_the_datastore_api_of_this_pymodbus() -> None:
    major, minor = (int(x) for x in pymodbus.__version__.split(".")[:2])
    assert uses_simdevice_api() == ((major, minor) >= (3, 12))


@pytest.mark.parametrize("profile_id", sorted(FULL_READ_REQUESTS))
async def test_modbus_read_returns_the_simulated_values_in_fewest_requests(
    catalogue: ProfileCatalogue, profile_id: str, run_cli_async: AsyncCli
) -> None:
    profile = catalogue.get(profile_id)
    device = SimulatedDevice(device_id=17, profile=profile)
    async with ModbusLineSimulator([device]) as sim:
        code, out, err = await run_cli_async(
            [
                "modbus-read",
                "--port",
                sim.path,
                "--device-id",
                "17",
                "--profile",
                profile_id,
                "--baudrate",
                "9600",
                "--parity",
                "N",
                "--stopbits",
                "1",
                "--json",
            ]
        )
        assert (code, err) == (0, "")
        result = json.loads(out)
        assert result["device_id"] == 17
        assert result["profile"] == profile_id
        assert result["values"].keys() == set(profile.value_keys)
        assert_same_values(result["values"], sim.values(17))
        assert result["requests"] == FULL_READ_REQUESTS[profile_id]
        assert result["requests"] == len(plan_reads(profile, max_gap=NEW_LINE_GAP))
        assert sim.requests_seen(17) == result["requests"]


async def test_sdm630_registers_0_to_79_take_one_request(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli
) -> None:
    sdm = catalogue.get("eastron_sdm630")
    keys = [p.key for p in sdm.points if p.address < 80]
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=sdm)]) as sim:
        code, out, _ = await run_cli_async(
            [
                "modbus-read",
                "--port",
                sim.path,
                "--device-id",
                "1",
                "--profile",
                sdm.id,
                "--keys",
                ",".join(keys),
                "--json",
            ]
        )
        assert code == 0
        result = json.loads(out)
        assert result["requests"] == 1 == sim.requests_seen(1)
        assert set(result["values"]) == set(keys)
        assert_same_values(result["values"], sim.values(1))


async def test_values_change_and_counters_grow(catalogue: ProfileCatalogue) -> None:
    em24 = catalogue.get("carlo_gavazzi_em24")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=4, profile=em24)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.5) as bus,
    ):
        first = await bus.read_device(4, em24)
        # the EM24 counts in 0.1 kWh: ten minutes of a few kW move it by several steps
        sim.advance(600.0)
        second = await bus.read_device(4, em24)
        assert_same_values(second.values, sim.values(4))
    energy_before = first.values["energy_import_total"]
    energy_after = second.values["energy_import_total"]
    assert isinstance(energy_before, float)
    assert isinstance(energy_after, float)
    assert energy_after > energy_before
    assert first.values["voltage_l1"] != second.values["voltage_l1"]


async def test_silent_device_costs_the_others_one_timeout_per_backoff_period(
    catalogue: ProfileCatalogue,
) -> None:
    ids = {
        1: "eastron_sdm630",
        2: "carlo_gavazzi_em24",
        3: "kael_varkombi",
        4: "entes_mpr3x",
        5: "janitza_umg96rme",
    }
    devices = [SimulatedDevice(device_id=i, profile=catalogue.get(p)) for i, p in ids.items()]
    timeout, backoff = 0.1, 1.0
    clock = FakeClock()
    async with ModbusLineSimulator(devices) as sim:
        sim.set_fault(3, Fault.SILENT)
        async with ModbusBus(
            SerialSettings(port=sim.path),
            timeout=timeout,
            retries=1,
            backoff_initial=backoff,
            backoff_max=backoff,
            clock=clock,
        ) as bus:
            cycles, step = 24, 0.25  # 6 back-off periods of simulated time
            silent_time = 0.0
            sent = dict.fromkeys(ids, 0)
            for _ in range(cycles):
                clock.advance(step)
                for device in devices:
                    started = time.perf_counter()
                    reading = await bus.read_device(device.device_id, device.profile)
                    spent = time.perf_counter() - started
                    sent[device.device_id] += reading.requests
                    if device.device_id == 3:
                        silent_time += spent
                        assert all(v is None for v in reading.values.values())
                        # never more than one read's worth: a timeout, the drain of the line
                        # (a late answer may still come), the retry's timeout
                        assert spent < 3 * timeout + 0.08
                    else:
                        assert reading.complete, reading.errors
            health = bus.health(3)
    periods = cycles * step / backoff
    # first detection: 1 request + 1 retry; then one single-attempt probe per period
    probes = sim.requests_seen(3) - 2
    assert 1 <= probes <= periods + 1
    assert silent_time <= (3 + probes) * timeout + cycles * 0.02
    assert health.state == "backed_off"
    for device_id in (1, 2, 4, 5):  # no request to the others was lost or repeated
        profile = catalogue.get(ids[device_id])
        assert sim.requests_seen(device_id) == sent[device_id]
        assert cycles * len(plan_reads(profile, max_gap=120)) <= sent[device_id]


async def test_silent_device_recovers_after_its_backoff(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm120")
    clock = FakeClock()
    async with ModbusLineSimulator([SimulatedDevice(device_id=9, profile=sdm)]) as sim:
        sim.set_fault(9, Fault.SILENT)
        async with ModbusBus(
            SerialSettings(port=sim.path),
            timeout=0.05,
            retries=0,
            backoff_initial=2.0,
            clock=clock,
        ) as bus:
            assert not (await bus.read_device(9, sdm)).available
            sim.set_fault(9, Fault.NONE)
            skipped = await bus.read_device(9, sdm)
            assert skipped.skipped
            assert skipped.requests == 0
            clock.advance(2.1)
            back = await bus.read_device(9, sdm)
            assert back.complete
            assert_same_values(back.values, sim.values(9))
            assert bus.health(9).state == "online"


async def test_bad_crc_and_exceptions_give_unavailable_values_not_zero(
    catalogue: ProfileCatalogue,
) -> None:
    sdm, em24, kael = (
        catalogue.get(p) for p in ("eastron_sdm630", "carlo_gavazzi_em24", "kael_varkombi")
    )
    devices = [
        SimulatedDevice(device_id=1, profile=sdm),
        SimulatedDevice(device_id=2, profile=em24),
        SimulatedDevice(device_id=3, profile=kael),
    ]
    async with ModbusLineSimulator(devices) as sim:
        sim.set_fault(2, Fault.BAD_CRC)
        sim.set_fault(3, Fault.EXCEPTION, exception_code=6)
        async with ModbusBus(SerialSettings(port=sim.path), timeout=0.1, retries=0) as bus:
            first = await bus.read_device(1, sdm)
            corrupted = await bus.read_device(2, em24)
            refused = await bus.read_device(3, kael)
            after = await bus.read_device(1, sdm)
            assert set(corrupted.values.values()) == {None}
            assert {e.kind for e in corrupted.errors} == {"no_response"}
            assert set(refused.values.values()) == {None}
            assert {e.kind for e in refused.errors} == {"exception"}
            assert "exception 6 (server device busy)" in refused.errors[0].message
            assert refused.requests == len(plan_reads(kael))
            assert bus.health(3).state == "online"  # it answered: not backed off
            for reading in (first, after):
                assert reading.complete
                assert_same_values(reading.values, sim.values(1))
            sim.set_fault(3, Fault.NONE)
            assert (await bus.read_device(3, kael)).complete


async def test_scan_finds_devices_and_suggests_profiles(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli
) -> None:
    layout = {
        3: "generic_compensation_relay",
        5: "eastron_sdm630",
        6: "eastron_sdm120",
        9: "kael_varkombi",
        12: "carlo_gavazzi_em24",
        13: "schneider_iem3000",
    }
    devices = [SimulatedDevice(device_id=i, profile=catalogue.get(p)) for i, p in layout.items()]
    async with ModbusLineSimulator(devices) as sim:
        code, out, err = await run_cli_async(
            [
                "scan",
                "--port",
                sim.path,
                "--first",
                "1",
                "--last",
                "16",
                "--timeout",
                "0.05",
                "--json",
            ]
        )
    assert (code, err) == (0, "")
    hits = {row["device_id"]: row["suggested_profile"] for row in json.loads(out)}
    expected = {i: (None if p.startswith("generic_") else p) for i, p in layout.items()}
    assert hits == expected


async def test_echoing_adapter(catalogue: ProfileCatalogue) -> None:
    klea = catalogue.get("klemsan_klea")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=2, profile=klea)], echo=True) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3, handle_local_echo=True) as bus,
    ):
        reading = await bus.read_device(2, klea)
        assert reading.complete
        assert_same_values(reading.values, sim.values(2))


async def test_port_that_vanishes_is_reopened(catalogue: ProfileCatalogue, tmp_path: Path) -> None:
    klea = catalogue.get("klemsan_klea")
    port = tmp_path / "ttyUSB0"
    first = ModbusLineSimulator([SimulatedDevice(device_id=2, profile=klea)])
    await first.start()
    os.symlink(first.path, port)
    clock = FakeClock()
    bus = ModbusBus(
        SerialSettings(port=str(port)), timeout=0.2, retries=0, reconnect_delay=1.0, clock=clock
    )
    await bus.open()
    try:
        assert (await bus.read_device(2, klea)).complete
        await first.stop()  # adapter unplugged
        lost = await bus.read_device(2, klea)
        assert not lost.available
        assert all(v is None for v in lost.values.values())
        async with ModbusLineSimulator([SimulatedDevice(device_id=2, profile=klea)]) as second:
            port.unlink()
            os.symlink(second.path, port)  # plugged back in
            for _ in range(5):  # whether the loss showed as a timeout or a closed port
                clock.advance(bus.backoff_max)  # let back-off and reconnect delay pass
                again = await bus.read_device(2, klea)
                if again.complete:
                    break
            assert again.complete
            assert_same_values(again.values, second.values(2))
    finally:
        await bus.close()
        await first.stop()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device-id", "0", "--profile", "eastron_sdm630"], "--device-id must be 1..247"),
        (["--device-id", "248", "--profile", "eastron_sdm630"], "--device-id must be 1..247"),
        (["--device-id", "1", "--profile", "no_such_meter"], "no_such_meter: unknown profile"),
        (["--device-id", "1", "--profile", "eastron_sdm630", "--keys", "bogus"], "no value bogus"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv: list[str], message: str, run_cli: Cli) -> None:
    code, out, err = run_cli(["modbus-read", "--port", "/dev/null", *argv])
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_cli_invalid_user_profile_exits_2_naming_file_and_field(
    tmp_path: Path, run_cli: Cli
) -> None:
    (tmp_path / "acme_x1.yaml").write_text(
        "manufacturer: A\nmodel: X\npoints:\n  - {key: v, address: 0, type: float32}\n",
        encoding="utf-8",
    )
    code, _, err = run_cli(
        [
            "modbus-read",
            "--port",
            "/dev/null",
            "--device-id",
            "1",
            "--profile",
            "acme_x1",
            "--profiles-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "acme_x1.yaml: points[0].word_order: required for float32" in err
    assert err.count("\n") == 1


async def test_cli_no_answer_exits_1_with_one_line(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli
) -> None:
    sdm = catalogue.get("eastron_sdm630")
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=sdm)]) as sim:
        code, out, err = await run_cli_async(
            [
                "modbus-read",
                "--port",
                sim.path,
                "--device-id",
                "2",
                "--profile",
                sdm.id,
                "--timeout",
                "0.05",
                "--json",
            ]
        )
    assert (code, out) == (1, "")
    assert "device 2" in err
    assert err.count("\n") == 1


def test_cli_missing_port_exits_1(tmp_path: Path, run_cli: Cli) -> None:
    code, _, err = run_cli(
        [
            "modbus-read",
            "--port",
            str(tmp_path / "nope"),
            "--device-id",
            "1",
            "--profile",
            "eastron_sdm630",
        ]
    )
    assert code == 1
    assert err.count("\n") == 1


async def test_poll_group_reads_only_that_group(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm630")
    async with (
        ModbusLineSimulator(devices_from_specs(["3:eastron_sdm630"], catalogue)) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3) as bus,
    ):
        slow = await bus.read_device(3, sdm, group="slow")
        assert "energy_import_total" in slow.values
        assert "voltage_l1" not in slow.values
        assert slow.requests == len(plan_reads(sdm, group="slow", max_gap=NEW_LINE_GAP))
        assert_same_values(slow.values, sim.values(3))


def test_device_specs_are_checked(catalogue: ProfileCatalogue) -> None:
    with pytest.raises(ValueError, match="DEVICE_ID:PROFILE_ID"):
        devices_from_specs(["eastron_sdm630"], catalogue)
    with pytest.raises(ValueError, match=r"1\.\.247"):
        devices_from_specs(["300:eastron_sdm630"], catalogue)


async def test_smartpower_bridge_entry_point(catalogue: ProfileCatalogue) -> None:
    """The installed command, when the whole CLI package is present in this checkout."""
    try:
        import hardware_bridge.cli  # noqa: F401
    except ImportError:
        pytest.skip("the CLI package's other sub-command modules are not in this checkout")
    async with ModbusLineSimulator(devices_from_specs(["5:kael_varkombi"], catalogue)) as sim:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hardware_bridge",
            "modbus-read",
            "--port",
            sim.path,
            "--device-id",
            "5",
            "--profile",
            "kael_varkombi",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["requests"] == 2
    assert_same_values(result["values"], sim.values(5))


async def test_silent_device_in_real_time_is_probed_once_per_period(
    catalogue: ProfileCatalogue,
) -> None:
    """Wall-clock version: the others are read back to back while the dead one is backed off."""
    specs = [
        "1:eastron_sdm630",
        "2:carlo_gavazzi_em24",
        "3:kael_varkombi",
        "4:entes_mpr3x",
        "5:klemsan_klea",
    ]
    devices = devices_from_specs(specs, catalogue)
    # a probe costs its timeout and the drain after it (as long again): 0.3 s of each 1 s
    timeout, backoff, duration = 0.15, 1.0, 3.0
    async with ModbusLineSimulator(devices) as sim:
        sim.set_fault(3, Fault.SILENT)
        async with ModbusBus(
            SerialSettings(port=sim.path),
            timeout=timeout,
            retries=0,
            backoff_initial=backoff,
            backoff_max=backoff,
        ) as bus:
            started = time.monotonic()
            cycles = 0
            while time.monotonic() - started < duration:
                for device in devices:
                    reading = await bus.read_device(device.device_id, device.profile)
                    assert reading.complete or device.device_id == 3, reading.errors
                cycles += 1
            elapsed = time.monotonic() - started
    assert sim.requests_seen(3) <= elapsed / backoff + 2
    assert cycles > 3 * sim.requests_seen(3)  # most cycles never waited for the dead device


async def test_concurrent_readers_share_the_line_one_request_at_a_time(
    catalogue: ProfileCatalogue,
) -> None:
    specs = [f"{i}:{p}" for i, p in enumerate(sorted(FULL_READ_REQUESTS), start=1)]
    devices = devices_from_specs(specs, catalogue)
    async with (
        ModbusLineSimulator(devices) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.5) as bus,
    ):
        readings = await asyncio.gather(*(bus.read_device(d.device_id, d.profile) for d in devices))
        for device, reading in zip(devices, readings, strict=True):
            assert reading.complete, reading.errors
            assert_same_values(reading.values, sim.values(device.device_id))


async def test_inter_frame_delay_and_per_device_timeout(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm630")
    async with (
        ModbusLineSimulator(
            devices_from_specs(["1:eastron_sdm630", "2:eastron_sdm630"], catalogue)
        ) as sim,
        ModbusBus(
            SerialSettings(port=sim.path), timeout=2.0, retries=0, inter_frame_delay=0.04
        ) as bus,
    ):
        started = time.monotonic()
        assert (await bus.read_device(1, sdm)).requests == 3
        assert time.monotonic() - started >= 2 * 0.04  # idle line between the 3 requests
        sim.set_fault(2, Fault.SILENT)
        bus.set_device_timeout(2, 0.05)
        started = time.monotonic()
        assert not (await bus.read_device(2, sdm)).available
        assert time.monotonic() - started < 0.5  # its own short timeout, not the bus's 2 s
        await sim.wait_for_requests(2, 1)
        assert sim.requests_seen(2) == 1


async def test_simulated_device_refuses_reads_into_a_hole(catalogue: ProfileCatalogue) -> None:
    """Why holes matter: a read spanning reserved registers fails as a whole."""
    async with (
        ModbusLineSimulator(devices_from_specs(["8:generic_analyzer"], catalogue)) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3, retries=0) as bus,
    ):
        with pytest.raises(ModbusExceptionResponse) as refused:
            await bus.read_registers(8, 3, 18, 40)  # 18..57 crosses the hole at 40..49
        assert refused.value.exception_code == 2
        assert len(await bus.read_registers(8, 3, 0, 40)) == 40
        assert len(await bus.read_registers(8, 3, 50, 8)) == 8


async def test_a_run_of_silent_addresses_does_not_close_the_line(
    catalogue: ProfileCatalogue,
) -> None:
    """The line stays usable after many unanswered addresses in a row (pymodbus before 3.16
    closes the port after a few; the bus disables that and reopens a closed port anyway)."""
    sdm = catalogue.get("eastron_sdm630")
    async with (
        ModbusLineSimulator(devices_from_specs(["5:eastron_sdm630"], catalogue)) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.03, retries=0) as bus,
    ):
        assert await bus.scan(range(20, 40), catalogue, timeout=0.03) == []
        reading = await bus.read_device(5, sdm)
        assert reading.complete
        assert reading.requests == len(plan_reads(sdm, max_gap=NEW_LINE_GAP))


async def test_backoff_doubles_while_the_device_stays_silent(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm120")
    clock = FakeClock()
    async with (
        ModbusLineSimulator(devices_from_specs(["4:eastron_sdm120"], catalogue)) as sim,
        ModbusBus(
            SerialSettings(port=sim.path),
            timeout=0.03,
            retries=0,
            backoff_initial=1.0,
            backoff_max=4.0,
            clock=clock,
        ) as bus,
    ):
        assert bus.health(4).state == "unknown"
        sim.set_fault(4, Fault.SILENT)
        periods = []
        for _ in range(4):
            await bus.read_device(4, sdm)
            health = bus.health(4)
            periods.append(health.backoff_seconds)
            assert health.state == "backed_off"
            assert health.retry_in == health.backoff_seconds
            clock.advance(health.backoff_seconds)
        assert periods == [1.0, 2.0, 4.0, 4.0]
        assert sim.requests_seen(4) == 4  # one request per period, nothing in between


async def test_a_late_answer_to_an_earlier_read_is_never_decoded(
    catalogue: ProfileCatalogue,
) -> None:
    """A slow device answers the previous request while the master waits for the next one.

    Same device id, same function code: only the length tells the frames apart, and a late
    80-register answer must not be cut down to pass for the 8 registers asked for now.
    """
    sdm = catalogue.get("eastron_sdm630")
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=sdm)]) as sim:
        link = sim._link
        deliver = link.taps["to_client"]
        assert deliver is not None
        held: list[bytes] = []

        def slow_device(chunk: bytes) -> bytes:
            frame = deliver(chunk)
            if not held:
                held.append(frame)  # the first answer comes too late...
                return b""
            return held.pop() + frame if held else frame  # ...just before the next one

        link.taps["to_client"] = slow_device
        async with ModbusBus(SerialSettings(port=sim.path), timeout=0.2, retries=0) as bus:
            with pytest.raises(ModbusNoResponse):
                await bus.read_registers(1, 4, 0, 80)
            with pytest.raises(ModbusNoResponse):  # not the first 8 of the late 80
                await bus.read_registers(1, 4, 72, 8)
