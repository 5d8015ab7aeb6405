"""Request planner: the values wanted → the fewest FC03/FC04 reads.

Wire cost of one read of N registers (Modbus over Serial Line V1.02 §2.5.1.1): request
8 bytes + response 5 + 2N bytes + 2 × t3.5 silence + the device's reaction time. An unused
register inside a read costs 2 characters; a separate request costs 13 characters of framing,
two t3.5 gaps and one reaction time: :func:`break_even_gap`. At 9600 8N1 with a 20 ms
reaction that is 19 registers, at 5 ms 12. The bus plans with the break-even gap of its line
and of each device's measured reaction time; without a line (``plan_reads`` alone) gaps of
up to the profile's ``max_gap`` or :data:`DEFAULT_MAX_GAP` unused registers are read across.

Two ways to split the wanted points into reads:

* with a gap limit (``max_gap``), greedy left-to-right merging gives the fewest reads that
  never read across more than ``max_gap`` unused registers: points do not overlap, and every
  constraint (gap, span, holes) only ever forbids extending a block further to the right;
* with a per-request cost (``request_cost``, in registers: :func:`request_cost`), an exact
  dynamic programme gives the cheapest split — registers read plus ``request_cost`` per read.
  Greedy merging up to the break-even gap is the same thing until the device's registers per
  read cut a block; then it can be a few per cent dearer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hardware_bridge.modbus._profile import IoPoint, Point, PollGroup, Profile
from hardware_bridge.serial_line import SerialSettings, char_time

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_REACTION_TIME",
    "IoRead",
    "ReadRequest",
    "break_even_gap",
    "plan_io_reads",
    "plan_reads",
    "request_cost",
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


def request_cost(settings: SerialSettings, device_latency: float = DEFAULT_REACTION_TIME) -> float:
    """What one more request costs on this line, in registers read (2 characters each)."""
    tc = char_time(settings)
    return (13 * tc + 2 * silent_interval(settings) + max(0.0, device_latency)) / (2 * tc)


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
    request_cost: float | None = None,
) -> list[ReadRequest]:
    """Plan the reads for ``keys`` (all points if None) of one device.

    ``group`` keeps only points of that poll group (their ``scale_by`` sources are kept
    whatever their group). ``split_groups`` never mixes fast and slow points in one read.
    Reads never touch a profile hole and never exceed the device's registers per read.

    ``request_cost`` (registers, see :func:`request_cost`): plan the cheapest reads for that
    cost; ``max_gap`` then stays a hard limit only if given. Without it: the fewest reads
    that read across at most ``max_gap`` (else the profile's, else 16) unused registers.
    """
    points = resolve_keys(profile, keys)
    if group is not None:
        chosen = {p.key for p in points if p.group == group}
        chosen |= {p.scale_by for p in points if p.key in chosen and p.scale_by}
        points = tuple(p for p in points if p.key in chosen)
    gap_limit = profile.max_gap if max_gap is None and profile.max_gap is not None else max_gap
    if request_cost is not None:
        gap_limit = max_gap if max_gap is not None else MAX_REGISTERS_PER_READ
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
        if request_cost is not None:
            requests += _cheapest(profile, fc, members, gap_limit, span_limit, request_cost)
            continue
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


def _cheapest(
    profile: Profile,
    fc: int,
    members: list[Point],
    gap_limit: int,
    span_limit: int,
    cost: float,
) -> list[ReadRequest]:
    """Split address-sorted points into reads minimising registers + ``cost`` per read."""
    n = len(members)
    best = [0.0] + [float("inf")] * n  # best[j]: cheapest plan for members[:j]
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        end = members[j - 1].end
        for i in range(j, 0, -1):  # members[i-1 : j] in one read
            start = members[i - 1].address
            end = max(end, members[i - 1].end)
            if i < j and members[i].address - members[i - 1].end > gap_limit:
                break
            if end - start > span_limit:
                break
            if any(h.overlaps(fc, start, end) for h in profile.holes):
                break
            total = best[i - 1] + cost + (end - start)
            if total < best[j]:
                best[j], cut[j] = total, i - 1
    reads: list[ReadRequest] = []
    j = n
    while j > 0:
        i = cut[j]
        carried = members[i:j]
        start, end = carried[0].address, max(p.end for p in carried)
        reads.append(
            ReadRequest(function_code=fc, address=start, count=end - start, points=tuple(carried))
        )
        j = i
    return reads[::-1]


MAX_BITS_PER_READ = 2000
"""FC01/FC02 quantity limit (Modbus Application Protocol V1.1b3 §6.1, §6.2)."""
BIT_GAP = 64
"""Unused coils/inputs worth reading across: 8 bytes, far cheaper than another request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IoRead:
    """One read of relay/input states: FC01/FC02 bits, or FC03/FC04 registers."""

    function_code: int
    address: int
    count: int
    points: tuple[IoPoint, ...]


def plan_io_reads(profile: Profile, keys: Iterable[str] | None = None) -> list[IoRead]:
    """The fewest reads for the relays and inputs wanted (all if None), merged per function
    code like register reads: across at most :data:`BIT_GAP` unused bits (FC01/FC02) or the
    profile's gap (FC03/FC04), within the device's per-read limit. Unknown keys raise KeyError.
    """
    if keys is None:
        wanted = list(profile.io)
    else:
        names = set(keys)
        unknown = sorted(k for k in names if k not in {io.key for io in profile.io})
        if unknown:
            raise KeyError(f"{profile.id} has no relay or input {', '.join(unknown)}")
        wanted = [io for io in profile.io if io.key in names]
    buckets: dict[int, list[IoPoint]] = {}
    for io in wanted:
        buckets.setdefault(io.read.function_code, []).append(io)
    reads: list[IoRead] = []
    for fc, members in sorted(buckets.items()):
        bits = fc in (1, 2)
        gap = BIT_GAP if bits else (profile.max_gap if profile.max_gap is not None else 16)
        span = MAX_BITS_PER_READ if bits else min(125, profile.max_registers_per_read)
        members.sort(key=lambda io: io.read.address)
        start, end, carried = members[0].read.address, members[0].read.address + 1, [members[0]]
        for io in members[1:]:
            address = io.read.address
            new_end = max(end, address + 1)
            holes = not bits and any(h.overlaps(fc, start, new_end) for h in profile.holes)
            if address - end <= gap and new_end - start <= span and not holes:
                end = new_end
                carried.append(io)
                continue
            reads.append(_io_read(profile, fc, start, end, carried))
            start, end, carried = address, address + 1, [io]
        reads.append(_io_read(profile, fc, start, end, carried))
    return reads


def _io_read(profile: Profile, fc: int, start: int, end: int, carried: list[IoPoint]) -> IoRead:
    if fc in (1, 2) and profile.bit_read_size > 1:  # whole aligned blocks of that size
        size = profile.bit_read_size
        start -= start % size
        end = min(0x10000, start + size * -(-(end - start) // size))
    count = min(end - start, MAX_BITS_PER_READ)
    return IoRead(function_code=fc, address=start, count=count, points=tuple(carried))
