"""Profile files: every shipped profile loads; every mistake is reported with file and field."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.modbus import (
    DataType,
    ProfileCatalogue,
    ProfileError,
    load_catalogue,
    load_profile_data,
    load_profile_text,
)
from hardware_bridge.modbus._loader import shipped_profile_files

SHIPPED = [
    "eastron_sdm630",
    "eastron_sdm120",
    "schneider_iem3000",
    "janitza_umg96rme",
    "carlo_gavazzi_em24",
    "entes_mpr3x",
    "klemsan_klea",
    "kael_varkombi",
    "generic_analyzer",
    "generic_compensation_relay",
]

GOOD = """
manufacturer: ACME
model: M1
function_code: 3
word_order: big
points:
  - {key: voltage_l1, address: 0, type: float32, unit: V}
  - {key: current_l1, address: 2, type: uint16, scale: 0.01, unit: A}
  - {key: energy_import_total, address: 10, type: uint32, word_order: little, group: slow}
"""


def test_every_shipped_profile_loads(catalogue: ProfileCatalogue) -> None:
    assert catalogue.errors == ()
    assert set(SHIPPED) <= set(catalogue.ids())
    for profile_id in SHIPPED:
        profile = catalogue.get(profile_id)
        assert profile.points, profile_id
        assert profile.max_registers_per_read <= 125


def test_shipped_files_cite_their_sources() -> None:
    for path in shipped_profile_files():
        head = path.read_text(encoding="utf-8").split("\nmanufacturer:")[0]
        assert "Source" in head or "TEMPLATE" in head, path.name


def test_kael_models_status_bits_and_ct_scaling(catalogue: ProfileCatalogue) -> None:
    kael = catalogue.get("kael_varkombi")
    status = kael.point("status")
    assert {b.key for b in status.bits} >= {"inductive_l1", "inductive_total", "manual_mode"}
    assert kael.point("current_l1").scale_by == "ct_ratio"
    relay = catalogue.get("generic_compensation_relay")
    stages = [b.key for b in relay.point("stage_outputs").bits]
    assert stages[:12] == [f"stage_k{i}" for i in range(1, 13)]


def test_multi_register_points_have_explicit_word_order(catalogue: ProfileCatalogue) -> None:
    em24 = catalogue.get("carlo_gavazzi_em24")
    assert em24.point("voltage_l1").word_order == "little"
    assert catalogue.get("eastron_sdm630").point("voltage_l1").word_order == "big"


def test_valid_profile_becomes_frozen_dataclasses() -> None:
    profile = load_profile_text(GOOD, source="acme_m1.yaml")
    assert profile.id == "acme_m1"
    point = profile.point("energy_import_total")
    assert (point.type, point.word_order, point.group) == (DataType.UINT32, "little", "slow")
    with pytest.raises(AttributeError):
        point.address = 3  # type: ignore[misc]


def _error(text: str, name: str = "entes_mpr3x.yaml") -> str:
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, source=name)
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("type: uint16", "type: uint24"),
            "entes_mpr3x.yaml: points[1].type: expected one of int16",
        ),
        (("word_order: big\n", ""), "entes_mpr3x.yaml: points[0].word_order: required for float32"),
        (
            ("address: 2,", "address: 1,"),
            "entes_mpr3x.yaml: points[1].address: registers 1..1 overlap",
        ),
        (
            ("scale: 0.01,", "scale: 0.01, scale_by: ct_ratio,"),
            "entes_mpr3x.yaml: points[1].scale_by: unknown point 'ct_ratio'",
        ),
        (("key: current_l1", "key: voltage_l1"), "entes_mpr3x.yaml: points[1].key: duplicate key"),
        (
            ("address: 10,", "address: 70000,"),
            "entes_mpr3x.yaml: points[2].address: expected 0..65535",
        ),
        (
            ("function_code: 3", "function_code: 6"),
            "entes_mpr3x.yaml: function_code: expected one of 3, 4",
        ),
        (
            ("unit: A}", "unit: A, registers: 2}"),
            "entes_mpr3x.yaml: points[1].registers: uint16 occupies 1",
        ),
        (("model: M1", "model: M1\nfoo: 1"), "entes_mpr3x.yaml: foo: unknown field"),
        (("manufacturer: ACME\n", ""), "entes_mpr3x.yaml: manufacturer: required field missing"),
    ],
)
def test_errors_name_file_and_field(change: tuple[str, str], expected: str) -> None:
    assert expected in _error(GOOD.replace(*change, 1))


def test_bad_yaml_names_file_and_line() -> None:
    message = _error("manufacturer: [unclosed\nmodel: x\n")
    assert message.startswith("entes_mpr3x.yaml: line ")
    assert "invalid YAML" in message


def test_bits_must_fit_the_register() -> None:
    text = GOOD.replace("scale: 0.01, unit: A}", "bits: [{bit: 16, key: k17}]}")
    assert "points[1].bits[0].bit: bit 16 does not fit uint16" in _error(text)


def test_point_inside_a_hole_is_rejected() -> None:
    text = GOOD + "holes:\n  - {start: 9, end: 12}\n"
    assert "points[2].address: lies in holes[0]" in _error(text)


def test_user_profiles_add_and_override_and_broken_ones_are_reported(tmp_path: Path) -> None:
    (tmp_path / "acme_m1.yaml").write_text(GOOD, encoding="utf-8")
    override = GOOD.replace("model: M1", "model: My SDM630")
    (tmp_path / "eastron_sdm630.yaml").write_text(override, encoding="utf-8")
    (tmp_path / "broken_one.yaml").write_text(GOOD.replace("float32", "float"), encoding="utf-8")
    catalogue = load_catalogue(tmp_path)
    assert catalogue.get("acme_m1").model == "M1"
    assert catalogue.get("eastron_sdm630").model == "My SDM630"
    assert catalogue.get("kael_varkombi").manufacturer.startswith("KAEL")
    [error] = catalogue.errors
    assert str(error).startswith(f"{tmp_path / 'broken_one.yaml'}: points[0].type: expected one of")
    with pytest.raises(ProfileError, match=r"broken_one\.yaml: points\[0\]\.type"):
        catalogue.get("broken_one")
    with pytest.raises(ProfileError, match="unknown profile"):
        catalogue.get("no_such_thing")


# -- fuzzing: whatever the file holds, the loader raises ProfileError or returns a Profile ----

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["float32", "uint16", "int64", "big", "little", "fast", "slow", "x_y"]),
)
_field_names = st.sampled_from(
    [
        "key",
        "address",
        "type",
        "word_order",
        "scale",
        "offset",
        "bits",
        "bit",
        "scale_by",
        "function_code",
        "group",
        "points",
        "holes",
        "probe",
        "start",
        "end",
        "equals",
        "min",
        "max",
        "serial",
        "baudrate",
        "manufacturer",
        "model",
        "registers",
        "invalid_raw",
        "id",
    ]
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_field_names, st.text(max_size=5)), inner, max_size=5),
    ),
    max_leaves=25,
)


def _near_valid() -> st.SearchStrategy[dict[str, object]]:
    point = st.fixed_dictionaries(
        {"key": st.sampled_from(["a", "b", "voltage_l1"]), "address": _scalars, "type": _scalars},
        optional={
            "word_order": _scalars,
            "scale": _scalars,
            "bits": _values,
            "scale_by": _scalars,
            "function_code": _scalars,
            "registers": _scalars,
        },
    )
    return st.fixed_dictionaries(
        {
            "manufacturer": st.just("M"),
            "model": st.just("X"),
            "points": st.lists(point, max_size=4),
        },
        optional={
            "word_order": _scalars,
            "holes": _values,
            "probe": _values,
            "max_registers_per_read": _scalars,
            "serial": _values,
        },
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_values, _near_valid()))
def test_fuzzed_documents_raise_only_profile_errors(document: object) -> None:
    try:
        load_profile_data(document, source="fuzz_case.yaml")
    except ProfileError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("fuzz_case.yaml: ")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_yaml_text_raises_only_profile_errors(text: str) -> None:
    try:
        load_profile_text(text, source="fuzz_text.yaml")
    except ProfileError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("fuzz_text.yaml: ")


@settings(max_examples=60, deadline=None)
@given(_near_valid())
def test_fuzzed_documents_survive_a_yaml_round_trip(document: dict[str, object]) -> None:
    try:
        text = yaml.safe_dump(document)
    except yaml.YAMLError:
        return
    with contextlib.suppress(ProfileError):
        load_profile_text(text, source="fuzz_rt.yaml")


def test_worked_example_in_the_docs_loads_and_plans_as_described() -> None:
    from hardware_bridge.modbus import plan_reads

    docs = Path(__file__).resolve().parents[3] / "docs" / "profiles.md"
    text = docs.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    profile = load_profile_text(text, source="acme_pm3.yaml")
    plan = plan_reads(profile)
    assert [(r.address, r.count) for r in plan] == [(0, 14), (100, 2)]
    assert [(r.address, r.count) for r in plan_reads(profile, max_gap=120)] == [(0, 14), (100, 2)]
