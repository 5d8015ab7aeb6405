"""Sans-I/O framing of what a meter sends (IEC 62056-21 clause 6.3).

Outside a data block the meter sends lines ending in CR LF (the identification, or echoes
of our own requests on optical heads and half-duplex RS-485). A data block is::

    STX data ETX BCC        (or EOT BCC for a partial block: ACK asks for the next one)
    SOH command [STX data] ETX BCC

BCC is the XOR of every byte after STX/SOH up to and including ETX/EOT. The BCC is one
byte of any value — it can be LF, ``!`` or a letter — so it is taken by position, never
searched for. Feed bytes with :meth:`Framer.receive_data` (``b""`` = end of stream) and
pull events with :meth:`Framer.next_event` until it returns :data:`NEED_DATA`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hardware_bridge.iec62056._errors import BccError, RemoteProtocolError
from hardware_bridge.iec62056._messages import EOT, ETX, SOH, STX, bcc

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "NEED_DATA",
    "DataBlock",
    "Framer",
    "FramerEvent",
    "Line",
    "Sentinel",
]

DEFAULT_MAX_FRAME_SIZE = 256 * 1024
DEFAULT_MAX_LINE_SIZE = 1024
_STRIP_PARITY = bytes(i & 0x7F for i in range(256))


class Sentinel(Enum):
    """Framer results that are not events."""

    NEED_DATA = "need data"
    CLOSED = "closed"


NEED_DATA = Sentinel.NEED_DATA
CLOSED = Sentinel.CLOSED


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """A line received outside a data block, without its CR LF (may hold stray bytes)."""

    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("latin-1")


@dataclass(frozen=True, slots=True, kw_only=True)
class DataBlock:
    """One STX- or SOH-started block.

    ``payload`` is what lies between the start byte and ETX/EOT. ``final`` is False for a
    partial block ended by EOT. ``bcc_ok`` says whether the received BCC matched.
    """

    start: bytes
    payload: bytes
    final: bool
    bcc_received: int
    bcc_ok: bool

    @property
    def text(self) -> str:
        return self.payload.decode("latin-1")

    @property
    def command(self) -> str | None:
        """For SOH messages: the command and its type (``P0``, ``B0``, ``R1`` …)."""
        if self.start != SOH:
            return None
        return self.payload.split(STX, 1)[0].decode("latin-1")

    @property
    def data(self) -> bytes:
        """The data part: after STX inside an SOH message, else the whole payload."""
        if self.start == SOH:
            parts = self.payload.split(STX, 1)
            return parts[1] if len(parts) == 2 else b""
        return self.payload


type FramerEvent = Line | DataBlock


class _State(Enum):
    OK = "ok"
    ERROR = "error"


class Framer:
    """Splits received bytes into :class:`Line` and :class:`DataBlock` events.

    ``strict_bcc``: a BCC mismatch raises :class:`BccError` (carrying the block); when
    False the block is returned with ``bcc_ok=False``. ``strip_parity`` clears bit 7 of every
    byte (transparent modems, or an 8N1 port reading a 7E1 meter). An unfinished block
    longer than ``max_frame_size`` (or a line longer than ``max_line_size``) is a
    :class:`RemoteProtocolError`. After any error the framer stays in error.

    ``lines_only``: STX and SOH do not start a block; everything is cut into lines. Use it
    while the identification is due — no block can come then, and one noise byte that reads
    as STX (``0x82`` with its parity bit stripped) would otherwise swallow the identification
    line into a block that never ends. Set the attribute back to False once it has arrived.
    """

    def __init__(
        self,
        *,
        strict_bcc: bool = True,
        strip_parity: bool = False,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        lines_only: bool = False,
    ) -> None:
        self.strict_bcc = strict_bcc
        self.strip_parity = strip_parity
        self.max_frame_size = max_frame_size
        self.max_line_size = max_line_size
        self._lines_only = lines_only
        self._buffer = bytearray()
        self._eof = False
        self._state = _State.OK
        self._searched = 0
        """Bytes of the buffer already searched for an end (so each byte is searched once)."""

    @property
    def buffered(self) -> bytes:
        """Bytes received and not yet turned into an event."""
        return bytes(self._buffer)

    @property
    def buffered_size(self) -> int:
        """How many bytes :attr:`buffered` holds (without copying them)."""
        return len(self._buffer)

    @property
    def lines_only(self) -> bool:
        return self._lines_only

    @lines_only.setter
    def lines_only(self, value: bool) -> None:
        self._lines_only = value
        self._searched = 0  # what was searched for LF alone was not searched for STX/SOH

    @property
    def in_error(self) -> bool:
        return self._state is _State.ERROR

    def receive_data(self, data: bytes) -> None:
        """Buffer ``data``; ``b""`` marks the end of the stream."""
        if not data:
            self._eof = True
            return
        if self.strip_parity:
            data = data.translate(_STRIP_PARITY)
        self._buffer += data

    def _fail(self, error: RemoteProtocolError) -> RemoteProtocolError:
        self._state = _State.ERROR
        return error

    def next_event(self) -> FramerEvent | Sentinel:
        """The next complete event, :data:`NEED_DATA`, or :data:`CLOSED` after end of stream."""
        if self._state is _State.ERROR:
            raise RemoteProtocolError("framer is in error after an earlier protocol error")
        buf = self._buffer
        if buf[:1] in (STX, SOH) and not self.lines_only:
            return self._block()
        marks = (0x0A,) if self.lines_only else (STX[0], SOH[0], 0x0A)
        start = _find_first(buf, marks, self._searched)
        if start is None:
            self._searched = len(buf)
            return self._incomplete_line()
        self._searched = 0
        if buf[start] == 0x0A:
            line = bytes(buf[:start]).rstrip(b"\r")
            del buf[: start + 1]
            return Line(data=line)
        # stray bytes before a block: hand them over as a line
        line = bytes(buf[:start])
        del buf[:start]
        return Line(data=line)

    def _incomplete_line(self) -> Line | Sentinel:
        if len(self._buffer) > self.max_line_size:
            raise self._fail(
                RemoteProtocolError(f"line longer than {self.max_line_size} bytes without CR LF")
            )
        if self._eof:
            if self._buffer:
                line = bytes(self._buffer).rstrip(b"\r")
                self._buffer.clear()
                self._searched = 0
                return Line(data=line)
            return CLOSED
        return NEED_DATA

    def _block(self) -> DataBlock | Sentinel:
        buf = self._buffer
        end = _find_first(buf, (ETX[0], EOT[0]), max(1, self._searched))
        if end is None or end + 1 >= len(buf):
            self._searched = len(buf) if end is None else end
            if len(buf) > self.max_frame_size:
                raise self._fail(
                    RemoteProtocolError(f"data block longer than {self.max_frame_size} bytes")
                )
            if self._eof:
                raise self._fail(RemoteProtocolError("stream ended inside a data block"))
            return NEED_DATA
        received = buf[end + 1]
        computed = bcc(buf[1 : end + 1])
        block = DataBlock(
            start=bytes(buf[:1]),
            payload=bytes(buf[1:end]),
            final=buf[end] == ETX[0],
            bcc_received=received,
            bcc_ok=computed == received,
        )
        del buf[: end + 2]
        self._searched = 0
        if not block.bcc_ok and self.strict_bcc:
            raise self._fail(
                BccError(
                    f"BCC mismatch: received 0x{received:02X}, computed 0x{computed:02X}",
                    block,
                )
            )
        return block


def _find_first(buf: bytearray, values: tuple[int, ...], start: int = 0) -> int | None:
    best: int | None = None
    for value in values:
        index = buf.find(value, start)
        if index != -1 and (best is None or index < best):
            best = index
    return best
