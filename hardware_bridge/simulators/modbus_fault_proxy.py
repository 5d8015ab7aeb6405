"""A proxy between a Modbus RTU master and a line of devices: faults and wire timing.

The master opens :attr:`FaultProxy.path`; the proxy opens the line's port (for example
:attr:`ModbusLineSimulator.path <hardware_bridge.simulators.modbus_line.ModbusLineSimulator.path>`)
and plays *one device that handles requests in order*: it starts on a request once the
request is on the wire and the previous one is answered, gets the genuine answer from the
line, and lets a :data:`Behaviour` decide what goes back and when — on time, late, twice,
corrupted, with a forged function code, or an earlier answer replayed.

With ``baudrate`` the proxy also keeps wire time: a frame of n bytes takes n character times
on its wire (start + 8 data + stop bits), frames on one wire do not overlap, a device starts
on a request t3.5 after its last byte, and every answer waits ``reaction`` seconds more.
Frames are delivered whole at the moment their last byte would arrive; a master that waits
for whole frames (as every RTU master must) sees the timing of a real line.

The proxy runs in its own thread with ``select`` timeouts, so its timing does not depend on
the event loop that runs the master under test.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import select
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

from hardware_bridge.simulators.modbus_frames import RtuFrameSplitter, with_crc
from hardware_bridge.simulators.virtual_serial import _open_raw_pty

__all__ = [
    "Behaviour",
    "Emission",
    "Exchange",
    "FaultProxy",
    "forged_function_code",
    "on_time",
]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the device handled, and its genuine answer (None: it gave none)."""

    index: int
    request: bytes
    response: bytes | None
    earlier: tuple[tuple[bytes, bytes | None], ...] = ()
    """(request, genuine answer) of every earlier exchange, oldest first."""


type Emission = tuple[float, bytes]
"""(seconds after the device's reaction time is up, frame to send back)."""
type Behaviour = Callable[[Exchange], Sequence[Emission]]


def on_time(exchange: Exchange) -> Sequence[Emission]:
    """The genuine answer, after the reaction time."""
    return [(0.0, exchange.response)] if exchange.response else []


def forged_function_code(exchange: Exchange) -> Sequence[Emission]:
    """The genuine answer, but claiming the other register-read function (03 ↔ 04)."""
    if not exchange.response or exchange.response[1] not in (3, 4):
        return on_time(exchange)
    body = bytearray(exchange.response[:-2])
    body[1] = 7 - body[1]
    return [(0.0, with_crc(bytes(body)))]


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    frame: bytes = field(compare=False)


class FaultProxy:
    """``with FaultProxy(sim.path, behaviour=...) as proxy:`` then open ``proxy.path``."""

    def __init__(
        self,
        line_path: str,
        *,
        behaviour: Behaviour = on_time,
        reaction: float = 0.0,
        baudrate: int | None = None,
        line_timeout: float = 0.5,
    ) -> None:
        self.behaviour = behaviour
        self.reaction = reaction
        self._tc = 10 / baudrate if baudrate else 0.0
        self._t35 = (0.00175 if baudrate > 19200 else 3.5 * self._tc) if baudrate else 0.0
        self._line_timeout = line_timeout
        self._master, self._slave, self.path = _open_raw_pty()
        self._line = os.open(line_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._line)
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._stop = False
        self.exchanges: list[Exchange] = []
        self.errors: list[BaseException] = []
        self.late_answers = 0
        """Answers the line behind the proxy gave too late to be sent on time (then they go at
        once): a benchmark is only as good as this is low."""

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modbus-fault-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop = True
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave, self._line, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = self._line = self._wake_r = self._wake_w = -1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- the device --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # surfaced by tests through .errors
            self.errors.append(exc)

    def _serve(self) -> None:
        requests = RtuFrameSplitter("request")
        responses = RtuFrameSplitter("response")
        queue: list[tuple[float, bytes]] = []  # (time the request was on the wire, frame)
        due: list[_Due] = []
        seq = 0
        to_master_free = to_line_free = device_free = 0.0
        waiting: tuple[float, bytes, float] | None = None  # (start, request, give-up time)
        while not self._stop:
            now = time.monotonic()
            while due and due[0].at <= now:
                _write_all(self._master, heapq.heappop(due).frame)
            timeout = 0.05
            if due:
                timeout = min(timeout, due[0].at - now)
            if waiting is not None:
                timeout = min(timeout, waiting[2] - now)
            readable, _, _ = select.select(
                [self._master, self._line, self._wake_r], [], [], max(0.0, timeout)
            )
            now = time.monotonic()
            if self._master in readable:
                for frame, is_frame in requests.feed(_read(self._master)):
                    if not is_frame:
                        continue
                    done = max(now, to_line_free) + len(frame) * self._tc
                    to_line_free = done
                    queue.append((done, frame))
            answer: bytes | None = None
            answered = False
            if self._line in readable and waiting is not None:
                for frame, is_frame in responses.feed(_read(self._line)):
                    if is_frame and not answered:
                        answer, answered = frame, True
            elif self._line in readable:
                _read(self._line)  # nothing asked: not an answer to anything
            if waiting is not None and (answered or now >= waiting[2]):
                start, request, _ = waiting
                waiting = None
                exchange = Exchange(
                    len(self.exchanges),
                    request,
                    answer,
                    tuple((e.request, e.response) for e in self.exchanges),
                )
                self.exchanges.append(exchange)
                begin = start + self.reaction
                finished = start
                for delay, frame in self.behaviour(exchange):
                    if begin + delay < now:
                        self.late_answers += 1
                    sent = max(begin + delay, to_master_free, now)
                    arrives = sent + len(frame) * self._tc
                    to_master_free = arrives
                    finished = max(finished, arrives)
                    seq += 1
                    heapq.heappush(due, _Due(arrives, seq, frame))
                device_free = finished
            if waiting is None and queue:
                on_wire, request = queue.pop(0)
                start = max(on_wire + self._t35, device_free)
                _write_all(self._line, request)
                waiting = (start, request, time.monotonic() + self._line_timeout)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except (BlockingIOError, OSError):
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [], 0.01)
