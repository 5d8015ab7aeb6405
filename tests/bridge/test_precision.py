"""Every numeric value has a display precision that fits its quantity and its source."""

from __future__ import annotations

import pytest

from hardware_bridge import load_catalogue, meter_specs, profile_specs
from hardware_bridge.modbus import DataType
from hardware_bridge.precision import display_precision, resolution_decimals


def _catalogue_specs() -> list[tuple[str, str, int | None]]:
    return [
        (profile.id, spec.key, spec.precision)
        for profile in load_catalogue()
        for spec in profile_specs(profile)
        if spec.kind == "number"
    ]


def test_every_numeric_value_of_every_shipped_profile_and_obis_code_has_a_precision() -> None:
    missing = [
        f"{profile}: {key}" for profile, key, precision in _catalogue_specs() if precision is None
    ]
    missing += [
        f"OBIS: {s.key}" for s in meter_specs() if s.kind == "number" and s.precision is None
    ]
    assert not missing, "no display precision:\n" + "\n".join(missing)


def test_no_precision_shows_digits_an_integer_register_cannot_resolve() -> None:
    catalogue = load_catalogue()
    too_fine = []
    for profile in catalogue:
        specs = {s.key: s for s in profile_specs(profile)}
        for point in profile.points:
            spec = specs.get(point.key)
            if spec is None or spec.precision is None or point.type is DataType.FLOAT32:
                continue
            if spec.precision > resolution_decimals(point.scale):
                too_fine.append(f"{profile.id}: {point.key} scale {point.scale}: {spec.precision}")
    assert not too_fine, "\n".join(too_fine)


@pytest.mark.parametrize(
    ("profile_id", "key", "precision"),
    [
        ("eastron_sdm630", "power_apparent_total", 0),  # was 6,194.84765625 VA
        ("eastron_sdm630", "power_reactive_total", 0),  # was 900.545776367188 var
        ("eastron_sdm630", "reactive_import_total", 2),  # kvarh counter
        ("eastron_sdm630", "thd_voltage_l1", 1),  # %
        ("eastron_sdm630", "phase_angle_total", 1),  # °
        ("eastron_sdm630", "voltage_l1", 1),  # stated in the profile
        ("kael_varkombi", "ct_ratio", 0),  # uint16 without scale: a whole number
        ("kael_varkombi", "tan_phi_total", 1),  # int16 × 0.1 %
        ("generic_analyzer", "reactive_inductive_total", 2),  # uint32 × 0.01 kvarh
        ("generic_compensation_relay", "switch_count_k1", 0),
        ("entes_mpr3x", "voltage_l1_l2", 1),  # uint32 × 0.1 V
    ],
)
def test_precision_fits_the_quantity(profile_id: str, key: str, precision: int) -> None:
    specs = {s.key: s for s in profile_specs(load_catalogue().get(profile_id))}
    assert specs[key].precision == precision


def test_meter_values_follow_the_meters_resolution() -> None:
    specs = {s.key: s for s in meter_specs()}
    assert specs["energy_import_total"].precision == 3  # Annex C: 123456.789 kWh
    assert specs["reactive_inductive_total"].precision == 3
    assert specs["max_demand"].precision == 3  # 123.456 kW
    assert specs["voltage_l1"].precision == 1
    assert specs["current_l1"].precision == 2
    assert specs["frequency"].precision == 1  # Annex C: 12.3 Hz
    assert specs["power_factor"].precision == 2
    assert specs["billing_period_count"].precision == 0
    assert specs["meter_serial"].precision is None  # text has no decimals


@pytest.mark.parametrize(
    ("unit", "device_class", "stated", "resolution", "expected"),
    [
        ("V", "voltage", None, None, 1),
        ("A", "current", None, None, 2),
        ("W", "power", None, None, 0),
        ("kW", "power", None, None, 3),
        ("kWh", "energy", None, None, 2),
        ("Hz", "frequency", None, None, 2),
        (None, "power_factor", None, None, 2),
        ("%", None, None, None, 1),
        ("var", "reactive_power", None, None, 0),
        ("VA", "apparent_power", None, None, 0),
        ("kWh", "energy", None, 1, 1),  # uint32 × 0.1 kWh resolves one decimal
        ("V", "voltage", 2, None, 2),  # stated wins
        ("V", None, None, 0, 0),
        ("mm", None, None, None, 2),  # unknown quantity, float
        ("mm", None, None, 0, 0),  # unknown quantity, whole register
        (None, "voltage", None, None, 1),
    ],
)
def test_display_precision(
    unit: str | None,
    device_class: str | None,
    stated: int | None,
    resolution: int | None,
    expected: int,
) -> None:
    assert display_precision(unit, device_class, stated=stated, resolution=resolution) == expected


@pytest.mark.parametrize(
    ("scale", "decimals"), [(1, 0), (10, 0), (0.1, 1), (0.01, 2), (0.001, 3), (0.25, 2), (0, 0)]
)
def test_resolution_decimals(scale: float, decimals: int) -> None:
    assert resolution_decimals(scale) == decimals
