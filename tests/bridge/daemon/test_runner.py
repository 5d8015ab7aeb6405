"""The daemon against simulated lines on ptys: every poll recorded as read, in order, with the
values the devices served; events for an input flip and a silent device; LAN-only history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hardware_bridge.daemon import Runner, load_config, load_config_text
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import Fault, ModbusLineSimulator, SimulatedDevice
from hardware_bridge.uplink import ReadingQueue, Record, RecordKind, TerminalIdentity

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


def _config(state_dir: Path, modbus_port: str, meter_port: str, meter_address: str) -> str:
    return f"""\
state_dir: {state_dir}
send_period: 15m
lines:
  - name: rs485
    port: {modbus_port}
    protocol: modbus
    poll_interval: 1s
    slow_interval: 2s
    io_interval: 200ms
    timeout: 300ms
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
      - {{name: io_board, address: 2, profile: bestep_2ch_io}}
  - name: optical
    port: {meter_port}
    protocol: iec62056
    poll_interval: 1s
    devices:
      - {{name: main_meter, address: "{meter_address}"}}
"""


class RecordingRunner(Runner):
    """Notes what the analyser served when each commit was made, and moves the simulator's
    clock on after each one: every poll then reads other values than the one before."""

    def __init__(self, *args: object, sim: ModbusLineSimulator, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sim = sim
        self.served: list[tuple[float, tuple[Record, ...]]] = []
        self.changed = asyncio.Event()

    async def commit(self, records: Sequence[Record]) -> None:
        at = self.sim.time
        await super().commit(records)
        self.served.append((at, tuple(records)))
        if any(r.device == "analyser" for r in records):
            self.sim.advance(600.0)  # ten simulated minutes between two polls
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def _history(state_dir: Path) -> list[tuple[int, Record]]:
    with ReadingQueue(state_dir / "queue.sqlite3") as queue:
        page = queue.history(EPOCH, FAR, limit=100_000)
        assert page.next_after is None
        assert queue.integrity_check() == []
    return [(q.seq, q.item) for q in page.records if isinstance(q.item, Record)]


async def test_every_poll_is_recorded_as_read_in_order_with_the_served_values(
    tmp_path: Path, catalogue: ProfileCatalogue, caplog: pytest.LogCaptureFixture
) -> None:
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io")),
    ]
    meter = SimulatedMeter("makel_c520_3p", time_scale=1e-6)
    async with (
        ModbusLineSimulator(devices) as sim,
        MeterSimulator([meter], reaction_time=0.01) as meter_sim,
    ):
        text = _config(tmp_path, sim.path, meter_sim.path, meter.address)
        config = load_config_text(text, catalogue=catalogue)
        identity = (await asyncio.to_thread(TerminalIdentity.open, tmp_path)).identity
        runner = RecordingRunner(config, identity, catalogue=catalogue, sim=sim)

        def analyser_polls() -> int:
            return sum(
                any(r.device == "analyser" and r.key == "voltage_l1" for r in records)
                for _, records in runner.served
            )

        def input_event() -> bool:
            return any(
                r.kind is RecordKind.EVENT and r.key == "input_1"
                for _, records in runner.served
                for r in records
            )

        with caplog.at_level(logging.INFO):
            task = asyncio.create_task(runner.run())
            await runner.until(lambda: analyser_polls() >= 3)
            sim.board(2).set_input(1, True)
            await runner.until(input_event)
            await runner.until(
                lambda: any(r.device == "main_meter" for _, rs in runner.served for r in rs)
            )
            runner.stop()
            await task

    stored = _history(tmp_path)
    committed = [r for _, records in runner.served for r in records]
    # everything committed is in the queue, once, in the order of the commits
    assert [record for _, record in stored] == committed
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1))

    # each analyser poll holds the values the simulator served at that moment: no averaging
    for served_at, records in runner.served:
        readings = [r for r in records if r.device == "analyser"]
        if not readings:
            continue
        sim.time = served_at
        expected = sim.values(1)
        assert readings, "a poll without readings"
        for record in readings:
            assert record.kind is RecordKind.READING
            assert record.value == pytest.approx(expected[record.key], rel=1e-6), record.key
    voltages = [r.value for r in committed if r.device == "analyser" and r.key == "voltage_l1"]
    assert len(voltages) >= 3
    assert len(set(voltages)) == len(voltages)  # every poll read anew, none repeated
    units = {r.key: r.unit for r in committed if r.device == "analyser"}
    assert units["voltage_l1"] == "V"
    assert units.get("energy_import_total") == "kWh"  # the slow group, read on its own interval

    # the input flip is one alarm event; the relays and inputs are not re-recorded every poll
    flips = [r for r in committed if r.device == "io_board" and r.kind is RecordKind.EVENT]
    assert [(r.key, r.value, r.alarm) for r in flips] == [("input_1", True, True)]
    first_states = [r for r in committed if r.device == "io_board" and r.kind is RecordKind.READING]
    assert sorted(r.key for r in first_states) == ["input_1", "input_2", "relay_1", "relay_2"]

    # the meter's readout, with the counter the simulated meter shows
    energy = [r for r in committed if r.device == "main_meter" and r.key == "energy_import_total"]
    assert energy
    assert energy[0].value == pytest.approx(meter.counter("1.8.0"), abs=0.01)
    assert energy[0].unit == "kWh"

    # LAN-only: the runner acknowledged its own appends (they are history, under retention)
    with ReadingQueue(tmp_path / "queue.sqlite3") as queue:
        stats = queue.stats()
    assert (stats.pending, stats.acked_seq) == (0, stats.last_seq)
    # healthy operation: no warning, no error
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_silent_device_is_one_alarm_and_its_return_one_event(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(devices) as sim:
        text = f"""\
state_dir: {tmp_path}
send_period: 15m
lines:
  - port: {sim.path}
    protocol: modbus
    poll_interval: 1s
    timeout: 100ms
    retries: 0
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
"""
        runner = RecordingRunner(
            load_config_text(text, catalogue=catalogue),
            (await asyncio.to_thread(TerminalIdentity.open, tmp_path)).identity,
            catalogue=catalogue,
            sim=sim,
        )

        def events(key: str) -> list[Record]:
            return [r for _, rs in runner.served for r in rs if r.key == key]

        task = asyncio.create_task(runner.run())
        await runner.until(lambda: len(events("voltage_l1")) >= 1)
        sim.set_fault(1, Fault.SILENT)
        await runner.until(lambda: bool(events("device_offline")))
        sim.set_fault(1, Fault.NONE)
        await runner.until(lambda: bool(events("device_online")))
        runner.stop()
        await task
    (offline,) = events("device_offline")
    assert offline.alarm
    assert offline.kind is RecordKind.EVENT
    assert isinstance(offline.value, str)  # the reason
    (online,) = events("device_online")
    assert not online.alarm


EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "terminal.yaml"


async def test_the_shipped_example_runs_against_the_simulators_as_documented(
    tmp_path: Path, catalogue: ProfileCatalogue, caplog: pytest.LogCaptureFixture
) -> None:
    # what its header says: `simulate modbus --device 1:eastron_sdm630 --device
    # 2:bestep_2ch_io` and `simulate meter`, their ports in the environment
    devices = [
        SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630")),
        SimulatedDevice(device_id=2, profile=catalogue.get("bestep_2ch_io")),
    ]
    async with (
        ModbusLineSimulator(devices) as sim,
        MeterSimulator([SimulatedMeter()], reaction_time=0.01) as meter_sim,
    ):
        environ = {
            "SMARTPOWER_MODBUS_PORT": sim.path,
            "SMARTPOWER_METER_PORT": meter_sim.path,
            "SMARTPOWER_STATE_DIR": str(tmp_path),
        }
        config = load_config(EXAMPLE, environ=environ, catalogue=catalogue)
        assert config.warnings == ()
        assert config.lan_only
        opened = await asyncio.to_thread(TerminalIdentity.open, tmp_path)  # scrypt: not here
        runner = RecordingRunner(config, opened.identity, catalogue=catalogue, sim=sim)
        seen: set[str] = set()

        def every_device() -> bool:
            seen.update(r.device for _, records in runner.served for r in records)
            return {"analyser", "io_board", "main_meter"} <= seen

        with caplog.at_level(logging.WARNING):
            task = asyncio.create_task(runner.run())
            await runner.until(every_device)
            runner.stop()
            await task
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_stop_does_not_cut_a_commit_in_half(
    tmp_path: Path, catalogue: ProfileCatalogue
) -> None:
    devices = [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(devices) as sim:
        text = f"""\
state_dir: {tmp_path}
send_period: 15m
lines:
  - port: {sim.path}
    protocol: modbus
    poll_interval: 1s
    devices:
      - {{name: analyser, address: 1, profile: eastron_sdm630}}
"""
        runner = RecordingRunner(
            load_config_text(text, catalogue=catalogue),
            (await asyncio.to_thread(TerminalIdentity.open, tmp_path)).identity,
            catalogue=catalogue,
            sim=sim,
        )
        task = asyncio.create_task(runner.run())
        await runner.until(lambda: bool(runner.served))
        record = Record(device="analyser", key="x", value=1, unit=None, time=datetime.now(UTC))
        cut = asyncio.create_task(Runner.commit(runner, [record]))
        await asyncio.sleep(0)  # the append is on its way to the queue's thread
        cut.cancel()
        runner.stop()
        await task
    with ReadingQueue(tmp_path / "queue.sqlite3") as queue:
        stats = queue.stats()
    assert stats.last_seq == runner.committed  # counted, as everything the queue took
    assert stats.pending == 0  # and acknowledged (LAN-only)
