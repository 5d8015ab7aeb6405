"""The planner reads only what is asked, in the fewest requests, never touching holes."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_bridge.modbus import (
    DataType,
    Hole,
    Point,
    Profile,
    ProfileCatalogue,
    break_even_gap,
    plan_reads,
)
from hardware_bridge.serial_line import SerialSettings


def _spans(plan: list) -> list[tuple[int, int, int]]:
    return [(r.function_code, r.address, r.count) for r in plan]


def test_sdm630_instantaneous_values_and_counters_are_one_request(
    catalogue: ProfileCatalogue,
) -> None:
    sdm = catalogue.get("eastron_sdm630")
    keys = [p.key for p in sdm.points if p.address < 80]
    assert _spans(plan_reads(sdm, keys)) == [(4, 0, 80)]


def test_only_wanted_values_are_read(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm630")
    assert _spans(plan_reads(sdm, ["frequency"])) == [(4, 70, 2)]
    assert _spans(plan_reads(sdm, ["voltage_l1", "energy_total"])) == [(4, 0, 2), (4, 342, 2)]


def test_poll_groups(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm630")
    fast = plan_reads(sdm, group="fast")
    assert all(p.group == "fast" for r in fast for p in r.points)
    slow = plan_reads(sdm, group="slow")
    assert {p.key for r in slow for p in r.points} >= {"energy_import_total", "thd_voltage_l1"}
    split = plan_reads(sdm, [p.key for p in sdm.points if p.address < 80], split_groups=True)
    assert _spans(split) == [(4, 0, 72), (4, 72, 8)]


def test_bit_keys_and_scale_sources_pull_in_their_registers(catalogue: ProfileCatalogue) -> None:
    kael = catalogue.get("kael_varkombi")
    plan = plan_reads(kael, ["inductive_total", "current_l1"])
    assert {p.key for r in plan for p in r.points} == {"status", "current_l1", "ct_ratio"}
    assert len(plan) == 1


def test_shipped_profiles_full_reads(catalogue: ProfileCatalogue) -> None:
    expected = {
        "carlo_gavazzi_em24": [(4, 0, 94)],
        "entes_mpr3x": [(3, 0, 92)],
        "janitza_umg96rme": [(3, 19000, 78)],
        "klemsan_klea": [(3, 0, 48)],
        "schneider_iem3000": [(3, 2999, 112), (3, 3203, 24), (3, 3517, 12)],
        "kael_varkombi": [(3, 0, 6), (3, 0x1000, 30)],
    }
    for profile_id, spans in expected.items():
        assert _spans(plan_reads(catalogue.get(profile_id))) == spans, profile_id


def test_holes_are_never_read(catalogue: ProfileCatalogue) -> None:
    template = catalogue.get("generic_analyzer")  # hole 40..49 between 18 and 50
    plan = plan_reads(template, max_gap=100)
    assert _spans(plan) == [(3, 0, 20), (3, 50, 8)]


def test_max_registers_per_read_is_respected(catalogue: ProfileCatalogue) -> None:
    sdm = catalogue.get("eastron_sdm630")
    plan = plan_reads(sdm, max_registers=40)
    assert all(r.count <= 40 for r in plan)
    assert {p.key for r in plan for p in r.points} == {p.key for p in sdm.points}


def test_break_even_gap_follows_line_speed() -> None:
    slow = break_even_gap(SerialSettings(port="x", baudrate=2400))
    normal = break_even_gap(SerialSettings(port="x", baudrate=9600))
    fast = break_even_gap(SerialSettings(port="x", baudrate=38400))
    assert slow < normal < fast
    assert 15 <= normal <= 22  # rtu_timing: ~15–20 registers at 9600 8N1, 20 ms latency


_TYPES = list(DataType)
_WIDTH = {DataType.INT16: 1, DataType.UINT16: 1, DataType.INT64: 4, DataType.UINT64: 4}


@st.composite
def _profiles(draw: st.DrawFn) -> tuple[Profile, list[str], int, int]:
    count = draw(st.integers(1, 25))
    address = draw(st.integers(0, 50))
    points: list[Point] = []
    holes: list[Hole] = []
    for i in range(count):
        data_type = draw(st.sampled_from(_TYPES))
        fc = draw(st.sampled_from([3, 4]))
        if draw(st.integers(0, 5)) == 0:
            length = draw(st.integers(1, 6))
            holes.append(Hole(function_code=fc, start=address, end=address + length - 1))
            holes.append(Hole(function_code=7 - fc, start=address, end=address + length - 1))
            address += length
        points.append(
            Point(
                key=f"p{i}",
                name=f"p{i}",
                address=address,
                function_code=fc,
                type=data_type,
                word_order="big",
            )
        )
        address += _WIDTH.get(data_type, 2) + draw(st.integers(0, 30))
    max_regs = draw(st.integers(4, 125))
    max_gap = draw(st.integers(0, 40))
    profile = Profile(
        id="fuzz",
        manufacturer="m",
        model="m",
        source="fuzz",
        max_registers_per_read=max_regs,
        holes=tuple(holes),
        points=tuple(points),
    )
    wanted = draw(st.lists(st.sampled_from([p.key for p in points]), min_size=1, unique=True))
    return profile, wanted, max_regs, max_gap


@settings(max_examples=200, deadline=None)
@given(_profiles())
def test_plans_cover_everything_wanted_and_respect_limits(
    case: tuple[Profile, list[str], int, int],
) -> None:
    profile, wanted, max_regs, max_gap = case
    plan = plan_reads(profile, wanted, max_gap=max_gap)
    carried = [p.key for r in plan for p in r.points]
    assert sorted(carried) == sorted(wanted)  # every wanted value once, nothing else
    for request in plan:
        assert 1 <= request.count <= max_regs
        assert not any(
            h.overlaps(request.function_code, request.address, request.end) for h in profile.holes
        )
        for point in request.points:
            assert point.function_code == request.function_code
            assert request.address <= point.address
            assert point.end <= request.end
    # minimality: no two consecutive reads of one function code could have been one
    for a, b in itertools.pairwise(plan):
        if a.function_code != b.function_code:
            continue
        gap = b.address - a.end
        merged_span = b.end - a.address
        mergeable = (
            gap <= max_gap
            and merged_span <= max_regs
            and not any(h.overlaps(a.function_code, a.address, b.end) for h in profile.holes)
        )
        assert not mergeable
