"""The simulated meter obeys physics: what it counts is what its load draws, on its clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from conftest import fast_settings

from hardware_bridge.iec62056 import DataSet, MeterClient
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.meter_physics import Load, MeterClock, tariff_at

TARIFFS = ("1.8.1", "1.8.2", "1.8.3")


class FakeTime:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _meter(
    start: datetime, *, scale: float = 1.0, **load: float
) -> tuple[SimulatedMeter, FakeTime]:
    fake = FakeTime()
    clock = MeterClock(start, scale, monotonic=fake)
    return SimulatedMeter("makel_c520_3p", clock=clock, **load), fake


def _values(datasets: tuple[DataSet, ...]) -> dict[str, str]:
    return {d.address: d.value or "" for d in datasets}


def _number(values: dict[str, str], code: str) -> float:
    return float(values[code])


def _meter_time(values: dict[str, str]) -> datetime:
    return datetime.strptime(f"{values['0.9.2']} {values['0.9.1']}", "%y-%m-%d %H:%M:%S")


def _power_from_phases(values: dict[str, str]) -> float:
    """Σ U·I over the phases, times the meter's power factor (kW)."""
    apparent = sum(
        _number(values, u) * _number(values, i)
        for u, i in (("32.7.0", "31.7.0"), ("52.7.0", "51.7.0"), ("72.7.0", "71.7.0"))
    )
    return apparent * _number(values, "13.7.0") / 1000


def test_counters_rise_by_the_energy_the_load_draws_in_each_tariff() -> None:
    meter, fake = _meter(datetime(2026, 11, 30, 16, 0), load_kw=3.0, reactive_kvar=1.2)
    first = _values(meter.datasets())
    fake.now += 2 * 3600  # 16:00 → 18:00: one hour of T1 (day), one of T2 (peak)
    second = _values(meter.datasets())
    assert _meter_time(second) - _meter_time(first) == timedelta(hours=2)
    rise = {code: _number(second, code) - _number(first, code) for code in (*TARIFFS, "1.8.0")}
    assert rise["1.8.1"] == pytest.approx(3.0, abs=0.002)
    assert rise["1.8.2"] == pytest.approx(3.0, abs=0.002)
    assert rise["1.8.3"] == pytest.approx(0.0, abs=0.001)
    assert rise["1.8.0"] == pytest.approx(6.0, abs=0.003)
    inductive = _number(second, "5.8.0") - _number(first, "5.8.0")
    capacitive = _number(second, "8.8.0") - _number(first, "8.8.0")
    assert inductive == pytest.approx(1.2 * 2, abs=0.002)
    assert capacitive == pytest.approx(1.2 / 5 * 2, abs=0.002)
    for values in (first, second):  # the total is the sum of the tariff registers, exactly
        assert round(sum(_number(values, c) for c in TARIFFS) - _number(values, "1.8.0"), 6) == 0


def test_currents_and_power_factor_carry_the_power_the_counters_count() -> None:
    meter, _ = _meter(datetime(2026, 11, 30, 12, 0), load_kw=2.0, reactive_kvar=0.5)
    values = _values(meter.datasets())
    # each phase's current is S/U for its share of the load: at 2 kW about 2.9 A, not 0.3 A
    assert _power_from_phases(values) == pytest.approx(2.0, rel=0.02)
    luna = SimulatedMeter("luna_1p", load_kw=1.5, reactive_kvar=0.6)
    one = _values(luna.datasets())
    power = _number(one, "32.7.0") * _number(one, "31.7.0") * _number(one, "33.7.0") / 1000
    assert power == pytest.approx(1.5, rel=0.01)  # P = U·I·cos φ on the one live phase
    assert _number(one, "51.7.0") == 0.0  # no voltage on L2: no current either


def test_phase_powers_add_up_to_the_load() -> None:
    load = Load(active_kw=6.0, inductive_kvar=2.0, capacitive_kvar=0.4)
    phases = load.phases([230.0, 231.0, 229.0])
    assert sum(p.voltage * p.current * p.power_factor for p in phases) / 1000 == pytest.approx(6.0)
    assert sum(p.reactive_kvar for p in phases if p.reactive_kvar > 0) == pytest.approx(2.0)
    assert sum(p.reactive_kvar for p in phases if p.reactive_kvar < 0) == pytest.approx(-0.4)


@pytest.mark.parametrize(
    ("hour", "tariff"), [(5, 3), (6, 1), (16, 1), (17, 2), (21, 2), (22, 3), (0, 3)]
)
def test_tariff_of_the_hour(hour: int, tariff: int) -> None:
    assert tariff_at(datetime(2026, 1, 1, hour, 30)) == tariff


def test_the_clock_runs_as_fast_as_its_time_scale_says() -> None:
    meter, fake = _meter(datetime(2026, 11, 30, 10, 0), scale=60.0)
    first = _values(meter.datasets())
    fake.now += 60  # one real minute is one simulated hour
    second = _values(meter.datasets())
    assert _meter_time(second) - _meter_time(first) == timedelta(hours=1)
    assert _number(second, "1.8.0") - _number(first, "1.8.0") == pytest.approx(2.0, abs=0.002)


def test_billing_reset_on_the_first_of_the_month() -> None:
    meter, fake = _meter(datetime(2026, 11, 30, 23, 0), load_kw=10.0)
    before = _values(meter.datasets())
    assert before["0.1.2*1"] == "26-11-01,00:00"  # the last reset, on the meter's clock
    assert before["0.1.2*2"] == "26-10-01,00:00"
    fake.now += 3600  # 00:00 on the first of December: the reset
    after_reset = _values(meter.datasets())
    assert int(after_reset["0.1.0"]) == (int(before["0.1.0"]) + 1) % 100
    assert after_reset["0.1.2*1"] == "26-12-01,00:00"
    assert after_reset["0.1.2*2"] == "26-11-01,00:00"
    # the registers at the reset moved into history, what was *1 is now *2
    assert _number(after_reset, "1.8.0*1") == pytest.approx(_number(before, "1.8.0") + 10.0)
    assert after_reset["1.8.0*2"] == before["1.8.0*1"]
    # this month's maximum demand starts again: no event yet
    demand = next(d for d in meter.datasets() if d.address == "1.6.0")
    assert [v.value for v in demand.values] == ["000.000", "00-00-00,00:00"]
    previous = next(d for d in meter.datasets() if d.address == "1.6.0*1")
    assert [v.value for v in previous.values] == ["010.000", "26-11-30,23:15"]
    fake.now += 15 * 60
    demand = next(d for d in meter.datasets() if d.address == "1.6.0")
    assert [v.value for v in demand.values] == ["010.000", "26-12-01,00:15"]


async def test_two_readouts_over_the_line_agree_with_the_energy_drawn() -> None:
    meter = SimulatedMeter("makel_c520_3p", load_kw=4.0, time_scale=36000.0)
    async with MeterSimulator([meter], reaction_time=0.01) as sim:
        client = MeterClient(fast_settings(sim.path))
        first = _values((await client.read()).datasets)
        await asyncio.sleep(0.2)
        second = _values((await client.read()).datasets)
    hours = (_meter_time(second) - _meter_time(first)).total_seconds() / 3600
    assert hours > 1  # ten simulated hours a second
    assert _power_from_phases(second) == pytest.approx(4.0, rel=0.02)
    rise = _number(second, "1.8.0") - _number(first, "1.8.0")
    # ∫P dt over the readouts' own clocks; they show whole seconds (≤ 2 s of load, 0.0022
    # kWh) and each register its last digit (0.001 kWh each)
    assert rise == pytest.approx(4.0 * hours, abs=0.005)
    for values in (first, second):
        assert round(sum(_number(values, c) for c in TARIFFS) - _number(values, "1.8.0"), 6) == 0


@pytest.mark.parametrize(
    ("start", "sent"),
    [
        # captured on 23-06-14 with 1.6.0(003.264*kW)(23-06-06,18:45): the same day of this month
        (datetime(2026, 11, 29, 12, 0), ("003.264", "26-11-06,18:45")),
        # the 6th is still to come: no maximum demand yet this billing month
        (datetime(2026, 12, 2, 12, 0), ("000.000", "00-00-00,00:00")),
    ],
)
def test_current_maximum_demand_lies_in_the_meter_clocks_billing_month(
    start: datetime, sent: tuple[str, str]
) -> None:
    """Not years before its own clock, as a fixed capture date would be."""
    meter = SimulatedMeter("makel_c520_3p", start=start)
    demand = next(d for d in meter.datasets() if d.address == "1.6.0")
    assert (demand.values[0].value, demand.values[1].value) == sent
