"""Cheap Modbus RTU relay / input boards on a virtual serial line, quirks included.

Each board is a sans-I/O model: a request frame in, its answer frame out — or None when the
real board stays silent. :class:`IoBoardLine` serves several of them on one pty
(:class:`VirtualSerialPort`); a test opens :attr:`IoBoardLine.path`, flips inputs with
:meth:`IoBoard.set_input` and reads relay states from :attr:`IoBoard.relays`.

Behaviour follows the reference notes (io/modbus_relay_boards.md):

* :class:`WaveshareRelayBoard` — coils 0-7 (FC01/05/0F; FC05 FF00 on, 0000 off, 5500 toggle;
  coil 0x00FF = all), discrete inputs 0-7 (FC02, the (D) variant only), holding registers
  0x1000-0x1007 control mode per channel (0 normal, 1 linkage, 2 toggle, 3 edge), 0x2000
  UART, 0x4000 address, 0x8000 version. The (D) leaves the factory in **linkage** mode: each
  relay follows its input, so a Modbus write is answered but overridden.
* :class:`EletechsupRelayBoard` — FC06 register n (1-based) with a command in the high byte
  (0x01 open/on, 0x02 close/off, 0x03 toggle, 0x04 latch, 0x05 momentary 1 s, 0x06 delay);
  register 0 ← 0x0700/0x0800 all on/off; FC03 registers 1..n read 1/0. An invalid command or
  read gets **no answer at all**, as the command sheet states.
* :class:`CoilIoBoard` — the plain layout: coils 0.. (FC01/05/0F), discrete inputs 0.. (FC02).
* :class:`BestepIoBoard` — coils 0..n-1 (FC01/05), discrete inputs from 0 (FC02) answered
  only for reads of eight (an assumption from "only reading eight seems to be implemented":
  other quantities are refused with exception 3); FC10 to holding 0x0000 (address) is
  answered with a full echo of the request, not the standard 8-byte reply.

pymodbus's server cannot express these boards: it always answers (an exception at least),
and answers FC10 the standard way. So this line speaks the frames itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

from hardware_bridge.simulators.modbus_frames import RtuFrameSplitter, with_crc
from hardware_bridge.simulators.virtual_serial import VirtualSerialPort

__all__ = [
    "BestepIoBoard",
    "CoilIoBoard",
    "EletechsupRelayBoard",
    "IoBoard",
    "IoBoardLine",
    "WaveshareRelayBoard",
    "board_for_profile",
]

MODE_NORMAL, MODE_LINKAGE, MODE_TOGGLE, MODE_EDGE = 0, 1, 2, 3


def _exception(device_id: int, function_code: int, code: int) -> bytes:
    return with_crc(bytes([device_id, function_code | 0x80, code]))


def _pack_bits(states: Sequence[bool]) -> bytes:
    """FC01/FC02 data bytes: first state in bit 0 of the first byte (LSB first)."""
    packed = bytearray((len(states) + 7) // 8)
    for i, state in enumerate(states):
        if state:
            packed[i // 8] |= 1 << (i % 8)
    return bytes(packed)


def _bits_answer(device_id: int, function_code: int, states: Sequence[bool]) -> bytes:
    data = _pack_bits(states)
    return with_crc(bytes([device_id, function_code, len(data)]) + data)


def _registers_answer(device_id: int, function_code: int, words: Sequence[int]) -> bytes:
    data = b"".join(w.to_bytes(2) for w in words)
    return with_crc(bytes([device_id, function_code, len(data)]) + data)


@dataclass(frozen=True, slots=True)
class _Request:
    device_id: int
    function_code: int
    address: int
    value: int
    """Quantity (FC01-04, 0F, 10) or the written value (FC05, FC06)."""
    payload: bytes
    frame: bytes

    @classmethod
    def parse(cls, frame: bytes) -> _Request:
        body = frame[:-2]
        return cls(
            device_id=body[0],
            function_code=body[1],
            address=int.from_bytes(body[2:4]),
            value=int.from_bytes(body[4:6]),
            payload=bytes(body[7:]) if body[1] in (15, 16) else b"",
            frame=frame,
        )


class IoBoard:
    """A relay/input board: ``handle(frame)`` → answer frame, or None (silence)."""

    def __init__(self, device_id: int, relays: int, inputs: int) -> None:
        self.device_id = device_id
        self.relays = [False] * relays
        self.inputs = [False] * inputs
        self.writes = 0
        """Write requests the board acted on."""
        self.held: dict[int, bool] = {}
        """Relays (1-based) the board's own logic keeps in a state whatever is written, as an
        interlock or a linkage mode does: the write is answered, the relay does not move."""

    def set_input(self, number: int, active: bool) -> None:
        """Drive input ``number`` (1-based), as a dry contact closing or opening."""
        self.inputs[number - 1] = active

    def handle(self, frame: bytes) -> bytes | None:
        raise NotImplementedError

    def answer(self, frame: bytes) -> bytes | None:
        """Handle one request frame as the board does, held relays included."""
        reply = self.handle(frame)
        for number, state in self.held.items():
            self.relays[number - 1] = state
        return reply

    def states(self) -> dict[str, bool]:
        """What a correct client reads: ``relay_n`` and ``input_n`` (1-based)."""
        out = {f"relay_{i + 1}": state for i, state in enumerate(self.relays)}
        out.update({f"input_{i + 1}": state for i, state in enumerate(self.inputs)})
        return out


class WaveshareRelayBoard(IoBoard):
    """Waveshare Modbus RTU Relay (8 relays) or, with ``inputs=True``, Relay (D)."""

    def __init__(self, device_id: int = 1, *, inputs: bool = False) -> None:
        super().__init__(device_id, 8, 8 if inputs else 0)
        # the (D)'s factory default appears to be linkage mode [S8d]
        self.modes = [MODE_LINKAGE if inputs else MODE_NORMAL] * 8
        self.uart = 0x0001
        self.version = 0x0064

    def set_input(self, number: int, active: bool) -> None:
        before = self.inputs[number - 1]
        super().set_input(number, active)
        ch = number - 1
        mode = self.modes[ch]
        if (mode == MODE_TOGGLE and active and not before) or (
            mode == MODE_EDGE and active != before
        ):
            self.relays[ch] = not self.relays[ch]
        self._link()

    def _link(self) -> None:
        """In linkage mode a relay follows its input whatever was written."""
        for ch, mode in enumerate(self.modes):
            if mode == MODE_LINKAGE and self.inputs:
                self.relays[ch] = self.inputs[ch]

    def handle(self, frame: bytes) -> bytes | None:
        req = _Request.parse(frame)
        dev, fc, addr, value = req.device_id, req.function_code, req.address, req.value
        if fc in (1, 2):
            states = self.relays if fc == 1 else self.inputs
            if not states:
                return _exception(dev, fc, 1)
            if value < 1 or addr + value > len(states):
                return _exception(dev, fc, 2)
            return _bits_answer(dev, fc, states[addr : addr + value])
        if fc == 5:
            if value not in (0xFF00, 0x0000, 0x5500):
                return _exception(dev, fc, 3)
            targets = range(8) if addr == 0x00FF else [addr] if addr < 8 else None
            if targets is None:
                return _exception(dev, fc, 2)
            for ch in targets:
                self.relays[ch] = not self.relays[ch] if value == 0x5500 else value == 0xFF00
            self.writes += 1
            self._link()
            return frame
        if fc == 15:
            if value < 1 or addr + value > 8:
                return _exception(dev, fc, 2)
            for i in range(value):
                self.relays[addr + i] = bool((req.payload[i // 8] >> (i % 8)) & 1)
            self.writes += 1
            self._link()
            return with_crc(frame[:6])
        if fc == 3:
            words = [self._holding(addr + i) for i in range(value)]
            if value < 1 or any(w is None for w in words):
                return _exception(dev, fc, 2)
            return _registers_answer(dev, fc, [w for w in words if w is not None])
        if fc in (6, 16):
            values = (
                [value]
                if fc == 6
                else [int.from_bytes(req.payload[i : i + 2]) for i in range(0, 2 * value, 2)]
            )
            for i, word in enumerate(values):
                if not self._set_holding(addr + i, word):
                    return _exception(dev, fc, 2 if self._holding(addr + i) is None else 3)
            self.writes += 1
            self._link()
            return frame if fc == 6 else with_crc(frame[:6])
        return _exception(dev, fc, 1)

    def _holding(self, address: int) -> int | None:
        if self.inputs and 0x1000 <= address <= 0x1007:
            return self.modes[address - 0x1000]
        return {0x2000: self.uart, 0x4000: self.device_id, 0x8000: self.version}.get(address)

    def _set_holding(self, address: int, word: int) -> bool:
        if self.inputs and 0x1000 <= address <= 0x1007:
            if word > MODE_EDGE:
                return False
            self.modes[address - 0x1000] = word
            return True
        if address == 0x2000:
            self.uart = word
            return True
        if address == 0x4000 and 1 <= word <= 255:
            self.device_id = word
            return True
        return False


class EletechsupRelayBoard(IoBoard):
    """Eletechsup R4D3B16 / R413D08 command-register board (1-based registers)."""

    def __init__(
        self,
        device_id: int = 1,
        *,
        channels: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(device_id, channels, 0)
        self._clock = clock
        self._off_at: dict[int, float] = {}

    def _settle(self) -> None:
        """Momentary and delayed channels switch off when their time is up."""
        now = self._clock()
        for ch, when in list(self._off_at.items()):
            if now >= when:
                self.relays[ch] = False
                del self._off_at[ch]

    def states(self) -> dict[str, bool]:
        self._settle()
        return super().states()

    def handle(self, frame: bytes) -> bytes | None:
        self._settle()
        req = _Request.parse(frame)
        n = len(self.relays)
        if req.function_code == 3:
            if req.address == 0x00FF and req.value == 1:
                return _registers_answer(req.device_id, 3, [self.device_id])
            if not (req.address >= 1 and req.value >= 1 and req.address + req.value - 1 <= n):
                return None  # "instruction is invalid no return"
            words = [int(self.relays[req.address - 1 + i]) for i in range(req.value)]
            return _registers_answer(req.device_id, 3, words)
        if req.function_code != 6:
            return None
        command, low = req.value >> 8, req.value & 0xFF
        if req.address == 0 and req.value in (0x0700, 0x0800):
            self.relays = [req.value == 0x0700] * n
        elif req.address == 0x00FF and 1 <= req.value <= 247:
            self.device_id = req.value
        elif 1 <= req.address <= n and command in (1, 2, 3, 4, 5, 6):
            ch = req.address - 1
            if command in (1, 2, 3, 4, 5) and low:
                return None  # only the delay command carries a low byte
            self._off_at.pop(ch, None)
            if command == 4:
                self._off_at.clear()  # latch: every other channel is off now
            if command == 1:
                self.relays[ch] = True
            elif command == 2:
                self.relays[ch] = False
            elif command == 3:
                self.relays[ch] = not self.relays[ch]
            elif command == 4:
                self.relays = [i == ch for i in range(n)]
            else:
                self.relays[ch] = True
                self._off_at[ch] = self._clock() + (1.0 if command == 5 else float(low))
        else:
            return None
        self.writes += 1
        return frame


class CoilIoBoard(IoBoard):
    """The common coil board: relays = coils 0.. (FC01/05/0F), inputs = discrete inputs 0..
    (FC02), any quantity within range — the layout of the ``generic_io_module`` template."""

    def __init__(self, device_id: int = 1, *, relays: int = 2, inputs: int = 2) -> None:
        super().__init__(device_id, relays, inputs)

    def handle(self, frame: bytes) -> bytes | None:
        req = _Request.parse(frame)
        dev, fc, addr, value = req.device_id, req.function_code, req.address, req.value
        if fc in (1, 2):
            states = self._readable(fc)
            if value < 1 or addr + value > len(states):
                return _exception(dev, fc, 2)
            return _bits_answer(dev, fc, states[addr : addr + value])
        if fc == 5:
            if addr >= len(self.relays):
                return _exception(dev, fc, 2)
            if value not in (0xFF00, 0x0000):
                return _exception(dev, fc, 3)
            self.relays[addr] = value == 0xFF00
            self.writes += 1
            return frame
        if fc == 15:
            if value < 1 or addr + value > len(self.relays):
                return _exception(dev, fc, 2)
            for i in range(value):
                self.relays[addr + i] = bool((req.payload[i // 8] >> (i % 8)) & 1)
            self.writes += 1
            return with_crc(frame[:6])
        return self._other(req)

    def _readable(self, function_code: int) -> list[bool]:
        return self.relays if function_code == 1 else self.inputs

    def _other(self, req: _Request) -> bytes | None:
        return _exception(req.device_id, req.function_code, 1)


class BestepIoBoard(CoilIoBoard):
    """bestep 1/2/4/8-channel relay + input PCB."""

    def __init__(self, device_id: int = 255, *, channels: int = 2) -> None:
        super().__init__(device_id, relays=channels, inputs=channels)

    def _readable(self, function_code: int) -> list[bool]:
        states = super()._readable(function_code)
        return [*states, *[False] * (8 - len(states))]  # an 8-channel PCB, partly fitted

    def handle(self, frame: bytes) -> bytes | None:
        if frame[1] == 2 and frame[2:6] != b"\x00\x00\x00\x08":
            return _exception(frame[0], 2, 3)  # only "read eight from 0" is implemented
        if frame[1] == 15:
            return _exception(frame[0], 15, 1)
        return super().handle(frame)

    def _other(self, req: _Request) -> bytes | None:
        if req.function_code == 16 and req.address == 0x0000 and req.value == 1:
            self.device_id = int.from_bytes(req.payload[0:2])
            self.writes += 1
            return req.frame  # the quirk: a full echo, not the standard 8-byte FC10 answer
        return super()._other(req)


def board_for_profile(
    profile_id: str, device_id: int, clock: Callable[[], float] = time.monotonic
) -> IoBoard:
    """The simulated board for a shipped I/O profile id (ValueError for other ids).

    ``clock`` (seconds) times the boards' own pulses (Eletechsup momentary / delay)."""
    makers: dict[str, Callable[[], IoBoard]] = {
        "waveshare_relay_8ch": lambda: WaveshareRelayBoard(device_id),
        "waveshare_relay_8ch_d": lambda: WaveshareRelayBoard(device_id, inputs=True),
        "eletechsup_r4d3b16": lambda: EletechsupRelayBoard(device_id, clock=clock),
        "bestep_2ch_io": lambda: BestepIoBoard(device_id),
        "generic_io_module": lambda: CoilIoBoard(device_id),
    }
    maker = makers.get(profile_id)
    if maker is None:
        known = ", ".join(sorted(makers))
        raise ValueError(f"no simulated relay/input board for {profile_id!r} (known: {known})")
    return maker()


class IoBoardLine:
    """Boards on one RS-485 line: ``async with IoBoardLine([board, ...]) as line``."""

    def __init__(self, boards: Sequence[IoBoard]) -> None:
        self.boards = list(boards)
        self.silent: set[int] = set()
        """Device ids whose requests are dropped (a board unplugged)."""
        self.requests: dict[int, int] = {}
        self._port = VirtualSerialPort()
        self._splitter = RtuFrameSplitter("request")
        self._task: asyncio.Task[None] | None = None

    @property
    def path(self) -> str:
        return self._port.path

    def board(self, device_id: int) -> IoBoard:
        return next(b for b in self.boards if b.device_id == device_id)

    async def _serve(self) -> None:
        while True:
            chunk = await self._port.read()
            for piece, is_frame in self._splitter.feed(chunk):
                if not is_frame:
                    continue
                device_id = piece[0]
                self.requests[device_id] = self.requests.get(device_id, 0) + 1
                if device_id in self.silent:
                    continue
                for board in self.boards:
                    if board.device_id == device_id:
                        answer = board.answer(piece)
                        if answer is not None:
                            self._port.write(answer)
                        break

    async def __aenter__(self) -> Self:
        self._port.start()
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._port.close()
