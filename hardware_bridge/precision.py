"""How many decimals a measurement is worth showing.

A float32 register holds ``6194.84765625`` VA; nobody reads an apparent power to a millionth.
Every numeric value gets a display precision (Home Assistant's suggested display precision):

1. the one its profile point or OBIS definition states (the device's known resolution);
2. else the one that fits its quantity (:data:`UNIT_PRECISION`, by unit, then by device
   class) — but never more decimals than an integer register resolves (a ``uint16`` with
   ``scale: 0.1`` has one decimal, one with no scale has none);
3. else, for a quantity this table does not know, what the register resolves, or
   :data:`FALLBACK_PRECISION`.

The value itself is never rounded: the state keeps what the device sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "CLASS_PRECISION",
    "FALLBACK_PRECISION",
    "UNIT_PRECISION",
    "display_precision",
    "resolution_decimals",
]

UNIT_PRECISION: Mapping[str, int] = {
    # electrical quantities: what an installer reads off a panel meter
    "V": 1,
    "kV": 3,
    "mV": 0,
    "A": 2,
    "mA": 0,
    "W": 0,
    "kW": 3,
    "MW": 3,
    "VA": 0,
    "kVA": 2,
    "var": 0,
    "kvar": 2,
    "Hz": 2,
    "%": 1,
    "°": 1,
    # counters: to the Wh for kWh as a billing meter shows them
    "Wh": 0,
    "kWh": 2,
    "MWh": 3,
    "varh": 0,
    "kvarh": 2,
    "Mvarh": 3,
    # others met in profiles
    "°C": 1,
    "s": 0,
    "min": 0,
    "h": 1,
}
"""Decimals by unit (Home Assistant's spelling), where the quantity alone decides."""

CLASS_PRECISION: Mapping[str, int] = {
    "power_factor": 2,
    "voltage": 1,
    "current": 2,
    "frequency": 2,
    "temperature": 1,
}
"""Decimals by device class, for values without a unit (cos φ) or with an unlisted unit."""

FALLBACK_PRECISION = 2
"""A float of a quantity neither table knows (a user's profile with its own unit)."""

_MAX_DECIMALS = 6


def resolution_decimals(scale: float) -> int:
    """Decimals an integer register resolves after ``scale``: 1 → 0, 0.1 → 1, 0.25 → 2."""
    scale = abs(scale)
    if scale == 0:
        return 0
    for decimals in range(_MAX_DECIMALS + 1):
        steps = scale * 10**decimals
        if math.isclose(steps, round(steps), rel_tol=1e-9, abs_tol=1e-9):
            return decimals
    return _MAX_DECIMALS


def display_precision(
    unit: str | None,
    device_class: str | None,
    *,
    stated: int | None = None,
    resolution: int | None = None,
) -> int:
    """Decimals to show: ``stated`` if given, else by quantity, capped by ``resolution``.

    ``resolution`` is the decimals the source resolves (:func:`resolution_decimals` of an
    integer register's scale); ``None`` for a float register or a meter's text.
    """
    if stated is not None:
        return stated
    fitting = UNIT_PRECISION.get(unit) if unit is not None else None
    if fitting is None and device_class is not None:
        fitting = CLASS_PRECISION.get(device_class)
    if fitting is None:
        return resolution if resolution is not None else FALLBACK_PRECISION
    return fitting if resolution is None else min(fitting, resolution)
