"""The Modbus simulator obeys physics, for every shipped profile.

A simulator whose counters run a thousand times faster than its power, whose phase powers do
not add up, or whose relay shows three stages on while reporting five, hides exactly the bugs
the tests built on it are meant to catch. These tests read what a device serves (its
datastore, and through the real bus master) at many instants and check the physics from the
outside: counters against the integral of the served power, sums, S² = P² + Q², PF = P/S,
stage count against stage bits, alarms that do not flip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise

import pytest

from hardware_bridge.modbus import (
    DataType,
    ModbusBus,
    Point,
    Profile,
    ProfileCatalogue,
    Value,
    load_catalogue,
)
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice
from hardware_bridge.simulators.modbus_values import DeviceSimulation, stage_keys

PROFILES = tuple(load_catalogue().ids())
"""Every shipped profile: a new one is checked as soon as it is added."""
START, WINDOW, STEP = 100.5, 1200.0, 1.0

Values = Mapping[str, Value]


def test_the_simulator_speaks_every_shipped_profile() -> None:
    assert len(PROFILES) >= 10
    assert {"eastron_sdm630", "kael_varkombi", "generic_compensation_relay"} <= set(PROFILES)


def _number(values: Values, key: str) -> float:
    value = values[key]
    assert isinstance(value, int | float), (key, value)
    assert not isinstance(value, bool), (key, value)
    return float(value)


def _resolution(profile: Profile, key: str, values: Values) -> float:
    """Half a step of the register holding ``key``: what encoding may have rounded away."""
    point = profile.point(key)
    if point.type is DataType.FLOAT32:
        return abs(_number(values, key)) * 2**-23 + 1e-9
    factor = _number(values, point.scale_by) if point.scale_by else 1.0
    return abs(point.scale * factor) / 2


def _sign(point: Point) -> float:
    """Relays that sign reactive power + capacitive / − inductive."""
    return -1.0 if "+cap" in point.name else 1.0


def _samples(profile: Profile, seed: float = 2.6) -> Iterator[tuple[float, Values]]:
    simulation = DeviceSimulation(profile, seed=seed)
    for i in range(int(WINDOW / STEP) + 1):
        t = START + i * STEP
        yield t, simulation.render(t).values


def _integral(samples: Sequence[tuple[float, Values]], power: str, part: float) -> float:
    """Trapezoid integral (kWh or kvarh) of ``part ×`` a served power, positive part only."""

    def watts(values: Values) -> float:
        return max(part * _number(values, power), 0.0)

    total = 0.0
    for (t0, a), (t1, b) in pairwise(samples):
        total += (watts(a) + watts(b)) / 2 * (t1 - t0)
    return total / 3.6e6


# counter key → (power key, direction), direction +1 imported / inductive, −1 capacitive
COUNTERS = {
    "energy_import_total": ("power_active_total", 1.0),
    "energy_import_l1": ("power_active_l1", 1.0),
    "energy_import_l2": ("power_active_l2", 1.0),
    "energy_import_l3": ("power_active_l3", 1.0),
    "energy_export_total": ("power_active_total", -1.0),
    "reactive_import_total": ("power_reactive_total", 1.0),
    "reactive_inductive_total": ("power_reactive_total", 1.0),
    "reactive_export_total": ("power_reactive_total", -1.0),
    "reactive_capacitive_total": ("power_reactive_total", -1.0),
}


@pytest.mark.parametrize("profile_id", PROFILES)
def test_counters_integrate_the_served_power(catalogue: ProfileCatalogue, profile_id: str) -> None:
    profile = catalogue.get(profile_id)
    samples = list(_samples(profile))
    first, last = samples[0][1], samples[-1][1]
    checked = 0
    for counter, (power, direction) in COUNTERS.items():
        if counter not in first or power not in first:
            continue
        sign = _sign(profile.point(power)) * direction
        expected = _integral(samples, power, sign)
        counted = _number(last, counter) - _number(first, counter)
        rounding = _resolution(profile, counter, first) + _resolution(profile, counter, last)
        # the trapezoid rule over 1 s steps is far more exact than any counter's resolution
        assert counted == pytest.approx(expected, abs=rounding + 1e-4 * abs(expected) + 1e-6), (
            counter,
            counted,
            expected,
        )
        checked += 1
    for point in profile.points:
        stage = point.key.replace("switch_count_", "stage_")
        if point.key.startswith("switch_count_") and stage in first:
            # a stage's switching counter counts the times its output changed
            flips = sum(a[stage] != b[stage] for (_, a), (_, b) in pairwise(samples))
            assert _number(last, point.key) - _number(first, point.key) == flips, point.key
            checked += 1
    has_counter = any(p.state_class == "total_increasing" for p in profile.points)
    assert checked or not has_counter, "counters the simulator's physics does not cover"


@pytest.mark.parametrize("profile_id", PROFILES)
def test_powers_add_up_and_power_factor_is_p_over_s(
    catalogue: ProfileCatalogue, profile_id: str
) -> None:
    profile = catalogue.get(profile_id)
    for _, values in list(_samples(profile))[::37]:
        _check_instant(profile, values)


def _check_instant(profile: Profile, values: Values) -> None:
    def tol(*keys: str) -> float:
        return sum(_resolution(profile, k, values) for k in keys) + 1e-6

    phases = [s for s in ("_l1", "_l2", "_l3") if f"power_active{s}" in values]
    if len(phases) == 3 and "power_active_total" in values:
        keys = [f"power_active{s}" for s in phases]
        assert sum(_number(values, k) for k in keys) == pytest.approx(
            _number(values, "power_active_total"), abs=tol(*keys, "power_active_total")
        )
    for suffix in ("_l1", "_l2", "_l3", "_total"):
        p_key, q_key, s_key = (f"power_{x}{suffix}" for x in ("active", "reactive", "apparent"))
        if {p_key, q_key, s_key} <= values.keys():
            p, q, s = (_number(values, k) for k in (p_key, q_key, s_key))
            assert s == pytest.approx(math.hypot(p, q), abs=tol(p_key, q_key, s_key)), suffix
        for pf_key in (f"power_factor{suffix}", f"cos_phi{suffix}"):
            if not {pf_key, p_key} <= values.keys():
                continue
            p = _number(values, p_key)
            if s_key in values:
                s = _number(values, s_key)
            elif q_key in values:
                s = math.hypot(p, _number(values, q_key))
            else:
                continue
            pf = abs(_number(values, pf_key))
            slack = tol(pf_key) + (tol(p_key, s_key if s_key in values else q_key)) / s
            assert pf == pytest.approx(p / s, abs=slack), pf_key
        tan_key = f"tan_phi{suffix}"
        if {tan_key, p_key, q_key} <= values.keys():
            p, q = _number(values, p_key), _number(values, q_key)
            slack = tol(tan_key) + 100 * tol(p_key, q_key) / abs(p) * (1 + abs(q / p))
            assert _number(values, tan_key) == pytest.approx(100 * q / p, abs=slack)
    if "inductive_total" in values and "power_reactive_total" in values:
        q = _number(values, "power_reactive_total") * _sign(profile.point("power_reactive_total"))
        if abs(q) > tol("power_reactive_total"):
            assert values["inductive_total"] is (q > 0)
    if "cos_phi_total" in values and "+cap" in profile.point("cos_phi_total").name:
        # signed cos φ and signed reactive power agree: both + capacitive, − inductive
        q = _number(values, "power_reactive_total")
        assert math.copysign(1, _number(values, "cos_phi_total")) == math.copysign(1, q)
    stages = stage_keys(profile)
    if stages and "active_stages" in values:
        assert _number(values, "active_stages") == sum(values[k] is True for k in stages)


@pytest.mark.parametrize("profile_id", PROFILES)
def test_bits_are_stable_and_stages_move_reactive_power(
    catalogue: ProfileCatalogue, profile_id: str
) -> None:
    profile = catalogue.get(profile_id)
    samples = list(_samples(profile))
    bit_keys = [b.key for p in profile.points for b in p.bits]
    for key in bit_keys:
        flips = sum(a[key] != b[key] for (_, a), (_, b) in pairwise(samples))
        if key.startswith("alarm"):
            assert flips == 0, key  # a healthy site raises no alarm, and none flickers
        else:
            assert flips <= len(samples) / 20, key  # a relay does not switch on every poll
    if not stage_keys(profile) or "power_reactive_total" not in profile.value_keys:
        return
    sign = _sign(profile.point("power_reactive_total"))
    switched = 0
    for (_, a), (_, b) in pairwise(samples):
        more = _number(b, "active_stages") - _number(a, "active_stages")
        if more:
            # one more capacitor stage in makes the site more capacitive, and vice versa
            inductive_change = sign * (
                _number(b, "power_reactive_total") - _number(a, "power_reactive_total")
            )
            assert math.copysign(1, inductive_change) == -math.copysign(1, more)
            switched += 1
    assert switched, "the relay never switched a stage in 20 minutes of changing load"


async def test_counters_read_through_the_bus_master_integrate_the_power(
    catalogue: ProfileCatalogue,
) -> None:
    """Two readings through pymodbus, 10 minutes of simulated time apart, for every profile."""
    profiles = [catalogue.get(p) for p in PROFILES]
    devices = [SimulatedDevice(device_id=i + 1, profile=p) for i, p in enumerate(profiles)]
    async with (
        ModbusLineSimulator(devices, start_time=START) as sim,
        ModbusBus(SerialSettings(port=sim.path), timeout=0.5) as bus,
    ):
        before = {
            d.device_id: (await bus.read_device(d.device_id, d.profile)).values for d in devices
        }
        served: dict[int, list[tuple[float, Values]]] = {d.device_id: [] for d in devices}
        for _ in range(600):
            for d in devices:
                served[d.device_id].append((sim.time, sim.values(d.device_id)))
            sim.advance(1.0)
        for d in devices:
            served[d.device_id].append((sim.time, sim.values(d.device_id)))
        after = {
            d.device_id: (await bus.read_device(d.device_id, d.profile)).values for d in devices
        }
    for device in devices:
        profile, first, last = device.profile, before[device.device_id], after[device.device_id]
        _check_instant(profile, first)
        _check_instant(profile, last)
        for counter, (power, direction) in COUNTERS.items():
            if counter not in first or power not in first:
                continue
            sign = _sign(profile.point(power)) * direction
            expected = _integral(served[device.device_id], power, sign)
            counted = _number(last, counter) - _number(first, counter)
            rounding = _resolution(profile, counter, first) + _resolution(profile, counter, last)
            assert counted == pytest.approx(expected, abs=rounding + 1e-4 * expected + 1e-6), (
                profile.id,
                counter,
            )


def test_an_accelerated_clock_is_explicit_and_positive(catalogue: ProfileCatalogue) -> None:
    device = SimulatedDevice(device_id=1, profile=catalogue.get("generic_analyzer"))
    assert ModbusLineSimulator([device]).time_scale == 1.0  # real time unless told otherwise
    with pytest.raises(ValueError, match="time_scale"):
        ModbusLineSimulator([device], time_scale=0)
