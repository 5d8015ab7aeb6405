"""Faults on the wire, injected by a proxy between the bus master and a simulated device.

RTU answers carry no transaction id: these tests check that a late, replayed or forged frame
never makes a value appear under the wrong key. A value may be unavailable (None); it may
never be wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.modbus import (
    ModbusBus,
    ModbusNoResponse,
    Profile,
    ProfileCatalogue,
    Value,
)
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.modbus_fault_proxy import (
    Emission,
    Exchange,
    FaultProxy,
    forged_function_code,
    on_time,
)
from hardware_bridge.simulators.modbus_frames import with_crc
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

AsyncCli = Callable[[Sequence[str]], Awaitable[tuple[int, str, str]]]

# THD and per-phase energy: both one float32 each, read by two FC04 requests of the same length.
SAME_LENGTH_KEYS = ["thd_voltage_l1", "energy_import_l1"]
NO_BACKOFF = {"failures_before_backoff": 1_000_000}
"""Keep asking a failing device, so every read meets the fault."""


def assert_honest(values: Mapping[str, Value], served: Mapping[str, Value]) -> None:
    """Every value is unavailable or the one the device stores under its key."""
    for key, value in values.items():
        if value is None:
            continue
        expected = served[key]
        if isinstance(expected, float):
            assert value == pytest.approx(expected, rel=1e-6, abs=1e-9), key
        else:
            assert value == expected, key


@asynccontextmanager
async def proxied(
    profile: Profile, behaviour: Callable[[Exchange], Sequence[Emission]], reaction: float = 0.0
) -> AsyncIterator[tuple[ModbusLineSimulator, FaultProxy]]:
    device = SimulatedDevice(device_id=1, profile=profile)
    async with ModbusLineSimulator([device]) as sim:
        proxy = FaultProxy(sim.path, behaviour=behaviour, reaction=reaction)
        with proxy:
            yield sim, proxy
        assert proxy.errors == []


async def test_a_device_slower_than_the_timeout_gives_unavailable_values_not_wrong_ones(
    catalogue: ProfileCatalogue,
) -> None:
    """In-order device answering 1.4 × the timeout after it starts on a request."""
    sdm = catalogue.get("eastron_sdm630")
    async with (
        proxied(sdm, on_time, reaction=0.14) as (sim, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=0.1, retries=1, **NO_BACKOFF) as bus,
    ):
        served = sim.values(1)
        assert served["thd_voltage_l1"] != served["energy_import_l1"]
        for _ in range(3):
            reading = await bus.read_device(1, sdm, SAME_LENGTH_KEYS)
            assert_honest(reading.values, served)
        assert bus.drains > 0


async def test_cli_with_a_late_device_never_prints_another_registers_value(
    catalogue: ProfileCatalogue, run_cli_async: AsyncCli
) -> None:
    """The field report: answers 0.7 s after starting on a request, default 0.5 s timeout."""
    sdm = catalogue.get("eastron_sdm630")
    async with proxied(sdm, on_time, reaction=0.7) as (sim, proxy):
        code, out, _ = await run_cli_async(
            [
                "modbus-read",
                "--port",
                proxy.path,
                "--device-id",
                "1",
                "--profile",
                sdm.id,
                "--keys",
                ",".join(SAME_LENGTH_KEYS),
                "--json",
            ]
        )
        served = sim.values(1)
    if code == 0:
        assert_honest(json.loads(out)["values"], served)
    else:
        assert code == 1


async def test_an_fc03_frame_is_not_the_answer_to_an_fc04_read(
    catalogue: ProfileCatalogue,
) -> None:
    sdm = catalogue.get("eastron_sdm630")  # an FC04 device
    async with (
        proxied(sdm, forged_function_code) as (_, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=0.1, retries=0) as bus,
    ):
        with pytest.raises(ModbusNoResponse, match="function 3 answer"):
            await bus.read_registers(1, 4, 0, 2)
        reading = await bus.read_device(1, sdm, ["voltage_l1"])
        assert reading.values == {"voltage_l1": None}
        assert {e.kind for e in reading.errors} == {"no_response"}


async def test_only_the_addressed_devices_exception_to_this_function_is_its_answer(
    catalogue: ProfileCatalogue,
) -> None:
    sdm = catalogue.get("eastron_sdm630")

    def refuse(exchange: Exchange) -> Sequence[Emission]:
        device_id, fc = exchange.request[0], exchange.request[1]
        n = exchange.index % 3
        if n == 0:  # the addressed device refuses: its answer
            return [(0.0, with_crc(bytes([device_id, fc | 0x80, 2])))]
        if n == 1:  # another device's exception
            return [(0.0, with_crc(bytes([device_id + 1, fc | 0x80, 2])))]
        return [(0.0, with_crc(bytes([device_id, 7 - fc | 0x80, 2])))]  # to another function

    async with (
        proxied(sdm, refuse) as (_, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=0.1, retries=0, **NO_BACKOFF) as bus,
    ):
        refused = await bus.read_device(1, sdm, ["voltage_l1"])
        other_device = await bus.read_device(1, sdm, ["voltage_l1"])
        other_function = await bus.read_device(1, sdm, ["voltage_l1"])
    assert [e.kind for e in refused.errors] == ["exception"]
    assert "exception 2 (illegal data address) to function 4" in refused.errors[0].message
    assert bus.health(1).state != "unknown"
    for reading in (other_device, other_function):
        assert [e.kind for e in reading.errors] == ["no_response"]
        assert reading.values == {"voltage_l1": None}


async def test_a_stale_frame_replayed_after_the_timeout_is_never_decoded(
    catalogue: ProfileCatalogue,
) -> None:
    """The genuine answer is lost; an earlier answer of the same length turns up late."""
    sdm = catalogue.get("eastron_sdm630")
    timeout = 0.1

    def replay(exchange: Exchange) -> Sequence[Emission]:
        if exchange.index == 0:
            return on_time(exchange)  # the first read goes through...
        length = len(exchange.response or b"")
        stale = [r for _, r in exchange.earlier if r is not None and len(r) == length]
        return [(1.3 * timeout, stale[0])] if stale else []  # ...then its answer returns

    async with (
        proxied(sdm, replay) as (sim, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=timeout, retries=2) as bus,
    ):
        served = sim.values(1)
        first = await bus.read_device(1, sdm, ["thd_voltage_l1"], max_gap=0)
        assert first.values["thd_voltage_l1"] == pytest.approx(served["thd_voltage_l1"])
        then = await bus.read_device(1, sdm, ["energy_import_l1"], max_gap=0)
    assert_honest(then.values, served)
    assert then.values == {"energy_import_l1": None}
    assert then.requests == 3


async def test_a_duplicate_answer_makes_the_bus_drain_before_the_next_request(
    catalogue: ProfileCatalogue,
) -> None:
    sdm = catalogue.get("eastron_sdm630")

    def twice(exchange: Exchange) -> Sequence[Emission]:
        return [(0.0, r) for r in (exchange.response, exchange.response) if r]

    async with (
        proxied(sdm, twice) as (sim, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=0.1, retries=0) as bus,
    ):
        for _ in range(3):
            reading = await bus.read_device(1, sdm, SAME_LENGTH_KEYS, max_gap=0)
            assert_honest(reading.values, sim.values(1))
        assert bus.drains >= 1


# -- property: arbitrary answer timings ----------------------------------------------------
TIMEOUT = 0.06
"""Response timeout; the bus drains for as long again after a failure."""


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    delays=st.lists(st.one_of(st.none(), st.floats(0.0, 1.6 * TIMEOUT)), min_size=1, max_size=12),
    duplicate=st.lists(st.booleans(), min_size=1, max_size=12),
    reads=st.lists(st.sampled_from(["thd", "energy", "both", "volts"]), min_size=3, max_size=6),
)
async def test_whatever_the_answer_timing_every_value_comes_from_its_own_register(
    catalogue: ProfileCatalogue,
    delays: list[float | None],
    duplicate: list[bool],
    reads: list[str],
) -> None:
    """An in-order device whose every answer is late by an arbitrary delay below the
    timeout + drain horizon, sometimes lost, sometimes sent twice."""
    sdm = catalogue.get("eastron_sdm630")
    keys = {
        "thd": ["thd_voltage_l1", "thd_voltage_l2"],
        "energy": ["energy_import_l1", "energy_import_l2"],
        "both": SAME_LENGTH_KEYS,
        "volts": ["voltage_l1", "voltage_l2"],
    }

    def jitter(exchange: Exchange) -> Sequence[Emission]:
        delay = delays[exchange.index % len(delays)]
        if delay is None or exchange.response is None:
            return []
        copies = 2 if duplicate[exchange.index % len(duplicate)] else 1
        return [(delay, exchange.response)] * copies

    async with (
        proxied(sdm, jitter) as (sim, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=TIMEOUT, retries=1, **NO_BACKOFF) as bus,
    ):
        served = sim.values(1)
        for name in reads:
            reading = await bus.read_device(1, sdm, keys[name], max_gap=0)
            assert_honest(reading.values, served)


# -- logging --------------------------------------------------------------------------------
async def test_scan_and_polls_of_silent_devices_log_no_error(
    catalogue: ProfileCatalogue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pymodbus")  # as in HA: nobody silenced it
    sdm = catalogue.get("eastron_sdm630")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=5, profile=sdm)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.02, retries=1, **NO_BACKOFF) as bus,
    ):
        hits = await bus.scan(range(1, 41), catalogue, timeout=0.02)
        assert [h.device_id for h in hits] == [5]
        for _ in range(5):
            reading = await bus.read_device(9, sdm, ["voltage_l1"])
            assert reading.values == {"voltage_l1": None}
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud][:3]


async def test_a_line_that_never_falls_silent_does_not_hang_the_bus(
    catalogue: ProfileCatalogue,
) -> None:
    sdm = catalogue.get("eastron_sdm630")

    def babble(exchange: Exchange) -> Sequence[Emission]:
        return [(i * 0.002, b"\xff\x00\x13") for i in range(10_000)]  # 20 s of noise

    async with (
        proxied(sdm, babble) as (_, proxy),
        ModbusBus(SerialSettings(port=proxy.path), timeout=0.05, retries=1, **NO_BACKOFF) as bus,
    ):
        async with asyncio.timeout(10):
            for _ in range(2):
                reading = await bus.read_device(1, sdm, ["voltage_l1"])
                assert reading.values == {"voltage_l1": None}
