"""A simulated RS-485 line of Modbus RTU devices, driven by their profiles.

pymodbus's RTU server answers on one end of a :class:`VirtualSerialLink`; the client opens
:attr:`ModbusLineSimulator.path`. The link's taps cut the byte stream into RTU frames, count
requests per device id, and inject faults per device at runtime:

* ``silent``     — requests to the device are dropped (it never answers);
* ``bad_crc``    — one byte of each of its responses is flipped, so the CRC fails;
* ``exception``  — it answers every read with a Modbus exception (code of your choice).

A device whose profile is a relay/input board (relays and inputs, no register points) is
served by its board model from :mod:`modbus_io_boards` instead of pymodbus (coils, discrete
inputs and each board's write behaviour: Waveshare (D) linkage mode, Eletechsup's silence on
invalid commands, bestep's read-eight-only inputs); :meth:`ModbusLineSimulator.board` gives
it to a test that flips an input. Its answers cross the same taps, so faults and echo apply.

Ids that no simulated device owns are dropped too: on a real line nobody answers them
(pymodbus's server would answer them with exception 4). With ``echo=True`` every response is
preceded by the client's own request, like a 2-wire RS-485 adapter that hears itself.

Register contents come from each device's :class:`DeviceSimulation` (a physical site model:
counters integrate the powers it serves) at the simulator's clock, in seconds: advance it with
:meth:`ModbusLineSimulator.advance`, or give ``update_interval`` to let it run with real time
(``time_scale`` times faster, when a demonstration wants counters to move visibly).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self

from hardware_bridge.modbus import Profile, ProfileCatalogue, Value
from hardware_bridge.simulators.modbus_frames import RtuFrameSplitter, with_crc
from hardware_bridge.simulators.modbus_io_boards import IoBoard, board_for_profile
from hardware_bridge.simulators.modbus_server import SerialRegisterServer
from hardware_bridge.simulators.modbus_values import DeviceImage, DeviceSimulation
from hardware_bridge.simulators.virtual_serial import VirtualSerialLink

__all__ = ["Fault", "ModbusLineSimulator", "SimulatedDevice", "devices_from_specs"]


class Fault(StrEnum):
    NONE = "none"
    SILENT = "silent"
    BAD_CRC = "bad_crc"
    EXCEPTION = "exception"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedDevice:
    """One device on the simulated line."""

    device_id: int
    profile: Profile
    overrides: Mapping[str, float] = field(default_factory=dict)
    """Fixed engineering values for some keys (e.g. ``{"ct_ratio": 100}``)."""
    seed: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.device_id <= 247:
            raise ValueError(f"device id must be 1..247, not {self.device_id}")


def devices_from_specs(specs: Iterable[str], catalogue: ProfileCatalogue) -> list[SimulatedDevice]:
    """``["1:eastron_sdm630", "7:kael_varkombi"]`` → simulated devices (ValueError if malformed;
    ProfileError if a profile is unknown)."""
    devices = []
    for spec in specs:
        device_id, sep, profile_id = spec.partition(":")
        if not sep or not device_id.strip().isdigit() or not profile_id.strip():
            raise ValueError(f"expected DEVICE_ID:PROFILE_ID, got {spec!r}")
        profile = catalogue.get(profile_id.strip())
        devices.append(SimulatedDevice(device_id=int(device_id), profile=profile))
    return devices


@dataclass(slots=True)
class _State:
    device: SimulatedDevice
    fault: Fault = Fault.NONE
    exception_code: int = 4
    requests: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class ModbusLineSimulator:
    """``async with ModbusLineSimulator(devices=[...]) as sim:`` then open ``sim.path``."""

    def __init__(
        self,
        devices: Sequence[SimulatedDevice],
        *,
        baudrate: int = 9600,
        update_interval: float | None = None,
        echo: bool = False,
        start_time: float = 0.0,
        time_scale: float = 1.0,
    ) -> None:
        ids = [d.device_id for d in devices]
        if len(set(ids)) != len(ids):
            raise ValueError("device ids on one line must be unique")
        self._states = {d.device_id: _State(d) for d in devices}
        self._baudrate = baudrate
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self._update_interval = update_interval
        self.time_scale = time_scale
        """Simulated seconds per real second while ``update_interval`` runs the clock."""
        self.echo = echo
        self.time = start_time
        self._link = VirtualSerialLink()
        self._server: SerialRegisterServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._requests = RtuFrameSplitter("request")
        self._responses = RtuFrameSplitter("response")
        self._last_request = b""
        self._pending: dict[int, tuple[int, int, int]] = {}
        self._refusals: dict[int, int] = {}
        self._images: dict[int, tuple[float, DeviceImage]] = {}
        self._boards: dict[int, IoBoard] = {
            d.device_id: board_for_profile(d.profile.id, d.device_id, clock=self._clock)
            for d in devices
            if d.profile.io and not d.profile.points
        }
        self._board_fd: int | None = None
        self._simulations = {
            d.device_id: DeviceSimulation(
                d.profile,
                seed=d.seed if d.seed is not None else d.device_id * 1.3,
                overrides=d.overrides,
            )
            for d in devices
            if d.device_id not in self._boards
        }

    def _clock(self) -> float:
        return self.time

    # -- public API --------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The serial port a client opens."""
        return self._link.client_path

    @property
    def api(self) -> str:
        """Which pymodbus datastore API the server runs on ("context" or "simdevice")."""
        return self._server.api if self._server is not None else "not started"

    def device_ids(self) -> list[int]:
        return sorted(self._states)

    def values(self, device_id: int) -> dict[str, Value]:
        """Engineering values the device serves right now (what a correct client decodes)."""
        board = self._boards.get(device_id)
        if board is not None:
            return dict(board.states())
        return dict(self._image(device_id).values)

    def board(self, device_id: int) -> IoBoard:
        """The relay/input board model of ``device_id`` (KeyError for a register device)."""
        return self._boards[device_id]

    def advance(self, seconds: float) -> None:
        """Move the simulated clock: powers drift, energy counters integrate them."""
        self.time += seconds

    def mains_outage(self, start: float, end: float = math.inf) -> None:
        """Cut the site's mains from ``start`` to ``end`` (simulated seconds, after
        :attr:`time`; no end: until :meth:`restore_mains`): voltages fall to 0 and counters
        stand still; devices keep answering, as on an auxiliary supply."""
        if start <= self.time:
            raise ValueError("an outage must start after the simulated present")
        for simulation in self._simulations.values():
            simulation.site.outages.append((start, end))

    def restore_mains(self, at: float) -> None:
        """End every outage still running or to come at ``at`` (after :attr:`time`)."""
        if at <= self.time:
            raise ValueError("mains can come back only after the simulated present")
        for simulation in self._simulations.values():
            site = simulation.site
            site.outages = [(start, min(end, at)) for start, end in site.outages if start < at]

    def set_fault(self, device_id: int, fault: Fault | str, *, exception_code: int = 4) -> None:
        state = self._states[device_id]
        state.fault = Fault(fault)
        state.exception_code = exception_code

    def requests_seen(self, device_id: int) -> int:
        """Request frames addressed to ``device_id`` that crossed the line (also dropped ones)."""
        state = self._states.get(device_id)
        return state.requests if state is not None else 0

    async def wait_for_requests(self, device_id: int, count: int) -> None:
        """Wait until ``device_id`` has seen at least ``count`` requests."""
        state = self._states[device_id]
        while state.requests < count:
            state.changed.clear()
            await state.changed.wait()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._link.taps["to_device"] = self._to_device
        self._link.taps["to_client"] = self._to_client
        self._link.start()
        registers = {k: st for k, st in self._states.items() if k not in self._boards}
        spans = {dev_id: self._span(st.device.profile) for dev_id, st in registers.items()}
        holes = {
            dev_id: [(h.start, h.end) for h in st.device.profile.holes]
            for dev_id, st in registers.items()
        }
        if self._boards or not spans:
            # the boards answer on the device end of the link, next to pymodbus's server
            self._board_fd = os.open(
                self._link.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK
            )
            if not spans:  # nobody else reads the device end: keep it from filling up
                asyncio.get_running_loop().add_reader(self._board_fd, self._discard)
        if not spans:
            if self._update_interval is not None:
                self._ticker = asyncio.create_task(self._tick(self._update_interval))
            return
        self._server = SerialRegisterServer(
            self._link.device_path,
            spans,
            self._registers,
            holes=holes,
            request_hint=self._pending.get,
            baudrate=self._baudrate,
        )
        await self._server.start()
        if self._update_interval is not None:
            self._ticker = asyncio.create_task(self._tick(self._update_interval))

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._board_fd is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._board_fd)
            os.close(self._board_fd)
            self._board_fd = None
        self._link.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- internals ---------------------------------------------------------------------
    def _discard(self) -> None:
        if self._board_fd is not None:
            with contextlib.suppress(OSError):
                os.read(self._board_fd, 4096)

    def _board_answer(self, board: IoBoard, state: _State, frame: bytes) -> None:
        """Let the board answer, as if from the device end of the line (None = silence)."""
        if state.fault is Fault.EXCEPTION:
            answer: bytes | None = with_crc(
                bytes([frame[0], frame[1] | 0x80, state.exception_code])
            )
        else:
            answer = board.answer(frame)
        if answer is None or self._board_fd is None:
            self._last_request = b""
            return
        view = memoryview(answer)
        while view:
            try:
                view = view[os.write(self._board_fd, view) :]
            except BlockingIOError:
                continue
            except OSError:
                return

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.advance(interval * self.time_scale)

    @staticmethod
    def _span(profile: Profile) -> tuple[int, int]:
        addresses = [p.address for p in profile.points] + [p.end - 1 for p in profile.points]
        addresses += [p.address + p.width - 1 for p in profile.probes]
        addresses += [p.address for p in profile.probes]
        return min(addresses), max(addresses)

    def _image(self, device_id: int) -> DeviceImage:
        cached = self._images.get(device_id)
        if cached is not None and cached[0] == self.time:
            return cached[1]
        image = self._simulations[device_id].render(self.time)
        self._images[device_id] = (self.time, image)
        return image

    def _registers(
        self, device_id: int, function_code: int, address: int, count: int
    ) -> list[int] | int:
        """What the device answers to a read: registers, or an exception code."""
        result = self._answer(device_id, function_code, address, count)
        if isinstance(result, int):
            self._refusals[device_id] = result
        return result

    def _answer(
        self, device_id: int, function_code: int, address: int, count: int
    ) -> list[int] | int:
        state = self._states.get(device_id)
        if state is None:
            return 11
        if state.fault is Fault.EXCEPTION:
            return state.exception_code
        profile = state.device.profile
        used = {p.function_code for p in profile.points} | {p.function_code for p in profile.probes}
        if function_code not in used:
            return 1  # illegal function
        if any(h.overlaps(function_code, address, address + count) for h in profile.holes):
            return 2  # illegal data address: the device refuses reserved registers
        low, high = self._span(profile)
        if address < low or address + count - 1 > high:
            return 2
        image = self._image(device_id).registers
        return [image.get((function_code, address + i), 0) for i in range(count)]

    def _to_device(self, chunk: bytes) -> bytes:
        out = bytearray()
        for piece, is_frame in self._requests.feed(chunk):
            if not is_frame:
                out += piece
                continue
            state = self._states.get(piece[0])
            if state is None:
                continue  # nobody owns this id: silence, as on a real line
            state.requests += 1
            state.changed.set()
            if state.fault is Fault.SILENT:
                continue
            self._last_request = piece
            self._refusals.pop(piece[0], None)
            board = self._boards.get(piece[0])
            if board is not None:
                asyncio.get_running_loop().call_soon(self._board_answer, board, state, piece)
                continue
            if piece[1] in (3, 4):
                address, count = int.from_bytes(piece[2:4]), int.from_bytes(piece[4:6])
                self._pending[piece[0]] = (piece[1], address, count)
            out += piece
        return bytes(out)

    def _to_client(self, chunk: bytes) -> bytes:
        out = bytearray()
        for piece, is_frame in self._responses.feed(chunk):
            if not is_frame:
                out += piece
                continue
            frame = bytearray(piece)
            state = self._states.get(frame[0])
            refusal = self._refusals.pop(frame[0], None)
            if frame[1] & 0x80 and refusal is not None and frame[2] != refusal:
                # pymodbus 3.12's server turns every datastore exception into code 4
                frame = bytearray(with_crc(bytes(frame[:2]) + bytes([refusal])))
            if state is not None and state.fault is Fault.BAD_CRC:
                frame[-1] ^= 0x5A
            if self.echo and self._last_request:
                out += self._last_request
            self._last_request = b""
            out += frame
        return bytes(out)
