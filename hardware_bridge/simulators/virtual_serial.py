"""Virtual serial lines made of pseudo-terminals, so real client code runs unchanged.

Two shapes:

* :class:`VirtualSerialPort` — one pty. The client opens :attr:`path` like any serial
  port; the simulator reads and writes the pty master directly (asyncio).
* :class:`VirtualSerialLink` — two ptys joined by a byte pump. Both sides open a path
  (``device_path`` for a simulator that insists on opening a port itself, such as
  pymodbus's server; ``client_path`` for the client). An optional tap per direction can
  drop, delay-free corrupt or rewrite what crosses the line, to inject faults.

ptys carry bytes instantly whatever baud rate the ends set; timing faults are injected by
the simulators, not emulated by the line. Linux ptys accept parity or 7-bit characters when
a port is opened but refuse (EINVAL) any later reconfiguration of such a port, which
pyserial does right after opening: open virtual ports 8N1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import termios
import time
import tty
from collections.abc import Callable
from typing import Literal, Self

__all__ = ["Direction", "Tap", "VirtualSerialLink", "VirtualSerialPort"]

type Direction = Literal["to_device", "to_client"]
type Tap = Callable[[bytes], bytes]
"""Rewrites a chunk crossing the link; return b"" to drop it."""


def _open_raw_pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


FULL_BUFFER_WAIT = 2.0
"""Seconds a write waits for a client that does not read before the rest is lost (as a UART
without flow control overruns the receiver's buffer)."""


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to a non-blocking ``fd``; while the buffer is full wait for room, for
    at most :data:`FULL_BUFFER_WAIT` in all, then drop the rest (never spin)."""
    view = memoryview(data)
    deadline = time.monotonic() + FULL_BUFFER_WAIT
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            select.select([], [fd], [], remaining)


class VirtualSerialPort:
    """One pty: the client opens :attr:`path`, the simulator talks on the master side."""

    def __init__(self) -> None:
        self._master, self._slave, self.path = _open_raw_pty()
        self._buffer = bytearray()
        self._data = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def start(self) -> None:
        """Start receiving; call from the event loop that serves the simulator."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buffer += chunk
            self._data.set()

    async def read(self, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """Return what arrived since the last read, waiting for at least one byte."""
        if not self._buffer:
            self._data.clear()
            if timeout is None:
                await self._data.wait()
            else:
                # A timer wakes the wait instead of a timeout around it: a cancel that comes
                # with the timer is never taken for the timeout (and lost).
                wake = asyncio.get_running_loop().call_later(timeout, self._data.set)
                try:
                    await self._data.wait()
                finally:
                    wake.cancel()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def write(self, data: bytes) -> None:
        """Send bytes to the client (whole, waiting briefly if the pty buffer is full)."""
        _write_all(self._master, data)

    def client_settings(self) -> tuple[int, int]:
        """(input baud, output baud) the client last configured on its end."""
        attrs = termios.tcgetattr(self._slave)
        return attrs[4], attrs[5]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class VirtualSerialLink:
    """Two ptys joined by a pump: a null-modem cable with an optional fault tap."""

    def __init__(self) -> None:
        self._dev_master, self._dev_slave, self.device_path = _open_raw_pty()
        self._cli_master, self._cli_slave, self.client_path = _open_raw_pty()
        self.taps: dict[Direction, Tap | None] = {"to_device": None, "to_client": None}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def start(self) -> None:
        """Start pumping bytes; call from the event loop that serves the simulator."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(
            self._cli_master, self._pump, self._cli_master, self._dev_master, "to_device"
        )
        self._loop.add_reader(
            self._dev_master, self._pump, self._dev_master, self._cli_master, "to_client"
        )

    def _pump(self, src: int, dst: int, direction: Direction) -> None:
        try:
            chunk = os.read(src, 4096)
        except (BlockingIOError, OSError):
            return
        tap = self.taps[direction]
        if tap is not None:
            chunk = tap(chunk)
        with contextlib.suppress(OSError):
            _write_all(dst, chunk)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._cli_master)
            self._loop.remove_reader(self._dev_master)
        for fd in (self._dev_master, self._dev_slave, self._cli_master, self._cli_slave):
            os.close(fd)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
