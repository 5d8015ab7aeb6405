"""Relay/input boards against their simulators over a pty: reads, confirmed writes, read-back
mismatches, boards that do not answer, the Waveshare (D) linkage mode and its init."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from hardware_bridge.modbus import (
    ModbusBus,
    ModbusReadBackMismatch,
    ModbusWriteError,
    Profile,
    ProfileCatalogue,
    load_profile_text,
)
from hardware_bridge.models import LineProtocol
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.modbus_io_boards import MODE_LINKAGE, WaveshareRelayBoard
from hardware_bridge.simulators.modbus_line import Fault, ModbusLineSimulator, SimulatedDevice
from hardware_bridge.terminal import LineConfig, LineTerminal, ModbusDeviceConfig

BOARDS = [
    "waveshare_relay_8ch",
    "waveshare_relay_8ch_d",
    "eletechsup_r4d3b16",
    "bestep_2ch_io",
    "generic_io_module",
]


@pytest.fixture
async def line(catalogue: ProfileCatalogue) -> AsyncIterator[tuple[ModbusLineSimulator, ModbusBus]]:
    devices = [
        SimulatedDevice(device_id=i, profile=catalogue.get(p)) for i, p in enumerate(BOARDS, 1)
    ]
    async with (
        ModbusLineSimulator(devices) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3) as bus,
    ):
        yield sim, bus


@pytest.mark.parametrize("device_id", range(1, len(BOARDS) + 1), ids=BOARDS)
async def test_read_and_confirmed_write(
    line: tuple[ModbusLineSimulator, ModbusBus], catalogue: ProfileCatalogue, device_id: int
) -> None:
    sim, bus = line
    profile = catalogue.get(BOARDS[device_id - 1])
    board = sim.board(device_id)
    last = len(profile.relays)
    if profile.inputs:
        board.set_input(len(profile.inputs), True)
    reading = await bus.read_device(device_id, profile)
    assert reading.complete
    assert dict(reading.values) == sim.values(device_id)
    assert await bus.write_point(device_id, profile, f"relay_{last}", True) is True
    assert board.relays[last - 1] is True
    assert sum(board.relays) == 1  # no other relay moved
    reading = await bus.read_device(device_id, profile)
    assert reading.values[f"relay_{last}"] is True
    if profile.inputs:
        assert reading.values[f"input_{len(profile.inputs)}"] is True
        assert reading.values["input_1"] is (len(profile.inputs) == 1)
    assert await bus.write_point(device_id, profile, f"relay_{last}", False) is False
    assert board.relays[last - 1] is False


async def test_an_input_is_not_writable(
    line: tuple[ModbusLineSimulator, ModbusBus], catalogue: ProfileCatalogue
) -> None:
    _, bus = line
    with pytest.raises(ValueError, match="input"):
        await bus.write_point(4, catalogue.get("bestep_2ch_io"), "input_1", True)
    with pytest.raises(KeyError):
        await bus.write_point(4, catalogue.get("bestep_2ch_io"), "relay_9", True)


async def test_linkage_mode_overrides_a_write_and_the_read_back_says_so(
    catalogue: ProfileCatalogue,
) -> None:
    """Without its init the (D) board stays in factory linkage mode: the relay follows its
    input, the write is echoed, and only the read-back shows that it did not take."""
    shipped = catalogue.get("waveshare_relay_8ch_d")
    bare = dataclasses.replace(shipped, init=())
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=1, profile=shipped)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3) as bus,
    ):
        board = sim.board(1)
        assert isinstance(board, WaveshareRelayBoard)
        assert board.modes == [MODE_LINKAGE] * 8
        board.set_input(1, True)
        with pytest.raises(ModbusReadBackMismatch) as caught:
            await bus.write_point(1, bare, "relay_1", False)
        assert (caught.value.reason, caught.value.wanted, caught.value.read_back) == (
            "mismatch",
            False,
            True,
        )
        assert "relay_1 not confirmed: wrote off, read back on" in str(caught.value)


async def test_linkage_mode_is_switched_off_once_on_first_contact(
    catalogue: ProfileCatalogue,
) -> None:
    profile = catalogue.get("waveshare_relay_8ch_d")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=1, profile=profile)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3, backoff_initial=0.0) as bus,
    ):
        board = sim.board(1)
        assert isinstance(board, WaveshareRelayBoard)
        board.set_input(1, True)  # in linkage mode relay 1 follows: on
        reading = await bus.read_device(1, profile)
        assert board.modes == [0] * 8
        assert reading.values["input_1"] is True
        assert reading.complete
        writes = board.writes
        assert await bus.write_point(1, profile, "relay_1", False) is False
        assert board.writes == writes + 1  # the init was not sent again
        board.set_input(1, False)
        board.set_input(1, True)
        assert (await bus.read_device(1, profile)).values["relay_1"] is False
        # a board that went silent may have been power-cycled back to linkage: init again
        sim.set_fault(1, Fault.SILENT)
        assert not (await bus.read_device(1, profile)).available
        sim.set_fault(1, Fault.NONE)
        board.modes = [MODE_LINKAGE] * 8
        await bus.read_device(1, profile)  # the probe after the back-off
        health = bus.health(1)
        assert health.state == "online", health
        assert board.modes == [0] * 8


async def test_eletechsup_stays_silent_on_an_invalid_command(catalogue: ProfileCatalogue) -> None:
    """The board never sends an exception: a command it does not take gets no answer, so the
    write is reported unconfirmed (no_response) — and the relay is left as it was."""
    shipped = catalogue.get("eletechsup_r4d3b16")
    text = (
        "manufacturer: X\nmodel: Y\nrelays:\n  - {key: relay_1, write: {function_code: 6, "
        "address: 1, on_value: 0x0900, off_value: 0x0200}, read: {function_code: 3, "
        "address: 1, on_value: 1, off_value: 0}}\n"
    )
    wrong: Profile = load_profile_text(text, source="wrong_commands.yaml")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=3, profile=shipped)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.2, retries=0) as bus,
    ):
        with pytest.raises(ModbusWriteError) as caught:
            await bus.write_point(3, wrong, "relay_1", True)
        assert caught.value.reason == "no_response"
        assert sim.requests_seen(3) == 1
        assert sim.board(3).relays[0] is False
        bus.backoff_initial = 0.0
        assert await bus.write_point(3, shipped, "relay_1", True) is True


async def test_silent_and_refusing_boards_are_typed_errors(catalogue: ProfileCatalogue) -> None:
    profile = catalogue.get("waveshare_relay_8ch")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=1, profile=profile)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.2, backoff_initial=0.0) as bus,
    ):
        sim.set_fault(1, Fault.SILENT)
        with pytest.raises(ModbusWriteError) as caught:
            await bus.write_point(1, profile, "relay_1", True)
        assert caught.value.reason == "no_response"
        assert sim.board(1).relays[0] is False
        sim.set_fault(1, Fault.EXCEPTION, exception_code=4)
        with pytest.raises(ModbusWriteError) as caught:
            await bus.write_point(1, profile, "relay_1", True)
        assert caught.value.reason == "exception"
        assert "exception 4" in str(caught.value)
        sim.set_fault(1, Fault.BAD_CRC)
        with pytest.raises(ModbusWriteError) as caught:
            await bus.write_point(1, profile, "relay_1", True)
        assert caught.value.reason == "no_response"


async def test_writes_through_an_echoing_adapter(catalogue: ProfileCatalogue) -> None:
    """FC05/FC06: the adapter's echo and the board's answer are the same bytes."""
    profiles = [catalogue.get("waveshare_relay_8ch"), catalogue.get("eletechsup_r4d3b16")]
    devices = [SimulatedDevice(device_id=i, profile=p) for i, p in enumerate(profiles, 1)]
    async with (
        ModbusLineSimulator(devices, echo=True) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3, handle_local_echo=True) as bus,
    ):
        assert await bus.write_point(1, profiles[0], "relay_3", True) is True
        assert await bus.write_point(2, profiles[1], "relay_12", True) is True
        assert sim.board(1).relays[2]
        assert sim.board(2).relays[11]


async def test_terminal_write_shows_only_the_read_back_state(catalogue: ProfileCatalogue) -> None:
    profile = catalogue.get("waveshare_relay_8ch_d")
    bare = dataclasses.replace(profile, init=())
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=profile)]) as sim:
        config = LineConfig(
            protocol=LineProtocol.MODBUS,
            serial=SerialSettings(port=sim.path),
            devices=(ModbusDeviceConfig(key="io", device_id=1, profile_id=profile.id),),
            timeout=0.3,
        )
        async with LineTerminal(config, catalogue) as terminal:
            await terminal.poll()
            snapshot = terminal.snapshot("io")
            assert snapshot is not None
            assert snapshot.values["relay_2"] is False
            assert await terminal.write("io", "relay_2", True) is True
            snapshot = terminal.snapshot("io")
            assert snapshot is not None
            assert snapshot.values["relay_2"] is True
            # a write the board overrides: the snapshot shows what was read back
            terminal._profiles["io"] = bare
            sim.board(1).modes[2] = MODE_LINKAGE
            with pytest.raises(ModbusReadBackMismatch):
                await terminal.write("io", "relay_3", True)
            snapshot = terminal.snapshot("io")
            assert snapshot is not None
            assert snapshot.values["relay_3"] is False
            sim.set_fault(1, Fault.SILENT)
            with pytest.raises(ModbusWriteError):
                await terminal.write("io", "relay_2", False)
            snapshot = terminal.snapshot("io")
            assert snapshot is not None
            assert snapshot.values["relay_2"] is None
            with pytest.raises(KeyError):
                await terminal.write("io", "relay_99", True)


async def test_fc0f_relay_writes_and_an_fc10_init(catalogue: ProfileCatalogue) -> None:
    """The multi-write function codes over the wire: a relay switched with FC0F, the (D)'s
    eight mode registers set with one FC10 write."""
    text = (
        "manufacturer: X\nmodel: Y\n"
        "init:\n  - {function_code: 16, address: 0x1000, value: [0, 0, 0, 0, 0, 0, 0, 0]}\n"
        "relays:\n  - {key: relay_5, write: {function_code: 15, address: 4},"
        " read: {function_code: 1, address: 4}}\n"
        "inputs:\n  - {key: input_5, read: {function_code: 2, address: 4}}\n"
    )
    profile = load_profile_text(text, source="multi_write.yaml")
    shipped = catalogue.get("waveshare_relay_8ch_d")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=7, profile=shipped)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3) as bus,
    ):
        board = sim.board(7)
        assert isinstance(board, WaveshareRelayBoard)
        board.set_input(5, True)
        assert await bus.write_point(7, profile, "relay_5", False) is False
        assert board.modes == [0] * 8
        assert board.writes == 2  # one FC10, one FC0F
        assert await bus.write_point(7, profile, "relay_5", True) is True
        assert board.relays == [False] * 4 + [True] + [False] * 3


async def test_eletechsup_momentary_pulse_ends_by_the_simulated_clock(
    catalogue: ProfileCatalogue,
) -> None:
    """Command 0x05 (momentary): on now, off one second later — the board times it."""
    text = (
        "manufacturer: X\nmodel: Y\nrelays:\n  - {key: relay_2, write: {function_code: 6, "
        "address: 2, on_value: 0x0500, off_value: 0x0200}, read: {function_code: 3, "
        "address: 2, on_value: 1, off_value: 0}}\n"
    )
    pulse = load_profile_text(text, source="pulse.yaml")
    shipped = catalogue.get("eletechsup_r4d3b16")
    async with (
        ModbusLineSimulator([SimulatedDevice(device_id=1, profile=shipped)]) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.3) as bus,
    ):
        assert await bus.write_point(1, pulse, "relay_2", True) is True
        sim.advance(0.5)
        assert (await bus.read_device(1, shipped, ["relay_2"])).values["relay_2"] is True
        sim.advance(0.6)
        assert (await bus.read_device(1, shipped, ["relay_2"])).values["relay_2"] is False
        assert sim.values(1)["relay_2"] is False
