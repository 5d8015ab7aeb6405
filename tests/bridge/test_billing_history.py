"""A meter's billing periods (``X*N`` and their reset dates ``0.1.2*N``) reach the snapshot."""

from __future__ import annotations

from datetime import datetime

import pytest

from hardware_bridge import LineConfig, LineProtocol, LineTerminal, MeterConfig, SerialSettings
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter


async def test_meter_snapshot_carries_past_billing_periods_with_their_reset_dates() -> None:
    meter = SimulatedMeter("makel_c520_3p")  # a real Makel C520 readout (see its source line)
    async with MeterSimulator([meter], reaction_time=0.01) as sim:
        config = LineConfig(
            protocol=LineProtocol.IEC62056,
            serial=SerialSettings(port=sim.path, baudrate=300),
            meters=(MeterConfig(key=meter.address, address=meter.address),),
        )
        async with LineTerminal(config) as terminal:
            snapshot = (await terminal.poll())[meter.address]
    assert snapshot.available
    zone = datetime.now().astimezone().tzinfo
    first, second = snapshot.history
    # 0.1.2*1(23-06-01,00:00): period 1 closed at the start of June, so its counters are
    # where June started; period 2 closed at the start of May
    assert (first.period, first.reset) == (1, datetime(2023, 6, 1, 0, 0, tzinfo=zone))
    assert (second.period, second.reset) == (2, datetime(2023, 5, 1, 0, 0, tzinfo=zone))
    assert first.values["energy_import_total"] == pytest.approx(41.396)
    assert first.values["reactive_inductive_total"] == pytest.approx(6.650)
    assert first.values["reactive_capacitive_total"] == pytest.approx(47.817)
    assert second.values["energy_import_total"] == pytest.approx(19.608)
    # the current value is never taken from the history
    assert snapshot.values["energy_import_total"] == pytest.approx(meter.counter("1.8.0"), abs=0.01)
