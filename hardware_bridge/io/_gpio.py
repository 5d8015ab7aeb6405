"""Linux GPIO for the terminal's inputs (IN1/IN2) and relays (C1/C2).

:class:`GpioBackend` requests every configured line once, for the life of the process (the
kernel keeps an output's value only while its request is open), and exposes:

* :class:`GpioRelay` — a :class:`~hardware_bridge.io.Relay`: writes are read back.
* :class:`GpioInput` — the logical level and since when; edges arrive from the kernel (its
  debouncer waits for the line to be stable ``debounce`` long, adding that latency) and are
  read in the event loop through ``loop.add_reader`` on the request's descriptor.

After each batch of edges the levels are read again: if the kernel's event buffer overflowed
and an edge was lost, the level read wins and an event is made for it (at the read time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hardware_bridge.io._gpio_chip import (
    Bias,
    Drive,
    GpioChip,
    GpioError,
    GpioLines,
    LineSetup,
    RawEdge,
)
from hardware_bridge.io._inputs import InputEvent, InputState
from hardware_bridge.io._relay import RelayError

__all__ = [
    "GpioBackend",
    "GpioConfig",
    "GpioConfigError",
    "GpioInput",
    "GpioInputConfig",
    "GpioRelay",
    "GpioRelayConfig",
]

_LOGGER = logging.getLogger(__name__)

MAX_DEBOUNCE = timedelta(seconds=10)
"""Longest kernel debounce accepted (the kernel stores microseconds; contacts need ms)."""


class GpioConfigError(ValueError):
    """A GPIO configuration is invalid; the message names the line and field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GpioInputConfig:
    """A dry-contact input. With a contact to ground: ``bias=PULL_UP``, ``active_low=True``
    (the input reads active while the contact is closed)."""

    name: str
    offset: int
    active_low: bool = True
    bias: Bias = Bias.PULL_UP
    debounce: timedelta = timedelta(milliseconds=50)


@dataclass(frozen=True, slots=True, kw_only=True)
class GpioRelayConfig:
    """A relay driven by an output line (through a driver transistor or relay module)."""

    name: str
    offset: int
    active_low: bool = False
    drive: Drive = Drive.PUSH_PULL
    initial_on: bool = False
    """State driven when the line is requested (normally off)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GpioConfig:
    """The chip and its lines, e.g. IN1/IN2 and C1/C2 on ``/dev/gpiochip0``."""

    chip: str = "/dev/gpiochip0"
    consumer: str = "smartpower"
    inputs: tuple[GpioInputConfig, ...] = ()
    relays: tuple[GpioRelayConfig, ...] = ()

    def __post_init__(self) -> None:
        names: set[str] = set()
        offsets: dict[int, str] = {}
        lines: list[GpioInputConfig | GpioRelayConfig] = [*self.inputs, *self.relays]
        for line in lines:
            kind = "input" if isinstance(line, GpioInputConfig) else "relay"
            where = f"{self.chip}: {kind} {line.name!r}"
            if not line.name or not line.name.isidentifier():
                raise GpioConfigError(
                    f"{self.chip}: {kind} name must be a short key like 'in1', not {line.name!r}"
                )
            if line.name in names:
                raise GpioConfigError(f"{where}: name used twice")
            names.add(line.name)
            if line.offset < 0:
                raise GpioConfigError(f"{where}: offset must be >= 0, not {line.offset}")
            if line.offset in offsets:
                raise GpioConfigError(
                    f"{where}: offset {line.offset} is already {offsets[line.offset]!r}"
                )
            offsets[line.offset] = line.name
            if isinstance(line, GpioInputConfig) and not (
                timedelta() <= line.debounce <= MAX_DEBOUNCE
            ):
                raise GpioConfigError(
                    f"{where}: debounce must be 0..{MAX_DEBOUNCE.total_seconds():g} s, "
                    f"not {line.debounce.total_seconds():g} s"
                )

    def line_setups(self) -> list[LineSetup]:
        """What to request from the chip."""
        return [
            *(
                LineSetup(
                    offset=line.offset,
                    output=False,
                    active_low=line.active_low,
                    bias=line.bias,
                    debounce=line.debounce,
                    edges=True,
                )
                for line in self.inputs
            ),
            *(
                LineSetup(
                    offset=line.offset,
                    output=True,
                    active_low=line.active_low,
                    drive=line.drive,
                    initial=line.initial_on,
                )
                for line in self.relays
            ),
        ]


class GpioRelay:
    """A relay on an output line; implements :class:`~hardware_bridge.io.Relay`."""

    def __init__(self, backend: GpioBackend, config: GpioRelayConfig) -> None:
        self._backend = backend
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    async def read(self) -> bool:
        try:
            return self._backend.lines.get(self.config.offset)
        except GpioError as err:
            raise RelayError(self.name, f"cannot read: {err}") from err

    async def write(self, on: bool) -> None:
        try:
            lines = self._backend.lines
            lines.set(self.config.offset, on)
            back = lines.get(self.config.offset)
        except GpioError as err:
            raise RelayError(self.name, f"cannot switch {_word(on)}: {err}") from err
        if back != on:
            raise RelayError(self.name, f"read back {_word(back)} after switching {_word(on)}")


class GpioInput:
    """An input line: its level (logical, after ``active_low``) and since when."""

    def __init__(self, config: GpioInputConfig) -> None:
        self.config = config
        self._state = InputState(active=None)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> InputState:
        return self._state

    def _apply(self, active: bool, at: datetime) -> InputEvent | None:
        known = self._state.active is not None
        if self._state.active == active:
            return None
        self._state = InputState(active=active, since=at if known else None)
        return InputEvent(input=self.name, active=active, at=at) if known else None


class GpioBackend:
    """Owns the GPIO line request; opened with :meth:`open`, closed with :meth:`close`."""

    def __init__(
        self,
        config: GpioConfig,
        chip: GpioChip | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if chip is None:
            from hardware_bridge.io._gpiod_chip import GpiodChip  # noqa: PLC0415 - optional

            chip = GpiodChip(config.chip)
        self.config = config
        self._chip = chip
        self._now = now or (lambda: datetime.now(UTC))
        self._lines: GpioLines | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[InputEvent], None]] = []
        self._failure_listeners: list[Callable[[GpioError], None]] = []
        self.inputs: dict[str, GpioInput] = {c.name: GpioInput(c) for c in config.inputs}
        self.relays: dict[str, GpioRelay] = {c.name: GpioRelay(self, c) for c in config.relays}
        self._by_offset = {c.offset: self.inputs[c.name] for c in config.inputs}

    @property
    def lines(self) -> GpioLines:
        if self._lines is None:
            raise GpioError(f"{self._chip.path}: lines are not requested (backend not open)")
        return self._lines

    def subscribe(self, listener: Callable[[InputEvent], None]) -> Callable[[], None]:
        """Call ``listener`` with every input change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def subscribe_failure(self, listener: Callable[[GpioError], None]) -> Callable[[], None]:
        """Call ``listener`` when the inputs can no longer be watched (they turn unknown)."""
        self._failure_listeners.append(listener)
        return lambda: self._failure_listeners.remove(listener)

    async def open(self) -> None:
        """Request the lines, read the inputs' levels and start watching their edges."""
        if self._lines is not None:
            return
        # opening the chip's device file blocks: not in the event loop
        loop = asyncio.get_running_loop()
        self._lines = await loop.run_in_executor(
            None, self._chip.request, self.config.consumer, self.config.line_setups()
        )
        at = self._now()
        try:
            for gpio_input in self.inputs.values():
                gpio_input._apply(self._lines.get(gpio_input.config.offset), at)
        except GpioError:
            self._release()
            raise
        if self.inputs:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._lines.fd, self._on_readable)

    async def close(self) -> None:
        self._release()

    async def __aenter__(self) -> GpioBackend:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _release(self) -> None:
        lines, self._lines = self._lines, None
        if lines is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(lines.fd)
            self._loop = None
        lines.release()
        for gpio_input in self.inputs.values():
            gpio_input._state = InputState(active=None)

    def _on_readable(self) -> None:
        lines = self._lines
        if lines is None:
            return
        try:
            edges = lines.read_edges()
            events = [e for e in map(self._edge_event, edges) if e is not None]
            at = self._now()
            for gpio_input in self.inputs.values():  # an edge lost in an overflow
                event = gpio_input._apply(lines.get(gpio_input.config.offset), at)
                if event is not None:
                    events.append(event)
        except GpioError as err:
            # The inputs can no longer be watched: say so once and report them unknown
            # rather than keep their last levels as if they were still true.
            _LOGGER.warning("%s; inputs are unknown until the GPIO backend is reopened", err)
            if self._loop is not None:
                self._loop.remove_reader(lines.fd)
                self._loop = None
            for gpio_input in self.inputs.values():
                gpio_input._state = InputState(active=None)
            for failure_listener in list(self._failure_listeners):
                failure_listener(err)
            return
        for event in events:
            for listener in list(self._listeners):
                listener(event)

    def _edge_event(self, edge: RawEdge) -> InputEvent | None:
        gpio_input = self._by_offset.get(edge.offset)
        if gpio_input is None:
            return None
        at = datetime.fromtimestamp(edge.timestamp_ns / 1e9, UTC)
        return gpio_input._apply(edge.active, at)


def _word(on: bool) -> str:
    return "on" if on else "off"
