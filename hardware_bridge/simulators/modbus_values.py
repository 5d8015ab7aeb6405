"""Plausible, time-varying values for a simulated Modbus device, generated from its profile.

Every point's value is chosen in engineering units from its key, unit and device class
(voltages near 230 V, power factors near 0.95, energy counters that only grow, stage bits
that switch in and out), then turned into the raw number the device would hold and encoded
with the point's own type, word order, scale and ``scale_by`` source. What the simulator
reports as "served" is decoded back from those registers, so a test comparing a client's
reading with it catches any mistake in type, word order or scaling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from hardware_bridge.modbus import DataType, Point, Profile, Value, decode_point, encode_raw
from hardware_bridge.modbus._codec import raw_for_value

__all__ = ["DeviceImage", "RegisterImage", "render_device"]

_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}

type RegisterImage = dict[tuple[int, int], int]
"""(function code, address) → 16-bit word."""


@dataclass(frozen=True, slots=True)
class DeviceImage:
    """Registers a device serves at one instant, and the values they decode to."""

    registers: RegisterImage = field(default_factory=dict)
    values: Mapping[str, Value] = field(default_factory=dict)


def _wave(t: float, seed: float, period: float = 60.0) -> float:
    """A smooth value in -1..1 that differs per device and point."""
    return math.sin(2 * math.pi * t / period + seed)


def _target(point: Point, profile: Profile, t: float, seed: float) -> float:
    guess = _guess(point, t, seed)
    for probe in profile.probes:
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


def _guess(point: Point, t: float, seed: float) -> float:
    key, unit, dc = point.key, point.unit or "", point.device_class or ""
    w = _wave(t, seed)
    if "ct_ratio" in key:
        return 40
    if point.state_class == "total_increasing":
        base = 12_000.0 + 1_000 * (seed % 7)
        if "export" in key or "capacitive" in key:
            base /= 10
        return base + 0.25 * t
    if unit == "V" or dc == "voltage":
        return (
            400.0
            if "_l1_l2" in key or "_l2_l3" in key or "_l3_l1" in key or "_ll" in key
            else 230.0
        ) + 3 * w
    if unit == "A" or dc == "current":
        return (2.0 if "neutral" in key else 12.0) + 2 * w
    if unit == "Hz" or dc == "frequency":
        return 50.0 + 0.05 * w
    if dc == "power_factor" or "cos_phi" in key or "power_factor" in key:
        return 0.95 + 0.03 * w
    if unit == "W" or dc == "power":
        return (6_000.0 if "total" in key or "import" in key else 2_000.0) + 300 * w
    if unit == "var" or dc == "reactive_power":
        return (900.0 if "total" in key else 300.0) + 50 * w
    if unit == "VA" or dc == "apparent_power":
        return (6_300.0 if "total" in key else 2_100.0) + 300 * w
    if unit == "%":
        return 4.0 + w
    if unit == "°":
        return 18.0 + 2 * w
    if "version" in key:
        return 12
    return 7 + round(3 * w)


def _bit_pattern(point: Point, t: float, seed: float) -> int:
    """Stage-like bits: the first n defined bits set, n swinging with time."""
    if not point.bits:
        return 0
    bits = sorted(b.bit for b in point.bits)
    n = round((len(bits) / 2) * (1 + _wave(t, seed, period=30)))
    raw = 0
    for bit in bits[:n]:
        raw |= 1 << bit
    if "alarm" in point.key:
        raw &= 1 << bits[-1]
    return raw


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
    """Registers and served values of a device of ``profile`` at simulated time ``t``."""
    overrides = overrides or {}
    registers: RegisterImage = {}
    values: dict[str, Value] = {}
    ordered = sorted(profile.points, key=lambda p: p.scale_by is not None)
    for index, point in enumerate(ordered):
        point_seed = seed + index * 0.7
        factor: float = 1.0
        if point.scale_by is not None:
            ref = values.get(point.scale_by)
            factor = float(ref) if isinstance(ref, int | float) and ref else 1.0
        if point.bits:
            raw: float = _bit_pattern(point, t, point_seed)
        else:
            target = overrides.get(point.key, _target(point, profile, t, point_seed))
            raw = _clamp(point, raw_for_value(point, target, factor))
        words = encode_raw(point.type, point.word_order, raw)
        for offset, word in enumerate(words):
            registers[(point.function_code, point.address + offset)] = word
        factors = {point.scale_by: factor} if point.scale_by is not None else None
        values.update(decode_point(point, words, factors))
    for probe in profile.probes:
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
    return DeviceImage(registers=registers, values=values)
