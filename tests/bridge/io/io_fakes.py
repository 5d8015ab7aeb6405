"""Fakes for the I/O tests: a GPIO chip with kernel-like debounce, a clock moved by hand, and a
relay on a Modbus I/O board as seen through a bus (latency, failures, read-back)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hardware_bridge.io import Bias, GpioError, LineSetup, RawEdge, RelayError

START_NS = 1_767_225_600 * 10**9  # 2026-01-01 00:00:00 UTC


class FakeLines:
    """Requested lines of :class:`FakeChip` (the kernel's view of them)."""

    def __init__(self, chip: FakeChip, consumer: str, lines: Sequence[LineSetup]) -> None:
        self.chip = chip
        self.consumer = consumer
        self.setups = {line.offset: line for line in lines}
        self.driven = {line.offset: line.initial for line in lines if line.output}
        self.reported = {
            line.offset: self._logical(line, chip.level(line.offset, line.bias))
            for line in lines
            if not line.output
        }
        self.pending: dict[int, tuple[bool, int]] = {}
        self.queue: list[RawEdge] = []
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self.released = False

    @staticmethod
    def _logical(line: LineSetup, high: bool) -> bool:
        return high != line.active_low

    @property
    def fd(self) -> int:
        return self._read_fd

    def get(self, offset: int) -> bool:
        self._check()
        if offset in self.driven:
            return self.chip.stuck.get(offset, self.driven[offset])
        return self.reported[offset]

    def set(self, offset: int, active: bool) -> None:
        self._check()
        if offset in self.chip.fail_writes:
            raise GpioError(f"{self.chip.path}: cannot drive line {offset}: [Errno 5] EIO")
        if offset not in self.driven:
            raise GpioError(f"{self.chip.path}: line {offset} is not an output")
        self.driven[offset] = active

    def read_edges(self) -> list[RawEdge]:
        self._check()
        if self.chip.fail_reads:
            raise GpioError(f"{self.chip.path}: cannot read edge events: [Errno 19] ENODEV")
        with contextlib.suppress(BlockingIOError):
            os.read(self._read_fd, 4096)
        events, self.queue = self.queue, []
        return events

    def release(self) -> None:
        if not self.released:
            self.released = True
            os.close(self._read_fd)
            os.close(self._write_fd)

    def _check(self) -> None:
        if self.released:
            raise GpioError(f"{self.chip.path}: request released")

    # -- the kernel's side -----------------------------------------------------------------

    def level_changed(self, offset: int, high: bool, *, lose_edge: bool = False) -> None:
        line = self.setups.get(offset)
        if line is None or line.output:
            return
        logical = self._logical(line, high)
        if line.debounce <= timedelta():
            self._report(line, logical, self.chip.now_ns, lose_edge=lose_edge)
        elif logical == self.reported[offset]:
            self.pending.pop(offset, None)  # bounced back before the period ended
        else:
            self.pending[offset] = (logical, self.chip.now_ns)

    def settle(self) -> None:
        for offset, (logical, since) in list(self.pending.items()):
            line = self.setups[offset]
            period = int(line.debounce.total_seconds() * 10**9)
            if self.chip.now_ns - since >= period:
                del self.pending[offset]
                self._report(line, logical, since + period)

    def _report(
        self, line: LineSetup, logical: bool, at_ns: int, *, lose_edge: bool = False
    ) -> None:
        if self.reported[line.offset] == logical:
            return
        self.reported[line.offset] = logical
        if line.edges and not lose_edge:
            self.queue.append(RawEdge(line.offset, logical, at_ns))
            os.write(self._write_fd, b"e")


class FakeChip:
    """An in-memory GPIO chip: the test sets electrical levels and moves its time."""

    def __init__(self, path: str = "/dev/gpiochip7", num_lines: int = 32) -> None:
        self.path = path
        self.num_lines = num_lines
        self.electrical: dict[int, bool] = {}
        self.busy: dict[int, str] = {}
        self.stuck: dict[int, bool] = {}
        self.fail_writes: set[int] = set()
        self.fail_reads = False
        self.now_ns = START_NS
        self.lines: FakeLines | None = None

    def request(self, consumer: str, lines: Sequence[LineSetup]) -> FakeLines:
        for line in lines:
            if line.offset in self.busy:
                raise GpioError(
                    f"{self.path}: line {line.offset} is already used by {self.busy[line.offset]!r}"
                )
            if line.offset >= self.num_lines:
                raise GpioError(f"{self.path}: cannot request lines {line.offset}: no such line")
        self.lines = FakeLines(self, consumer, lines)
        return self.lines

    def level(self, offset: int, bias: Bias) -> bool:
        """The electrical level: driven from outside, else where the bias pulls it."""
        if offset in self.electrical:
            return self.electrical[offset]
        return bias is Bias.PULL_UP

    def set_level(self, offset: int, high: bool, *, lose_edge: bool = False) -> None:
        self.electrical[offset] = high
        if self.lines is not None:
            self.lines.level_changed(offset, high, lose_edge=lose_edge)

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 10**9)
        if self.lines is not None:
            self.lines.settle()

    def wall(self) -> datetime:
        return datetime.fromtimestamp(self.now_ns / 1e9, UTC)


class ManualClock:
    """A :class:`~hardware_bridge.io.Clock` that moves only when the test says so."""

    def __init__(self, start: datetime = datetime(2026, 6, 1, tzinfo=UTC)) -> None:
        self.start = start
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    def set(self, seconds: float) -> None:
        """Jump to ``seconds`` (for tests that call ``check()`` themselves)."""
        self.now = seconds

    async def advance_to(self, target: float) -> None:
        """Move time to ``target``, waking each sleeper at its own deadline, in order, and
        letting the woken tasks run before moving on."""
        while True:
            await _let_run()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleep
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            future.set_result(None)
        self.now = max(self.now, target)
        await _let_run()


async def _let_run() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


class BoardRelay:
    """A relay on a Modbus I/O board, as its driver sees it: a coil written and read back
    over a bus (a little latency), which can stop answering or refuse to take a state."""

    def __init__(self, name: str, *, on: bool = False) -> None:
        self._name = name
        self.coil = on
        self.unreachable = False
        self.stuck: bool | None = None
        self.writes: list[bool] = []
        self.reads = 0

    @property
    def name(self) -> str:
        return self._name

    async def read(self) -> bool:
        await asyncio.sleep(0)
        self.reads += 1
        if self.unreachable:
            raise RelayError(self._name, "cannot read: device 3 did not answer")
        return self.coil

    async def write(self, on: bool) -> None:
        await asyncio.sleep(0)
        if self.unreachable:
            raise RelayError(self._name, f"cannot switch {'on' if on else 'off'}: no answer")
        self.writes.append(on)
        self.coil = on if self.stuck is None else self.stuck
        if self.coil != on:
            raise RelayError(self._name, f"read back {'on' if self.coil else 'off'}")
