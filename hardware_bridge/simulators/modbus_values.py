"""What a simulated Modbus device holds, generated from its profile and a physical site model.

Every point's engineering value comes from :class:`SiteModel` (the load, its compensation and
their counters) by the meaning of its key: ``power_active_l2``, ``energy_import_total``,
``cos_phi_total``, a relay's stage bits and stage count… so phase powers add up to the total,
``S² = P² + Q²``, ``PF = P/S``, counters integrate the powers, and a relay's stage count is the
number of stage bits on. Keys the model knows nothing of (identification codes, THD) get a
plausible value. Each value is then turned into the raw number the device would hold and
encoded with the point's own type, word order, scale and ``scale_by`` source. What the
simulator reports as "served" is decoded back from those registers, so a test comparing a
client's reading with it catches any mistake in type, word order or scaling.
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hardware_bridge.modbus import DataType, Point, Profile, Value, decode_point, encode_raw
from hardware_bridge.modbus._codec import raw_for_value
from hardware_bridge.simulators.site_model import SiteModel, SiteState

__all__ = ["DeviceImage", "DeviceSimulation", "RegisterImage", "render_device"]

_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}
_PHASE = re.compile(r"_l([123])$")
_LINE_LINE = {"_l1_l2": (0, 1), "_l2_l3": (1, 2), "_l3_l1": (2, 0)}
_STAGE = re.compile(r"^stage_k(\d+)$")
_SWITCH_COUNT = re.compile(r"^switch_count_k(\d+)$")
_ENERGY_UNITS = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001, "varh": 1000.0, "kvarh": 1.0}
_NOMINAL_VOLTAGE = 230.0

type RegisterImage = dict[tuple[int, int], int]
"""(function code, address) → 16-bit word."""


@dataclass(frozen=True, slots=True)
class DeviceImage:
    """Registers a device serves at one instant, and the values they decode to."""

    registers: RegisterImage = field(default_factory=dict)
    values: Mapping[str, Value] = field(default_factory=dict)


def stage_keys(profile: Profile) -> list[str]:
    """The relay's stage bits (``stage_k1``…), in stage order."""
    keys = [b.key for p in profile.points for b in p.bits if _STAGE.match(b.key)]
    return sorted(keys, key=lambda k: int(k.removeprefix("stage_k")))


def _phases(profile: Profile) -> int:
    keys = {p.key for p in profile.points}
    return 3 if any(k.endswith(("_l2", "_l3")) for k in keys) else 1


class DeviceSimulation:
    """One simulated device: its site model and the registers it serves at a given time."""

    def __init__(
        self, profile: Profile, *, seed: float = 0.0, overrides: Mapping[str, float] | None = None
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.overrides = dict(overrides or {})
        stages = stage_keys(profile)
        self.site = SiteModel(seed=seed, phases=_phases(profile), stage_count=len(stages) or 8)
        # counters start where a device in service would be, not at zero
        self._base = 12_000.0 + 1_000 * (seed % 7)

    def render(self, t: float) -> DeviceImage:
        """Registers and served values at simulated time ``t`` (seconds)."""
        state = self.site.at(t)
        registers: RegisterImage = {}
        values: dict[str, Value] = {}
        ordered = sorted(self.profile.points, key=lambda p: p.scale_by is not None)
        for index, point in enumerate(ordered):
            factor: float = 1.0
            if point.scale_by is not None:
                ref = values.get(point.scale_by)
                factor = float(ref) if isinstance(ref, int | float) and ref else 1.0
            if point.bits:
                raw: float = self._bits(point, state)
            elif point.key in self.overrides:
                raw = _clamp(point, raw_for_value(point, self.overrides[point.key], factor))
            else:
                target = self._target(point, state, t, self.seed + index * 0.7)
                raw = _clamp(point, raw_for_value(point, target, factor))
            words = encode_raw(point.type, point.word_order, raw)
            for offset, word in enumerate(words):
                registers[(point.function_code, point.address + offset)] = word
            factors = {point.scale_by: factor} if point.scale_by is not None else None
            values.update(decode_point(point, words, factors))
        self._fill_probes(registers)
        return DeviceImage(registers=registers, values=values)

    # -- values --------------------------------------------------------------------------
    def _target(self, point: Point, state: SiteState, t: float, seed: float) -> float:
        physical = self._physical(point, state)
        if physical is not None:
            return physical  # what the site measures, even where a probe expects otherwise
        guess = _plausible(point, t, seed)
        for probe in self.profile.probes:
            if probe.function_code != point.function_code or probe.address != point.address:
                continue
            if probe.matches(guess / point.scale):
                return guess
            if probe.equals is not None:
                return probe.equals * point.scale
            low = probe.minimum if probe.minimum is not None else 0.0
            high = probe.maximum if probe.maximum is not None else low + 100
            return (low + high) / 2 * point.scale
        return guess

    def _physical(self, point: Point, state: SiteState) -> float | None:
        key = point.key
        if point.state_class == "total_increasing":
            return self._counter(point, state)
        p, q = sum(state.active), sum(state.reactive)
        s = math.hypot(p, q)
        match = _PHASE.search(key)
        phase = int(match.group(1)) - 1 if match else None
        if key.startswith("voltage_"):
            return _voltage(key, state, phase)
        if key.startswith("current_"):
            return _current(key, state, phase)
        if key == "frequency":
            return state.frequency
        if key.startswith("power_active"):
            value = state.active[phase] if phase is not None else p
            if key.endswith("_export"):
                return max(-value, 0.0)
            return max(value, 0.0) if key.endswith("_import") else value
        if key == "power_inductive_total":
            return max(q, 0.0)
        if key == "power_capacitive_total":
            return max(-q, 0.0)
        if key.startswith("power_reactive"):
            value = state.reactive[phase] if phase is not None else q
            return -value if "+cap" in point.name else value
        if key.startswith("power_apparent"):
            return state.apparent[phase] if phase is not None else s
        if key.startswith(("power_factor", "cos_phi")):
            pq = (state.active[phase], state.reactive[phase]) if phase is not None else (p, q)
            return _power_factor(point, *pq)
        if key.startswith("tan_phi") and point.unit == "%":
            pq = (state.active[phase], state.reactive[phase]) if phase is not None else (p, q)
            return 100 * pq[1] / pq[0] if pq[0] else 0.0
        if key == "phase_angle_total":
            return math.degrees(math.atan2(q, p))
        if key == "active_stages":
            return state.stages_on
        return None

    def _counter(self, point: Point, state: SiteState) -> float | None:
        key = point.key
        unit = _ENERGY_UNITS.get((point.unit or "").lower())
        count = _SWITCH_COUNT.match(key)
        if count is not None:
            index = int(count.group(1)) - 1
            return state.switch_counts[index] if index < len(state.switch_counts) else 0
        if unit is None:
            return None
        match = _PHASE.search(key)
        phase = int(match.group(1)) - 1 if match else None

        def pick(values: tuple[float, float, float]) -> float:
            return values[phase] if phase is not None else sum(values)

        base = self._base if phase is None else self._base / 3
        active = pick(state.energy_active)
        inductive, capacitive = pick(state.energy_inductive), pick(state.energy_capacitive)
        # no energy flows in the export direction on this consuming site: those counters stand
        exported = base / 10
        reactive_base = base / 10
        if key.startswith("energy_import"):
            value = base + active
        elif key.startswith("energy_export"):
            value = exported
        elif key.startswith("energy_total"):
            value = base + active + exported
        elif key.startswith(("reactive_inductive", "reactive_import")):
            value = reactive_base + inductive
        elif key.startswith(("reactive_capacitive", "reactive_export")):
            value = reactive_base / 2 + capacitive
        elif key.startswith("reactive_total"):
            value = reactive_base * 1.5 + inductive + capacitive
        else:
            return None
        return value * unit

    def _bits(self, point: Point, state: SiteState) -> int:
        """Bitfields from the site: stages switched in, alarms, a relay's status word."""
        p, q = sum(state.active), sum(state.reactive)
        voltages = [v for v in state.voltage if v]
        alarms = {
            "alarm_undervoltage": any(v < 0.9 * _NOMINAL_VOLTAGE for v in voltages),
            "alarm_overvoltage": any(v > 1.1 * _NOMINAL_VOLTAGE for v in voltages),
            "alarm_current_low": max(state.current) < 0.05,
            "alarm_current_high": max(state.current) > 100.0,
            "alarm_capacitor_power": state.stages_on == state.stage_count and q > 0.2 * p,
            "alarm_power_export": p < 0,
        }
        stages = stage_keys(self.profile)
        on: dict[str, bool] = {key: i < state.stages_on for i, key in enumerate(stages)}
        on.update(alarms)
        on["alarm_output"] = any(alarms.values())
        on["steps_learned"] = True
        for i in range(3):
            on[f"inductive_l{i + 1}"] = state.reactive[i] > 0
            on[f"ct_learned_l{i + 1}"] = True
        on["inductive_total"] = q > 0
        raw = 0
        for bit in point.bits:
            if on.get(bit.key, False):
                raw |= 1 << bit.bit
        return raw

    def _fill_probes(self, registers: RegisterImage) -> None:
        for probe in self.profile.probes:
            if (probe.function_code, probe.address) in registers:
                continue
            value = probe.equals
            if value is None:
                low = probe.minimum if probe.minimum is not None else 0.0
                high = probe.maximum if probe.maximum is not None else low + 100
                value = (low + high) / 2
            raw_value: float = value if probe.type is DataType.FLOAT32 else round(value)
            for offset, word in enumerate(encode_raw(probe.type, probe.word_order, raw_value)):
                registers[(probe.function_code, probe.address + offset)] = word


def _voltage(key: str, state: SiteState, phase: int | None) -> float:
    v = state.voltage
    for suffix, (i, j) in _LINE_LINE.items():
        if key.endswith(suffix):
            return _line_line(v[i], v[j])
    if key.endswith("_ll_avg") or key.endswith("_ll"):
        return sum(_line_line(v[i], v[j]) for i, j in _LINE_LINE.values()) / 3
    if phase is not None:
        return v[phase]
    present = [x for x in v if x]
    return sum(present) / len(present) if present else 0.0


def _line_line(a: float, b: float) -> float:
    """Magnitude of the difference of two phase voltages 120° apart."""
    return math.sqrt(a * a + b * b + a * b) if a and b else 0.0


def _current(key: str, state: SiteState, phase: int | None) -> float:
    currents = state.current
    if phase is not None:
        return currents[phase]
    if key.endswith("_neutral"):
        rotation = [cmath.rect(1.0, -2 * math.pi * i / 3) for i in range(3)]
        return abs(sum(i * r for i, r in zip(currents, rotation, strict=True)))
    if key.endswith("_total"):
        return sum(currents)
    present = [x for x in currents if x]
    return sum(present) / len(present)


def _power_factor(point: Point, p: float, q: float) -> float:
    s = math.hypot(p, q)
    pf = p / s if s else 1.0
    if point.key.endswith("_raw"):
        # Schneider's four-quadrant code: PF in quadrant 1 (inductive), 2 − PF in quadrant 4
        return pf if q >= 0 else 2 - pf
    if "+cap" in point.name and q > 0:
        return -pf  # this relay signs cos φ: + capacitive, − inductive
    return pf


def _plausible(point: Point, t: float, seed: float) -> float:
    """Values the site model does not cover: identification, CT ratio, harmonics."""
    key, unit = point.key, point.unit or ""
    w = math.sin(2 * math.pi * t / 60.0 + seed)
    if "ct_ratio" in key:
        return 40
    if unit == "%":
        return 4.0 + w
    if "version" in key:
        return 12
    return 7 + round(3 * w)


def _clamp(point: Point, raw: float) -> float:
    if point.type is DataType.FLOAT32:
        return raw
    low, high = _RANGES[point.type]
    return max(low, min(high, int(raw)))


def render_device(
    profile: Profile,
    t: float,
    *,
    seed: float = 0.0,
    overrides: Mapping[str, float] | None = None,
) -> DeviceImage:
    """Registers and served values of a device of ``profile`` at simulated time ``t``.

    Integrates the site from time 0 on every call: keep a :class:`DeviceSimulation` to
    render one device at increasing times."""
    return DeviceSimulation(profile, seed=seed, overrides=overrides).render(t)
