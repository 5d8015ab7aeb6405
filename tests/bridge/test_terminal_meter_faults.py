"""The terminal never presents a cut readout as a reading of the meter."""

from __future__ import annotations

import pytest

from hardware_bridge.models import LineProtocol
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.terminal import LineConfig, LineTerminal, MeterConfig


async def test_a_cut_readout_is_a_failed_read_not_a_partial_refresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    meter = SimulatedMeter("makel_c520_3p")
    async with MeterSimulator([meter], reaction_time=0.01) as sim:
        config = LineConfig(
            protocol=LineProtocol.IEC62056,
            serial=SerialSettings(port=sim.path, baudrate=300),
            meters=(MeterConfig(key="m", address=meter.address),),
        )
        async with LineTerminal(config) as terminal:
            full = (await terminal.poll())["m"]
            assert full.available
            assert full.values["voltage_l1"] is not None

            sim.faults.cut_after = 5  # 0.0.0 … 0.1.0 arrive; the energy and voltages do not
            cut = (await terminal.poll())["m"]
            # not available, and no value stays at its old reading as if it were fresh
            assert not cut.available
            assert set(cut.values) == set(full.values)
            assert all(value is None for value in cut.values.values())
            assert cut.last_error is not None
            assert "incomplete" in cut.last_error
            assert cut.last_success == full.last_success
            assert terminal.line_error is None  # the line works; this meter's readout did not

            sim.faults.cut_after = None
            again = (await terminal.poll())["m"]
            assert again.available
            assert again.values["voltage_l1"] is not None
    assert [r.levelname for r in caplog.records].count("WARNING") == 1  # once, not every poll
