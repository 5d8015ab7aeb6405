""":class:`GpioChip` over libgpiod v2 (PyPI ``gpiod`` >= 2.1), imported only when used.

``gpiod`` is an optional dependency (``pip install 'smartpower-hardware-bridge[gpio]'``): a
machine without GPIO never needs it, and a missing package is one clear error, not an
ImportError at start-up. The deprecated pure-Python ``gpiod`` 1.x has another API and is
refused by name.

Edges are time-stamped on the realtime clock so their stamps are wall times. The bindings are
not thread-safe: every call is made from the event loop's thread (each is one short ioctl).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from types import ModuleType
from typing import TYPE_CHECKING

from hardware_bridge.io._gpio_chip import Bias, Drive, GpioError, GpioLines, LineSetup, RawEdge

if TYPE_CHECKING:
    import gpiod

__all__ = ["GpiodChip", "GpiodMissingError", "load_gpiod"]

_INSTALL_HINT = "pip install 'smartpower-hardware-bridge[gpio]' (or: pip install 'gpiod>=2.1')"


class GpiodMissingError(GpioError):
    """The ``gpiod`` package (libgpiod v2 Python bindings) is not installed, or is too old."""


def load_gpiod() -> ModuleType:
    """The ``gpiod`` module, or :class:`GpiodMissingError` saying how to install it."""
    try:
        import gpiod  # noqa: PLC0415 - optional dependency, only for GPIO users
    except ImportError as err:
        raise GpiodMissingError(
            f"GPIO needs the 'gpiod' package (libgpiod v2 bindings): {_INSTALL_HINT}"
        ) from err
    if not hasattr(gpiod, "request_lines") or not hasattr(gpiod, "LineSettings"):
        version = getattr(gpiod, "__version__", "unknown")
        raise GpiodMissingError(
            f"the installed 'gpiod' ({version}) is not libgpiod v2 (needs >= 2.1): {_INSTALL_HINT}"
        )
    return gpiod


class GpiodChip:
    """A chip such as ``/dev/gpiochip0``, opened through libgpiod when lines are requested."""

    def __init__(self, path: str) -> None:
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def request(self, consumer: str, lines: Sequence[LineSetup]) -> GpioLines:
        lib = load_gpiod()
        if not os.path.exists(self._path):
            raise GpioError(f"{self._path}: no such GPIO chip (see ls /dev/gpiochip*)")
        if not lib.is_gpiochip_device(self._path):
            raise GpioError(f"{self._path}: not a GPIO character device")
        config: dict[int, gpiod.LineSettings] = {line.offset: _settings(line) for line in lines}
        try:
            with lib.Chip(self._path) as chip:
                for line in lines:
                    info = chip.get_line_info(line.offset)
                    if info.used:
                        raise GpioError(
                            f"{self._path}: line {line.offset} is already used by "
                            f"{info.consumer or 'another program'!r}"
                        )
                request = chip.request_lines(config=config, consumer=consumer)
        except (OSError, ValueError) as err:
            offsets = ", ".join(str(line.offset) for line in lines)
            raise GpioError(f"{self._path}: cannot request lines {offsets}: {err}") from err
        return _GpiodLines(self._path, request)


def _settings(line: LineSetup) -> gpiod.LineSettings:
    from gpiod import LineSettings  # noqa: PLC0415 - optional dependency
    from gpiod.line import Bias as GBias  # noqa: PLC0415
    from gpiod.line import Clock, Direction, Edge, Value  # noqa: PLC0415
    from gpiod.line import Drive as GDrive  # noqa: PLC0415

    bias = {
        Bias.AS_IS: GBias.AS_IS,
        Bias.PULL_UP: GBias.PULL_UP,
        Bias.PULL_DOWN: GBias.PULL_DOWN,
        Bias.DISABLED: GBias.DISABLED,
    }[line.bias]
    if line.output:
        drive = {
            Drive.PUSH_PULL: GDrive.PUSH_PULL,
            Drive.OPEN_DRAIN: GDrive.OPEN_DRAIN,
            Drive.OPEN_SOURCE: GDrive.OPEN_SOURCE,
        }[line.drive]
        return LineSettings(
            direction=Direction.OUTPUT,
            active_low=line.active_low,
            bias=bias,
            drive=drive,
            output_value=Value.ACTIVE if line.initial else Value.INACTIVE,
        )
    return LineSettings(
        direction=Direction.INPUT,
        active_low=line.active_low,
        bias=bias,
        edge_detection=Edge.BOTH if line.edges else Edge.NONE,
        debounce_period=line.debounce if line.debounce > timedelta() else timedelta(),
        event_clock=Clock.REALTIME,
    )


class _GpiodLines:
    """:class:`GpioLines` over a ``gpiod.LineRequest``."""

    def __init__(self, path: str, request: gpiod.LineRequest) -> None:
        self._path = path
        self._request = request

    @property
    def fd(self) -> int:
        return self._request.fd

    def get(self, offset: int) -> bool:
        from gpiod.line import Value  # noqa: PLC0415 - optional dependency

        try:
            return self._request.get_value(offset) == Value.ACTIVE
        except OSError as err:
            raise GpioError(f"{self._path}: cannot read line {offset}: {err}") from err

    def set(self, offset: int, active: bool) -> None:
        from gpiod.line import Value  # noqa: PLC0415 - optional dependency

        try:
            self._request.set_value(offset, Value.ACTIVE if active else Value.INACTIVE)
        except OSError as err:
            raise GpioError(f"{self._path}: cannot drive line {offset}: {err}") from err

    def read_edges(self) -> list[RawEdge]:
        from gpiod import EdgeEvent  # noqa: PLC0415 - optional dependency

        try:
            events = self._request.read_edge_events()
        except OSError as err:
            raise GpioError(f"{self._path}: cannot read edge events: {err}") from err
        return [
            RawEdge(
                offset=event.line_offset,
                active=event.event_type is EdgeEvent.Type.RISING_EDGE,
                timestamp_ns=event.timestamp_ns,
            )
            for event in events
        ]

    def release(self) -> None:
        self._request.release()
