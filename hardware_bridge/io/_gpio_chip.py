"""The narrow interface between the GPIO backend and a GPIO chip.

:class:`GpioChip` requests lines and returns :class:`GpioLines`: read and drive logical values
by offset, read edge events, and a file descriptor that polls readable when edges are waiting.
The real implementation over libgpiod v2 is :class:`~hardware_bridge.io.GpiodChip`; tests
use an in-memory chip. Values are *logical*: the kernel applies ``active_low`` to reads,
writes and edge directions alike.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

__all__ = ["Bias", "Drive", "GpioChip", "GpioError", "GpioLines", "LineSetup", "RawEdge"]


class GpioError(Exception):
    """A GPIO chip or line could not be opened, requested, read or driven (message says which)."""


class Bias(enum.StrEnum):
    """Internal pull resistor of an input line."""

    AS_IS = "as_is"
    PULL_UP = "pull_up"
    PULL_DOWN = "pull_down"
    DISABLED = "disabled"


class Drive(enum.StrEnum):
    """Output stage of an output line."""

    PUSH_PULL = "push_pull"
    OPEN_DRAIN = "open_drain"
    OPEN_SOURCE = "open_source"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSetup:
    """How one line is requested."""

    offset: int
    output: bool
    active_low: bool = False
    bias: Bias = Bias.AS_IS
    drive: Drive = Drive.PUSH_PULL
    debounce: timedelta = timedelta()
    """Kernel debounce (inputs); edges are reported once the line was stable this long."""
    edges: bool = False
    """Report both edges (inputs)."""
    initial: bool = False
    """Logical value driven from the moment of the request (outputs)."""


@dataclass(frozen=True, slots=True)
class RawEdge:
    """An edge as the chip reports it: line, new logical level, realtime stamp in ns."""

    offset: int
    active: bool
    timestamp_ns: int


class GpioLines(Protocol):
    """Requested lines (held exclusively until :meth:`release`)."""

    @property
    def fd(self) -> int:
        """Pollable descriptor: readable while edge events are waiting."""
        ...

    def get(self, offset: int) -> bool:
        """Logical value of a line (for an output: the value it drives)."""
        ...

    def set(self, offset: int, active: bool) -> None:
        """Drive an output line."""
        ...

    def read_edges(self) -> list[RawEdge]:
        """The waiting edge events (call only when :attr:`fd` is readable)."""
        ...

    def release(self) -> None:
        """Give the lines back to the kernel (outputs may revert to their default)."""
        ...


class GpioChip(Protocol):
    """A GPIO chip that can grant lines."""

    @property
    def path(self) -> str:
        """The chip's device path (for messages)."""
        ...

    def request(self, consumer: str, lines: Sequence[LineSetup]) -> GpioLines:
        """Request ``lines`` exclusively; :class:`GpioError` naming the chip and line if not."""
        ...
