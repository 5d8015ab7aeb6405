"""The bus plans the cheapest reads for its line and each device's reaction time."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_bridge.modbus import (
    DataType,
    Hole,
    ModbusBus,
    Point,
    Profile,
    ProfileCatalogue,
    ReadRequest,
    plan_reads,
    request_cost,
)
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.modbus_fault_proxy import FaultProxy
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

_WIDTH = {DataType.INT16: 1, DataType.UINT16: 1, DataType.INT64: 4, DataType.UINT64: 4}


@st.composite
def _profiles(draw: st.DrawFn) -> tuple[Profile, list[str]]:
    """Up to 12 points of both read functions with random gaps, holes and read limit."""
    address = draw(st.integers(0, 50))
    points: list[Point] = []
    holes: list[Hole] = []
    for i in range(draw(st.integers(1, 12))):
        data_type = draw(st.sampled_from(list(DataType)))
        fc = draw(st.sampled_from([3, 4]))
        if draw(st.integers(0, 5)) == 0:
            length = draw(st.integers(1, 6))
            holes.append(Hole(function_code=fc, start=address, end=address + length - 1))
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
        address += _WIDTH.get(data_type, 2) + draw(st.integers(0, 40))
    profile = Profile(
        id="fuzz",
        manufacturer="m",
        model="m",
        source="fuzz",
        max_registers_per_read=draw(st.integers(4, 125)),
        holes=tuple(holes),
        points=tuple(points),
    )
    wanted = draw(st.lists(st.sampled_from([p.key for p in points]), min_size=1, unique=True))
    return profile, wanted


def _cost(plan: list[ReadRequest], per_request: float) -> float:
    return sum(per_request + r.count for r in plan)


def _every_split_cost(profile: Profile, keys: list[str], per_request: float) -> float:
    """Brute force over every way to cut the address-sorted points of each function code."""
    base = plan_reads(profile, keys, max_gap=0, max_registers=1)  # one read per point
    total = 0.0
    for _, group in itertools.groupby(base, key=lambda r: r.function_code):
        reads = list(group)
        best = float("inf")
        for cuts in itertools.product([False, True], repeat=len(reads) - 1):
            cost, start = 0.0, 0
            for i in range(1, len(reads) + 1):
                if i == len(reads) or cuts[i - 1]:
                    first, last = reads[start], reads[i - 1]
                    span = last.end - first.address
                    if span > profile.max_registers_per_read or any(
                        h.overlaps(first.function_code, first.address, last.end)
                        for h in profile.holes
                    ):
                        cost = float("inf")
                        break
                    cost += per_request + span
                    start = i
            best = min(best, cost)
        total += best
    return total


@settings(max_examples=150, deadline=None)
@given(case=_profiles(), per_request=st.floats(1.0, 60.0))
def test_the_cost_plan_is_the_cheapest_split(
    case: tuple[Profile, list[str]], per_request: float
) -> None:
    profile, wanted = case
    plan = plan_reads(profile, wanted, request_cost=per_request)
    assert sorted(p.key for r in plan for p in r.points) == sorted(wanted)
    assert _cost(plan, per_request) <= _every_split_cost(profile, wanted, per_request) + 1e-9
    for gap in (0, 8, 16, 40):  # never dearer than any fixed gap limit
        fixed = plan_reads(profile, wanted, max_gap=gap)
        assert _cost(plan, per_request) <= _cost(fixed, per_request) + 1e-9


def test_a_quicker_device_gets_more_smaller_reads(catalogue: ProfileCatalogue) -> None:
    iem = catalogue.get("schneider_iem3000")
    line = SerialSettings(port="-", baudrate=9600)
    slow = plan_reads(iem, request_cost=request_cost(line, 0.040))
    quick = plan_reads(iem, request_cost=request_cost(line, 0.002))
    assert len(quick) > len(slow)
    assert sum(r.count for r in quick) < sum(r.count for r in slow)


async def test_the_bus_measures_each_devices_reaction_time(catalogue: ProfileCatalogue) -> None:
    iem = catalogue.get("schneider_iem3000")
    async with ModbusLineSimulator([SimulatedDevice(device_id=1, profile=iem)]) as sim:
        with FaultProxy(sim.path, reaction=0.060, baudrate=9600) as proxy:
            async with ModbusBus(SerialSettings(port=proxy.path, baudrate=9600)) as bus:
                first = await bus.read_device(1, iem)
                assert first.complete
                assert 0.045 <= bus.reaction_time(1) <= 0.2
                later = await bus.read_device(1, iem)
                assert later.complete
    line = SerialSettings(port="-", baudrate=9600)
    assert first.requests == len(plan_reads(iem, request_cost=request_cost(line)))  # 20 ms
    assert later.requests == len(plan_reads(iem, request_cost=bus.request_cost(1)))
    assert later.requests < first.requests  # a slow device: fewer, longer reads
