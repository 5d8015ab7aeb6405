"""Bus master: one owner per serial line, per-device timeouts, retries and back-off.

Every transaction on the line goes through one lock, so exactly one request is in flight.
Before each request the line is left idle for the inter-frame delay (t3.5 by default,
counted from the end of the last transaction or the last byte received), and input is
discarded.

RTU answers carry no transaction id, so a late answer is kept off the line by time: after a
request fails (no answer in time, or a frame that answers something else) the line is
*drained* — everything that arrives is discarded until it has been silent for the
quarantine window (the failed request's timeout unless set) — before any next request,
the retry included. A request is never re-sent at once. Bytes that arrive after an
accepted answer (a duplicate, a replay) start the same drain. What this cannot catch: a
frame from the addressed device, of the right function and length, arriving inside a later
request's own window — an answer later than its timeout + quarantine, or a replay injected
there — is indistinguishable from the answer on RTU.

A device that stops answering is backed off: its reads are answered at once with
unavailable values until the back-off period ends, then one single-attempt probe decides
whether it is back (the period doubles up to a maximum while it stays silent). A silent
device therefore costs the others at most one timeout and one drain per back-off period.

Relays and inputs are read with FC01/FC02 (or a register and bit) alongside the registers.
A relay write (:meth:`ModbusBus.write_point`) is a transaction like a read — same lock,
pacing, answer matching (the echo, byte for byte) and drain after a failure — followed by a
read-back; only the read-back state is returned. A profile's ``init`` writes go to a device
before its first read or write, and again after it was silent (it may have been power-cycled).

Reads are planned for the least wire time on this line (its character time) and with each
device's reaction time, measured as an exponentially weighted mean of the round trip minus
the wire time (:data:`DEFAULT_REACTION_TIME` until the first answer).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Self

from hardware_bridge.modbus._client import RtuClient
from hardware_bridge.modbus._codec import Number, decode_point, decode_raw
from hardware_bridge.modbus._errors import (
    ModbusConnectionError,
    ModbusDeviceError,
    ModbusExceptionResponse,
    ModbusNoResponse,
    ModbusReadBackMismatch,
    ModbusWriteError,
)
from hardware_bridge.modbus._loader import ProfileCatalogue
from hardware_bridge.modbus._planner import (
    DEFAULT_REACTION_TIME,
    IoRead,
    ReadRequest,
    break_even_gap,
    plan_io_reads,
    plan_reads,
    request_cost,
    resolve_keys,
    silent_interval,
)
from hardware_bridge.modbus._profile import InitWrite, IoPoint, Point, PollGroup, Probe, Profile
from hardware_bridge.modbus._rtu import (
    write_coil_request,
    write_coils_request,
    write_register_request,
    write_registers_request,
)
from hardware_bridge.serial_line import SerialSettings, char_time

__all__ = [
    "DeviceHealth",
    "DeviceReading",
    "ModbusBus",
    "RequestFailure",
    "ScanHit",
    "Value",
]

type Value = Number | bool | None
type FailureKind = Literal["no_response", "exception", "connection", "backed_off"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailure:
    """One planned read that produced no values, and why."""

    function_code: int
    address: int
    count: int
    kind: FailureKind
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceReading:
    """The result of reading one device: values (None = unavailable) and what it cost."""

    device_id: int
    profile_id: str
    values: Mapping[str, Value]
    requests: int
    """Request frames sent on the line for this reading (retries included)."""
    errors: tuple[RequestFailure, ...] = ()
    skipped: bool = False
    """True when the device was backed off and nothing was sent."""

    @property
    def complete(self) -> bool:
        """Every planned read succeeded."""
        return not self.errors

    @property
    def available(self) -> bool:
        """At least one value was read."""
        return any(v is not None for v in self.values.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceHealth:
    """What the bus currently thinks of one device."""

    device_id: int
    state: Literal["unknown", "online", "backed_off"]
    consecutive_failures: int
    backoff_seconds: float
    retry_in: float | None
    """Seconds until the next probe is allowed (None unless backed off)."""
    last_error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanHit:
    """A device that answered during a scan, and the profile its probe registers suggest."""

    device_id: int
    suggested_profile_id: str | None
    candidates: tuple[str, ...] = ()
    """Every profile whose probes all matched, best first."""


@dataclass(slots=True)
class _Health:
    state: Literal["unknown", "online", "backed_off"] = "unknown"
    failures: int = 0
    backoff: float = 0.0
    retry_at: float | None = None
    last_error: str | None = None


@dataclass(slots=True)
class _Outcome:
    registers: dict[tuple[int, int], int] = field(default_factory=dict)
    requests: int = 0
    errors: list[RequestFailure] = field(default_factory=list)


def default_inter_frame_delay(settings: SerialSettings) -> float:
    """t3.5 (Modbus over Serial Line V1.02 §2.5.1.1): 3.5 characters of this line's framing
    (start + data + parity + stop bits: 10 for 8N1, 11 for 8E1), fixed 1.75 ms above 19200."""
    return silent_interval(settings)


_REACTION_WEIGHT = 0.25
"""Weight of the newest round trip in a device's reaction-time average."""
_PLAN_CACHE_SIZE = 1024
_TIMER_SLACK = 0.0012
_DRAIN_LIMIT = 4.0
"""A drain ends after this many quarantine windows even if the line never falls silent."""


class ModbusBus:
    """The master of one RS-485 line; use as ``async with ModbusBus(settings) as bus``."""

    def __init__(
        self,
        settings: SerialSettings,
        *,
        timeout: float = 0.5,
        retries: int = 1,
        inter_frame_delay: float | None = None,
        device_switch_delay: float = 0.0,
        backoff_initial: float = 5.0,
        backoff_max: float = 300.0,
        failures_before_backoff: int = 1,
        handle_local_echo: bool = False,
        reconnect_delay: float = 1.0,
        quarantine: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` measures back-off periods and reconnect delays (tests pass a fake one);
        line timing (inter-frame delay, drain) always uses the real monotonic clock.

        ``quarantine``: silence required on the line after a failed request before the next
        one (None: the failed request's own timeout). An answer later than its timeout is
        then discarded as long as it comes within timeout + quarantine of its request.
        """
        if timeout <= 0 or retries < 0 or failures_before_backoff < 1:
            raise ValueError("timeout must be > 0, retries >= 0, failures_before_backoff >= 1")
        if quarantine is not None and quarantine < 0:
            raise ValueError("quarantine must be >= 0")
        self.settings = settings
        self.timeout = timeout
        self.retries = retries
        self.inter_frame_delay = (
            default_inter_frame_delay(settings) if inter_frame_delay is None else inter_frame_delay
        )
        self.device_switch_delay = device_switch_delay
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.failures_before_backoff = failures_before_backoff
        self.reconnect_delay = reconnect_delay
        self.quarantine = quarantine
        self._clock = clock
        self._client = RtuClient(settings, handle_local_echo=handle_local_echo)
        self._lock = asyncio.Lock()
        self._health: dict[int, _Health] = {}
        self._timeouts: dict[int, float] = {}
        self._last_io = 0.0
        self._last_device: int | None = None
        self._reconnect_at = 0.0
        self._drain_from: float | None = None
        self._drain_window = 0.0
        self._last_timeout = timeout
        self._reaction: dict[int, float] = {}
        self._plans: dict[tuple[object, ...], list[ReadRequest]] = {}
        self._initialised: set[tuple[int, str]] = set()
        """(device id, profile id) whose profile ``init`` writes were confirmed."""
        self.requests_sent = 0
        self.drains = 0
        """How many times the line was drained after a failure or stray input."""

    # -- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        """Open the port (ModbusConnectionError if it cannot be opened)."""
        async with self._lock:
            await self._client.connect()

    async def close(self) -> None:
        async with self._lock:
            self._client.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- health ------------------------------------------------------------------------
    def set_device_timeout(self, device_id: int, timeout: float) -> None:
        """Use a different response timeout for one device (a slow relay, say)."""
        self._timeouts[device_id] = timeout

    def reaction_time(self, device_id: int) -> float:
        """The device's measured reaction time (round trip minus wire time), in seconds."""
        return self._reaction.get(device_id, DEFAULT_REACTION_TIME)

    def planning_gap(self, device_id: int) -> int:
        """Unused registers worth reading across for this device on this line."""
        return break_even_gap(self.settings, self.reaction_time(device_id))

    def request_cost(self, device_id: int) -> float:
        """What one more request to this device costs on this line, in registers read."""
        return request_cost(self.settings, self.reaction_time(device_id))

    def _learn_reaction(self, device_id: int, round_trip: float, count: int) -> None:
        wire = (8 + 5 + 2 * count) * char_time(self.settings) + silent_interval(self.settings)
        sample = max(0.0, round_trip - wire)
        old = self._reaction.get(device_id)
        self._reaction[device_id] = (
            sample if old is None else old + _REACTION_WEIGHT * (sample - old)
        )

    def health(self, device_id: int) -> DeviceHealth:
        h = self._health.get(device_id, _Health())
        retry_in = None
        if h.state == "backed_off" and h.retry_at is not None:
            retry_in = max(0.0, h.retry_at - self._clock())
        return DeviceHealth(
            device_id=device_id,
            state=h.state,
            consecutive_failures=h.failures,
            backoff_seconds=h.backoff,
            retry_in=retry_in,
            last_error=h.last_error,
        )

    def _mark_ok(self, device_id: int) -> None:
        h = self._health.setdefault(device_id, _Health())
        h.state, h.failures, h.backoff, h.retry_at = "online", 0, 0.0, None

    def _mark_silent(self, device_id: int, message: str) -> None:
        # A device that went quiet may have been power-cycled: its init runs again.
        self._initialised = {done for done in self._initialised if done[0] != device_id}
        h = self._health.setdefault(device_id, _Health())
        h.failures += 1
        h.last_error = message
        if h.failures >= self.failures_before_backoff:
            h.backoff = (
                self.backoff_initial if h.backoff == 0 else min(2 * h.backoff, self.backoff_max)
            )
            h.state = "backed_off"
            h.retry_at = self._clock() + h.backoff

    # -- line access -------------------------------------------------------------------
    def _start_drain(self, window: float) -> None:
        self._drain_from = time.monotonic()
        self._drain_window = window if self.quarantine is None else self.quarantine

    async def _drain(self) -> None:
        """Discard input until the line has been silent for the quarantine window."""
        if self._client.stray_bytes and self._drain_from is None:
            self._start_drain(self._last_timeout)  # bytes that answered nothing arrived
        if self._drain_from is None:
            return
        self.drains += 1
        started, window = self._drain_from, self._drain_window
        while True:
            quiet_at = max(started, self._client.last_input_at) + window
            now = time.monotonic()
            if now >= quiet_at or now - started >= _DRAIN_LIMIT * max(window, 0.25):
                break
            await asyncio.sleep(quiet_at - now)
        self._drain_from = None
        self._client.stray_bytes = 0

    async def _pace(self, device_id: int) -> None:
        """Wait until the line may carry the next request: drained, then idle for t3.5."""
        gap = self.inter_frame_delay
        if self._last_device is not None and device_id != self._last_device:
            gap += self.device_switch_delay
        for _ in range(2):  # a line that never falls silent gets the request anyway
            await self._drain()
            await _sleep_until(max(self._last_io, self._client.last_input_at) + gap)
            if not self._client.stray_bytes:
                return  # nothing arrived while we waited: the line is ours

    async def _ensure_connected(self) -> None:
        if self._client.connected:
            return
        now = self._clock()
        if now < self._reconnect_at:
            raise ModbusConnectionError(
                f"{self.settings.port} is unavailable (next attempt in "
                f"{self._reconnect_at - now:.1f} s)"
            )
        try:
            await self._client.connect()
        except ModbusConnectionError:
            self._reconnect_at = self._clock() + self.reconnect_delay
            raise

    async def _transact(
        self,
        device_id: int,
        function_code: int,
        address: int,
        count: int,
        *,
        retries: int,
        response_timeout: float,
        outcome: _Outcome | None = None,
    ) -> list[int]:
        """One register read (FC03/FC04) under the bus lock, with retries."""

        def call(timeout: float) -> Awaitable[list[int]]:
            return self._client.read_registers(
                device_id, function_code, address, count, response_timeout=timeout
            )

        return await self._run(
            device_id,
            call,
            count,
            retries=retries,
            response_timeout=response_timeout,
            outcome=outcome,
        )

    async def _run[T](
        self,
        device_id: int,
        call: Callable[[float], Awaitable[T]],
        count: int,
        *,
        retries: int,
        response_timeout: float,
        outcome: _Outcome | None = None,
    ) -> T:
        """Any transaction under the bus lock: paced, retried, drained after a failure."""
        async with self._lock:
            await self._ensure_connected()
            last: ModbusNoResponse | None = None
            for _attempt in range(retries + 1):
                await self._pace(device_id)
                self.requests_sent += 1
                if outcome is not None:
                    outcome.requests += 1
                self._last_timeout = response_timeout
                started = time.monotonic()
                try:
                    result = await call(response_timeout)
                except ModbusNoResponse as exc:
                    # Whatever answers now may be the late answer to this request: the next
                    # request (the retry too) waits until the line has drained.
                    last = exc
                    self._start_drain(response_timeout)
                    continue
                finally:
                    self._last_io = time.monotonic()
                    self._last_device = device_id
                self._learn_reaction(device_id, self._last_io - started, count)
                return result
            assert last is not None
            raise last

    async def read_registers(
        self,
        device_id: int,
        function_code: int,
        address: int,
        count: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per-attempt response timeout
        retries: int | None = None,
    ) -> list[int]:
        """A raw register read through the bus (serialised, paced; no back-off bookkeeping)."""
        _check_device_id(device_id)
        return await self._transact(
            device_id,
            function_code,
            address,
            count,
            retries=self.retries if retries is None else retries,
            response_timeout=timeout or self._timeouts.get(device_id, self.timeout),
        )

    # -- reading devices ---------------------------------------------------------------
    async def read_device(
        self,
        device_id: int,
        profile: Profile,
        keys: Iterable[str] | None = None,
        group: PollGroup | None = None,
        *,
        max_gap: int | None = None,
    ) -> DeviceReading:
        """Read ``keys`` (every value if None; only ``group``'s if given) in the cheapest reads.

        By default the plan is the cheapest for this line and the device's measured reaction
        time (:meth:`request_cost`); with ``max_gap``, the fewest reads that read across at most
        that many unused registers.

        Never raises for device or line failures: failed values are None and the reason is
        in ``errors``. Unknown keys raise KeyError (a caller bug).
        """
        _check_device_id(device_id)
        wanted_keys = list(keys) if keys is not None else None
        point_keys, io_keys = _split_keys(profile, wanted_keys)
        plan: list[ReadRequest | IoRead] = list(
            self._plan(profile, point_keys, group, max_gap, device_id)
        )
        if group in (None, "io") and (io_keys is None or io_keys):
            plan += plan_io_reads(profile, io_keys)
        out_keys = _output_keys(profile, wanted_keys, group)
        h = self._health.setdefault(device_id, _Health())
        if h.state == "backed_off" and h.retry_at is not None and self._clock() < h.retry_at:
            failure = RequestFailure(
                function_code=0,
                address=0,
                count=0,
                kind="backed_off",
                message=f"device {device_id} not answering; next try in "
                f"{h.retry_at - self._clock():.1f} s",
            )
            return DeviceReading(
                device_id=device_id,
                profile_id=profile.id,
                values=dict.fromkeys(out_keys),
                requests=0,
                errors=(failure,),
                skipped=True,
            )
        probing = h.state == "backed_off"
        if probing:  # claim this period's single probe, so a concurrent reader skips
            h.retry_at = self._clock() + h.backoff
        timeout = self._timeouts.get(device_id, self.timeout)
        outcome = _Outcome()
        bits: dict[tuple[int, int], int] = {}
        if profile.init and (device_id, profile.id) not in self._initialised:
            try:
                await self._initialise(
                    device_id, profile, retries=0 if probing else None, outcome=outcome
                )
            except ModbusNoResponse as exc:
                self._mark_silent(device_id, str(exc))
                outcome.errors += [_failure(r, "no_response", str(exc)) for r in plan]
                plan = []
            except ModbusExceptionResponse as exc:
                self._mark_ok(device_id)
                outcome.errors.append(
                    RequestFailure(
                        function_code=exc.function_code,
                        address=0,
                        count=0,
                        kind="exception",
                        message=f"init: {exc}",
                    )
                )
            except ModbusConnectionError as exc:
                outcome.errors += [_failure(r, "connection", str(exc)) for r in plan]
                plan = []
            probing = False
        for index, request in enumerate(plan):
            try:
                if isinstance(request, IoRead):
                    words = await self._read_io(device_id, request, timeout, probing, outcome)
                else:
                    words = await self._transact(
                        device_id,
                        request.function_code,
                        request.address,
                        request.count,
                        retries=0 if probing else self.retries,
                        response_timeout=timeout,
                        outcome=outcome,
                    )
            except ModbusNoResponse as exc:
                self._mark_silent(device_id, str(exc))
                for skipped in plan[index:]:
                    outcome.errors.append(_failure(skipped, "no_response", str(exc)))
                break
            except ModbusExceptionResponse as exc:
                self._mark_ok(device_id)
                outcome.errors.append(_failure(request, "exception", str(exc)))
            except ModbusConnectionError as exc:
                for skipped in plan[index:]:
                    outcome.errors.append(_failure(skipped, "connection", str(exc)))
                break
            else:
                self._mark_ok(device_id)
                target = bits if isinstance(request, IoRead) else outcome.registers
                for offset, word in enumerate(words):
                    target[(request.function_code, request.address + offset)] = word
            probing = False
        values = _decode(resolve_keys(profile, point_keys), outcome.registers)
        values.update(_decode_io(profile.io, bits))
        return DeviceReading(
            device_id=device_id,
            profile_id=profile.id,
            values={key: values.get(key) for key in out_keys},
            requests=outcome.requests,
            errors=tuple(outcome.errors),
        )

    async def _read_io(
        self, device_id: int, request: IoRead, wait: float, probing: bool, outcome: _Outcome
    ) -> list[int]:
        """One read of relay/input states: bits as 0/1, registers as words."""
        fc, address, count = request.function_code, request.address, request.count
        if fc in (1, 2):

            def call(left: float) -> Awaitable[list[bool]]:
                return self._client.read_bits(device_id, fc, address, count, response_timeout=left)

            states = await self._run(
                device_id,
                call,
                (count + 15) // 16,
                retries=0 if probing else self.retries,
                response_timeout=wait,
                outcome=outcome,
            )
            return [int(state) for state in states]
        return await self._transact(
            device_id,
            fc,
            address,
            count,
            retries=0 if probing else self.retries,
            response_timeout=wait,
            outcome=outcome,
        )

    # -- writing -----------------------------------------------------------------------
    async def _send_write(
        self,
        device_id: int,
        request: bytes,
        *,
        retries: int | None = None,
        outcome: _Outcome | None = None,
    ) -> None:
        def call(wait: float) -> Awaitable[None]:
            return self._client.write(request, response_timeout=wait)

        await self._run(
            device_id,
            call,
            0,
            retries=self.retries if retries is None else retries,
            response_timeout=self._timeouts.get(device_id, self.timeout),
            outcome=outcome,
        )

    async def _initialise(
        self,
        device_id: int,
        profile: Profile,
        *,
        retries: int | None = None,
        outcome: _Outcome | None = None,
    ) -> None:
        """Send the profile's ``init`` writes (once per device, until it goes silent)."""
        for write in profile.init:
            await self._send_write(
                device_id, _init_request(device_id, write), retries=retries, outcome=outcome
            )
        self._initialised.add((device_id, profile.id))

    async def write_point(self, device_id: int, profile: Profile, key: str, value: bool) -> bool:
        """Switch a relay, read its state back and return the read-back state.

        The profile's ``init`` writes go first on first contact. Raises
        :class:`ModbusWriteError` when the device does not answer or refuses (exception), and
        :class:`ModbusReadBackMismatch` when the state read back is not ``value``;
        ModbusConnectionError if the line is gone; KeyError/ValueError for a key that is not a
        relay of the profile.
        """
        _check_device_id(device_id)
        point = profile.io_point(key)
        if point.write is None:
            raise ValueError(f"{profile.id}: {key} is an input, not a relay")
        if not isinstance(value, bool):
            raise ValueError(f"{key} takes on/off (True/False), not {value!r}")
        try:
            if profile.init and (device_id, profile.id) not in self._initialised:
                await self._initialise(device_id, profile)
            await self._send_write(device_id, _relay_request(device_id, point, value))
            self._mark_ok(device_id)
            (read,) = plan_io_reads(profile, [key])
            timeout = self._timeouts.get(device_id, self.timeout)
            words = await self._read_io(device_id, read, timeout, False, _Outcome())
        except ModbusNoResponse as exc:
            self._mark_silent(device_id, str(exc))
            raise ModbusWriteError(device_id, key, "no_response", _reason(exc)) from exc
        except ModbusExceptionResponse as exc:
            self._mark_ok(device_id)
            raise ModbusWriteError(device_id, key, "exception", _reason(exc)) from exc
        state = point.read.state(words[point.read.address - read.address])
        if state is not value:
            raise ModbusReadBackMismatch(device_id, key, value, state)
        return state

    def _plan(
        self,
        profile: Profile,
        keys: list[str] | None,
        group: PollGroup | None,
        max_gap: int | None,
        device_id: int,
    ) -> list[ReadRequest]:
        """The plan for one read, cached: the exact split takes a millisecond of idle line."""
        # Rounding the request cost to a quarter register costs at most an eighth of a
        # register per read, and keeps the cache small while reaction times wander.
        cost = None if max_gap is not None else round(4 * self.request_cost(device_id)) / 4
        key = (profile, None if keys is None else tuple(keys), group, max_gap, cost)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = plan_reads(profile, keys, group=group, max_gap=max_gap, request_cost=cost)
            self._plans[key] = plan
        return plan

    # -- discovery ---------------------------------------------------------------------
    async def scan(
        self,
        addresses: Iterable[int],
        catalogue: ProfileCatalogue | Iterable[Profile],
        *,
        timeout: float = 0.1,  # noqa: ASYNC109 - per-address response timeout
    ) -> list[ScanHit]:
        """Find answering device ids and suggest a profile from each profile's probe registers.

        Each address costs one short request when nobody answers; a device that answers
        (even with an exception) is then asked the other probe registers.
        """
        profiles = [p for p in catalogue if p.probes]
        reads: list[tuple[int, int, int]] = []
        for profile in profiles:
            for probe in profile.probes:
                key = (probe.function_code, probe.address, probe.width)
                if key not in reads:
                    reads.append(key)
        if not reads:
            reads.append((3, 0, 1))
        hits: list[ScanHit] = []
        for device_id in addresses:
            _check_device_id(device_id)
            answers: dict[tuple[int, int, int], list[int] | None] = {}
            present = False
            for read in reads:
                # The short timeout only decides whether anyone is there; a device that
                # answered gets the bus's normal timeout for its other probe registers.
                wait = max(timeout, self.timeout) if present else timeout
                try:
                    answers[read] = await self._transact(
                        device_id, read[0], read[1], read[2], retries=0, response_timeout=wait
                    )
                    present = True
                except ModbusExceptionResponse:
                    answers[read] = None
                    present = True
                except ModbusNoResponse:
                    answers[read] = None
                    if not present:
                        break
            if not present:
                continue
            candidates = [
                p for p in profiles if all(_probe_matches(pr, answers) for pr in p.probes)
            ]
            candidates.sort(key=lambda p: (-len(p.probes), p.id))
            best = None
            if candidates and (
                len(candidates) == 1 or len(candidates[0].probes) > len(candidates[1].probes)
            ):
                best = candidates[0].id
            hits.append(
                ScanHit(
                    device_id=device_id,
                    suggested_profile_id=best,
                    candidates=tuple(p.id for p in candidates),
                )
            )
        return hits


async def _sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``, to a fraction of a millisecond.

    The event loop's timers wake up to a millisecond late (epoll counts whole milliseconds);
    t3.5 is 1.75 – 4 ms, so the last stretch is spent yielding to the loop instead.
    """
    wait = deadline - time.monotonic()
    if wait > _TIMER_SLACK:
        await asyncio.sleep(wait - _TIMER_SLACK)
    while time.monotonic() < deadline:  # noqa: ASYNC110 - finer than the loop's timers
        await asyncio.sleep(0)


def _check_device_id(device_id: int) -> None:
    if not 1 <= device_id <= 247:
        raise ValueError(f"device id must be 1..247, not {device_id}")


def _failure(request: ReadRequest | IoRead, kind: FailureKind, message: str) -> RequestFailure:
    return RequestFailure(
        function_code=request.function_code,
        address=request.address,
        count=request.count,
        kind=kind,
        message=message,
    )


def _probe_matches(probe: Probe, answers: Mapping[tuple[int, int, int], list[int] | None]) -> bool:
    registers = answers.get((probe.function_code, probe.address, probe.width))
    if registers is None:
        return False
    value = decode_raw(probe.type, probe.word_order, registers)
    if isinstance(value, float) and math.isnan(value):
        return False
    return probe.matches(value)


def _output_keys(profile: Profile, keys: list[str] | None, group: PollGroup | None) -> list[str]:
    wanted = set(keys) if keys is not None else None
    out: list[str] = []
    for point in profile.points:
        if group is not None and point.group != group:
            continue
        for key in (point.key, *(bit.key for bit in point.bits)):
            if wanted is None or key in wanted:
                out.append(key)
    if group in (None, "io"):  # relays and inputs have their own, faster group
        out += [io.key for io in profile.io if wanted is None or io.key in wanted]
    return out


def _reason(exc: ModbusDeviceError) -> str:
    """The message of a device error without its "device N: " prefix."""
    return str(exc).removeprefix(f"device {exc.device_id}: ")


def _split_keys(
    profile: Profile, keys: list[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """Wanted keys → (register point keys, relay/input keys); None = all of them."""
    if keys is None:
        return None, None
    io = {point.key for point in profile.io}
    return [k for k in keys if k not in io], [k for k in keys if k in io]


def _decode_io(points: Iterable[IoPoint], raw: Mapping[tuple[int, int], int]) -> dict[str, Value]:
    """Relay/input states from bits (FC01/FC02, 0/1) and register words (FC03/FC04)."""
    values: dict[str, Value] = {}
    for point in points:
        word = raw.get((point.read.function_code, point.read.address))
        values[point.key] = None if word is None else point.read.state(word)
    return values


def _relay_request(device_id: int, point: IoPoint, on: bool) -> bytes:
    write = point.write
    assert write is not None
    if write.function_code == 5:
        return write_coil_request(device_id, write.address, on)
    if write.function_code == 15:
        return write_coils_request(device_id, write.address, [on])
    value = write.on if on else write.off
    if write.function_code == 6:
        return write_register_request(device_id, write.address, value)
    return write_registers_request(device_id, write.address, [value])


def _init_request(device_id: int, write: InitWrite) -> bytes:
    if write.function_code == 6:
        return write_register_request(device_id, write.address, write.values[0])
    return write_registers_request(device_id, write.address, list(write.values))


def _decode(points: Iterable[Point], registers: Mapping[tuple[int, int], int]) -> dict[str, Value]:
    values: dict[str, Value] = {}
    ordered = sorted(points, key=lambda p: p.scale_by is not None)
    for point in ordered:
        words = [
            registers.get((point.function_code, point.address + i)) for i in range(point.width)
        ]
        if any(w is None for w in words):
            values[point.key] = None
            values.update(dict.fromkeys((b.key for b in point.bits), None))
            continue
        factors: dict[str, Number | None] = {}
        if point.scale_by is not None:
            ref = values.get(point.scale_by)
            factors[point.scale_by] = ref if isinstance(ref, int | float) else None
        values.update(decode_point(point, [w for w in words if w is not None], factors))
    return values
