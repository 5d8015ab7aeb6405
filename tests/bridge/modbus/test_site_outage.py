"""A simulated site losing its mains: no voltage, no load, counters that stand still, and devices
on an auxiliary supply that keep answering — so that tests of mains-loss detection see what a
real panel shows."""

from __future__ import annotations

import math

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.simulators.site_model import SiteModel


def test_an_outage_has_no_voltage_no_load_and_stops_the_counters() -> None:
    site = SiteModel(seed=1.3)
    site.outages.append((100.0, 700.0))
    before = site.at(99.0)
    assert min(before.voltage) > 200
    during = site.at(400.0)
    assert during.voltage == (0.0, 0.0, 0.0)
    assert sum(during.active) == 0.0
    assert sum(during.reactive) == 0.0
    counted = site.at(700.0).energy_active
    # 601 s of load would count about 1.3 kWh; the outage leaves what the integration step
    # around its start adds (a few seconds' worth)
    per_second_kwh = sum(before.active) / 3.6e6
    assert sum(counted) - sum(before.energy_active) < 10 * per_second_kwh
    after = site.at(760.0)
    assert min(after.voltage) > 200
    assert sum(after.energy_active) > sum(counted)


def test_a_line_cut_until_restored() -> None:
    catalogue = load_catalogue()
    sim = ModbusLineSimulator(
        [SimulatedDevice(device_id=1, profile=catalogue.get("eastron_sdm630"))]
    )
    sim.mains_outage(sim.time + 1)  # no end
    sim.advance(86_400)
    assert sim.values(1)["voltage_l1"] == 0.0
    assert (
        sim.values(1)["voltage_ll_avg" if "voltage_ll_avg" in sim.values(1) else "voltage_l1"] == 0
    )
    sim.restore_mains(sim.time + 1)
    sim.advance(2)
    assert float(sim.values(1)["voltage_l1"]) > 200
    with pytest.raises(ValueError, match="after the simulated present"):
        sim.mains_outage(sim.time)
    with pytest.raises(ValueError, match="after the simulated present"):
        sim.restore_mains(sim.time - 1)
    assert not math.isinf(sim.time)
