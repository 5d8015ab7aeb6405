"""The daemon's own GPIO: an input flip is an alarm event, a mains contact gives mains lost and
back, a relay held past its longest on-time is switched off by its fail-safe and recorded."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge.daemon import GPIO_DEVICE, TERMINAL_DEVICE, Runner, load_config_text
from hardware_bridge.io import MainsThresholds
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import Record, RecordKind, TerminalIdentity

_spec = importlib.util.spec_from_file_location(
    "daemon_io_fakes", Path(__file__).parents[1] / "io" / "io_fakes.py"
)
assert _spec is not None
assert _spec.loader is not None
io_fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(io_fakes)
FakeChip = io_fakes.FakeChip  # the I/O tests' in-memory GPIO chip


@pytest.fixture(scope="module")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


class WatchingRunner(Runner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[Record] = []
        self.more = asyncio.Event()

    async def commit(self, records: Sequence[Record]) -> None:
        await super().commit(records)
        self.records.extend(records)
        self.more.set()

    async def until(self, predicate: Callable[[Record], bool]) -> Record:
        async with asyncio.timeout(30):
            while True:
                for record in self.records:
                    if predicate(record):
                        return record
                self.more.clear()
                await self.more.wait()


async def test_inputs_mains_contact_and_relay_fail_safe_become_events(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    chip = FakeChip()
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(devices) as sim:
        text = f"""\
state_dir: {tmp_path}
send_period: 15m
lines:
  - port: {sim.path}
    protocol: modbus
    poll_interval: 10s
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
gpio:
  chip: {chip.path}
  inputs:
    - {{name: in1, offset: 17, debounce: 0ms}}
    - {{name: mains_ok, offset: 18, debounce: 0ms}}
  relays:
    - {{name: c1, offset: 22, max_on: 1s}}
mains:
  input: mains_ok
"""
        chip.set_level(18, False)  # contact closed (active low): mains present at start
        config = load_config_text(text, catalogue=catalogue)
        identity = (await asyncio.to_thread(TerminalIdentity.open, tmp_path)).identity
        runner = WatchingRunner(config, identity, catalogue=catalogue, gpio_chip=chip)
        task = asyncio.create_task(runner.run())
        try:
            first = await runner.until(lambda r: r.device == GPIO_DEVICE and r.key == "in1")
            assert (first.kind, first.value) == (RecordKind.READING, False)

            chip.set_level(17, False)  # in1's contact closes
            flip = await runner.until(lambda r: r.key == "in1" and r.kind is RecordKind.EVENT)
            assert (flip.device, flip.value, flip.alarm) == (GPIO_DEVICE, True, True)

            assert runner._mains is not None
            runner._mains.monitor.thresholds = MainsThresholds(confirm_loss=0, confirm_restore=0)
            chip.set_level(18, True)  # the mains contact opens
            lost = await runner.until(lambda r: r.key == "mains_lost")
            assert (lost.device, lost.alarm) == (TERMINAL_DEVICE, True)
            chip.set_level(18, False)
            back = await runner.until(lambda r: r.key == "mains_restored")
            assert back.alarm

            await runner.switch_relay("c1", True)
            switched = await runner.until(lambda r: r.key == "c1" and r.value is True)
            assert not switched.alarm
            off = await runner.until(lambda r: r.key == "c1" and r.value is False)
            assert (off.kind, off.alarm) == (RecordKind.EVENT, True)  # its fail-safe acted
            assert chip.lines is not None
            assert chip.lines.driven[22] is False
        finally:
            runner.stop()
            await task


async def test_gpio_states_that_do_not_change_are_sent_again_each_half_period(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    """The terminal's own inputs and relays, unchanged, are recorded again as readings every
    half send period: a terminal whose I/O does not change still has something to send (a
    relay command rides back on the reply), and readers never see its states grow old."""
    chip = FakeChip()
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(devices) as sim:
        text = f"""\
state_dir: {tmp_path}
send_period: 2s
lines:
  - port: {sim.path}
    protocol: modbus
    poll_interval: 10s
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
gpio:
  chip: {chip.path}
  inputs:
    - {{name: in1, offset: 17, debounce: 0ms}}
  relays:
    - {{name: c1, offset: 22}}
"""
        config = load_config_text(text, catalogue=catalogue)
        identity = (await asyncio.to_thread(TerminalIdentity.open, tmp_path)).identity
        runner = WatchingRunner(config, identity, catalogue=catalogue, gpio_chip=chip)
        task = asyncio.create_task(runner.run())

        def readings(key: str) -> list[Record]:
            return [
                r
                for r in runner.records
                if (r.device, r.key, r.kind) == (GPIO_DEVICE, key, RecordKind.READING)
            ]

        try:
            await runner.until(lambda _: len(readings("in1")) >= 3)
            await runner.switch_relay("c1", True)
            await runner.until(lambda _: any(r.value is True for r in readings("c1")))
        finally:
            runner.stop()
            await task
    inputs = readings("in1")
    assert [r.value for r in inputs] == [False] * len(inputs)
    assert inputs[0].time < inputs[1].time < inputs[2].time
    relay = [r.value for r in readings("c1")]
    assert relay[0] is False
    assert relay[-1] is True
    assert relay == sorted(relay)  # off while it was off, on once switched on
