"""Request planner: the values wanted → the fewest FC03/FC04 reads.

Wire cost of one read of N registers (Modbus over Serial Line V1.02 §2.5.1.1): request
8 bytes + response 5 + 2N bytes + 2 × t3.5 silence + the device's reaction time. An unused
register inside a read costs 2 characters; a separate request costs 13 characters of framing,
two t3.5 gaps and one reaction time: :func:`break_even_gap`. At 9600 8N1 with a 20 ms
reaction that is 19 registers, at 5 ms 12. The bus plans with the break-even gap of its line
and of each device's measured reaction time; without a line (``plan_reads`` alone) gaps of
up to the profile's ``max_gap`` or :data:`DEFAULT_MAX_GAP` unused registers are read across.

Greedy left-to-right merging is optimal here: points do not overlap, and every constraint
(gap, span, holes) only ever forbids extending a block further to the right.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hardware_bridge.modbus._profile import Point, PollGroup, Profile
from hardware_bridge.serial_line import SerialSettings, char_time

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_REACTION_TIME",
    "ReadRequest",
    "break_even_gap",
    "plan_reads",
    "resolve_keys",
    "silent_interval",
]

DEFAULT_MAX_GAP = 16
DEFAULT_REACTION_TIME = 0.02
"""Seconds a device is assumed to take between a request and its answer until measured."""
MAX_REGISTERS_PER_READ = 125


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadRequest:
    """One FC03/FC04 read and the points it carries."""

    function_code: int
    address: int
    count: int
    points: tuple[Point, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def silent_interval(settings: SerialSettings) -> float:
    """t3.5: 3.5 characters of this line's framing; a fixed 1.75 ms above 19200 baud."""
    return 0.00175 if settings.baudrate > 19200 else 3.5 * char_time(settings)


def break_even_gap(settings: SerialSettings, device_latency: float = DEFAULT_REACTION_TIME) -> int:
    """Unused registers worth reading across instead of starting a new request.

    ``device_latency``: the device's reaction time (round trip minus wire time and t3.5).
    """
    tc = char_time(settings)
    new_request = 13 * tc + 2 * silent_interval(settings) + max(0.0, device_latency)
    return min(MAX_REGISTERS_PER_READ, int(new_request // (2 * tc)))


def resolve_keys(profile: Profile, keys: Iterable[str] | None) -> tuple[Point, ...]:
    """Points needed for ``keys`` (bit keys pull in their register, ``scale_by`` its source).

    ``None`` means every point. Unknown keys raise KeyError naming them.
    """
    if keys is None:
        return profile.points
    owner: dict[str, Point] = {}
    for point in profile.points:
        owner[point.key] = point
        for bit in point.bits:
            owner[bit.key] = point
    wanted = set(keys)
    unknown = sorted(wanted - owner.keys())
    if unknown:
        raise KeyError(f"{profile.id} has no value {', '.join(unknown)}")
    needed = {owner[k].key for k in wanted}
    for key in list(needed):
        ref = profile.point(key).scale_by
        if ref is not None:
            needed.add(ref)
    return tuple(p for p in profile.points if p.key in needed)


def plan_reads(
    profile: Profile,
    keys: Iterable[str] | None = None,
    *,
    group: PollGroup | None = None,
    split_groups: bool = False,
    max_gap: int | None = None,
    max_registers: int | None = None,
) -> list[ReadRequest]:
    """Plan the reads for ``keys`` (all points if None) of one device.

    ``group`` keeps only points of that poll group (their ``scale_by`` sources are kept
    whatever their group). ``split_groups`` never mixes fast and slow points in one read.
    Reads never touch a profile hole and never exceed the device's registers per read.
    """
    points = resolve_keys(profile, keys)
    if group is not None:
        chosen = {p.key for p in points if p.group == group}
        chosen |= {p.scale_by for p in points if p.key in chosen and p.scale_by}
        points = tuple(p for p in points if p.key in chosen)
    gap_limit = profile.max_gap if max_gap is None and profile.max_gap is not None else max_gap
    if gap_limit is None:
        gap_limit = DEFAULT_MAX_GAP
    span_limit = min(
        MAX_REGISTERS_PER_READ,
        profile.max_registers_per_read,
        max_registers if max_registers is not None else MAX_REGISTERS_PER_READ,
    )

    buckets: dict[tuple[int, str], list[Point]] = {}
    for point in points:
        bucket = (point.function_code, point.group if split_groups else "")
        buckets.setdefault(bucket, []).append(point)

    requests: list[ReadRequest] = []
    for (fc, _), members in sorted(buckets.items()):
        members.sort(key=lambda p: p.address)
        start, end, carried = members[0].address, members[0].end, [members[0]]
        for point in members[1:]:
            new_end = max(end, point.end)
            fits = (
                point.address - end <= gap_limit
                and new_end - start <= span_limit
                and not any(h.overlaps(fc, start, new_end) for h in profile.holes)
            )
            if fits:
                end = new_end
                carried.append(point)
                continue
            requests.append(
                ReadRequest(
                    function_code=fc, address=start, count=end - start, points=tuple(carried)
                )
            )
            start, end, carried = point.address, point.end, [point]
        requests.append(
            ReadRequest(function_code=fc, address=start, count=end - start, points=tuple(carried))
        )
    return requests
