"""A meter's billing periods (``X*N`` and their reset dates ``0.1.2*N``) reach the snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hardware_bridge import (
    BillingPeriod,
    LineConfig,
    LineProtocol,
    LineTerminal,
    MeterConfig,
    SerialSettings,
)
from hardware_bridge.iec62056 import parse_readout
from hardware_bridge.obis import map_datasets
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.terminal import _billing_history


async def test_meter_snapshot_carries_past_billing_periods_with_their_reset_dates() -> None:
    # a real Makel C520 readout (see its source line), its clock set to the day it was captured:
    # the simulated meter stamps its past billing resets from its own clock
    meter = SimulatedMeter("makel_c520_3p", start=datetime(2023, 6, 14, 10, 0))
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


SAMPLES = Path(__file__).parent / "iec62056" / "samples"
UTC_ZONE = UTC


def _history(name: str) -> tuple[BillingPeriod, ...]:
    readout = parse_readout((SAMPLES / name).read_bytes())
    return _billing_history(map_datasets(readout.datasets), UTC_ZONE)


def test_makel_sample_closed_its_last_period_at_the_start_of_june() -> None:
    first = _history("tr_makel_c520_techviewer.txt")[0]
    assert first.reset == datetime(2023, 6, 1, 0, 0, tzinfo=UTC_ZONE)  # read on 2023-06-14
    assert first.values["reactive_inductive_total"] == pytest.approx(6.650)


def test_iskra_sample_zero_padded_periods_and_compact_stamps() -> None:
    """``1-0:0.1.2*01(1703010000)``: period 01 closed 2017-03-01 00:00 (read 2017-03-18)."""
    history = _history("iskra_mt174_smartmeter-obis.txt")
    assert [p.period for p in history[:3]] == [1, 2, 3]
    assert history[0].reset == datetime(2017, 3, 1, 0, 0, tzinfo=UTC_ZONE)
    assert history[0].values["energy_import_total"] == pytest.approx(7904.135)
    assert history[1].reset == datetime(2017, 2, 1, 0, 0, tzinfo=UTC_ZONE)


def test_luna_sample_last_closed_a_period_two_months_before_it_was_read() -> None:
    """Read on 2020-04-06 with ``0.1.2*1(20-02-01,00:00)``: its ``*1`` counters are where
    February started, not April — the reset date is what tells them apart."""
    first = _history("tr_luna_embedded4ever.txt")[0]
    assert first.reset == datetime(2020, 2, 1, 0, 0, tzinfo=UTC_ZONE)
