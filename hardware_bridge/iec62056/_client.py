"""Async IEC 62056-21 mode C client over a serial port (pyserial-asyncio-fast).

One :meth:`MeterClient.read` is one session::

    300 baud 7E1   →  [NUL… wake-up]  / ? [address] ! CR LF
                   ←  / X X X Z [tag] ident CR LF            (reaction ≤ 1.5 s)
                   →  ACK 0 Z' Y CR LF                        (still at 300 baud)
    switch the SAME open port to Z' after ``switch_delay``
                   ←  STX data ! CR LF ETX BCC                 (inter-character ≤ 2.2 s)

Z' is the fastest rate both the meter (Z) and the settings (``max_baud``) allow. Lines equal
to what we just sent are dropped (optical heads and half-duplex RS-485 adapters echo).
When an attempt fails after a baud switch, a break is sent and the session is retried once at
``fallback_baud`` (300 = no switch). Every failure is a typed :class:`IecError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import serial_asyncio_fast

from hardware_bridge.iec62056._datasets import DataSet, scan_datasets
from hardware_bridge.iec62056._errors import (
    BccError,
    IecError,
    LineError,
    NoResponseError,
    RemoteProtocolError,
    UnexpectedFrameError,
)
from hardware_bridge.iec62056._frames import (
    CLOSED,
    DEFAULT_MAX_FRAME_SIZE,
    NEED_DATA,
    DataBlock,
    Framer,
    Line,
)
from hardware_bridge.iec62056._ident import (
    BAUD_CHARS_MODE_C,
    Identification,
    ProtocolMode,
    baud_char_for,
    parse_identification,
)
from hardware_bridge.iec62056._messages import (
    ACK,
    NAK,
    OptionMode,
    break_message,
    option_select,
    request_message,
)
from hardware_bridge.iec62056._readout import Readout, readout_to_dict
from hardware_bridge.iec62056._session import SessionTracker
from hardware_bridge.serial_line import Parity

__all__ = ["ClientSettings", "MeterClient", "MeterReading", "Trace"]

_LOGGER = logging.getLogger(__name__)

type Trace = Callable[[Literal["tx", "rx"], bytes], None]
"""Called with every chunk sent (``"tx"``) or received (``"rx"``), for diagnostics."""

_MAX_JUNK_LINES = 32
_MAX_PARTIAL_BLOCKS = 256
_EVEN_PARITY = bytes((i & 0x7F) | (0x80 if bin(i & 0x7F).count("1") % 2 else 0) for i in range(256))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """How to reach one meter. Timeouts default to IEC 62056-21 / TEDAŞ clause 40 values."""

    port: str
    address: str = ""
    mode: OptionMode = OptionMode.READOUT
    max_baud: int = 19200
    initial_baud: int = 300
    bytesize: Literal[7, 8] = 7
    parity: Parity = "E"
    stopbits: Literal[1, 2] = 1
    emulate_7e1: bool = True
    """If the port refuses 7E1 (ptys, some adapters), use 8N1 and do the parity bit here."""
    switch_delay: float = 0.3
    reaction_timeout: float = 1.5
    inter_char_timeout: float = 2.2
    wake_up: bool = False
    wake_up_duration: float = 2.2
    wake_up_pause: float = 1.6
    echo_suppression: bool = True
    strict_bcc: bool = True
    strict_datasets: bool = False
    fallback_baud: int | None = 300
    retry_pause: float = 1.5
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("serial port must not be empty")
        if self.max_baud not in BAUD_CHARS_MODE_C.values():
            raise ValueError(f"max_baud {self.max_baud} is not a mode C rate")
        if self.fallback_baud is not None and self.fallback_baud not in BAUD_CHARS_MODE_C.values():
            raise ValueError(f"fallback_baud {self.fallback_baud} is not a mode C rate")
        for name in ("switch_delay", "reaction_timeout", "inter_char_timeout", "retry_pause"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterReading:
    """The result of one successful session."""

    identification: Identification
    datasets: tuple[DataSet, ...]
    bcc_ok: bool
    baud: int
    complete: bool
    attempts: int = 1
    junk: tuple[str, ...] = field(default=())

    @property
    def readout(self) -> Readout:
        return Readout(
            identification=self.identification,
            datasets=self.datasets,
            bcc_ok=self.bcc_ok,
            complete=self.complete,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``read-meter --json``."""
        data = readout_to_dict(self.readout)
        data["baud"] = self.baud
        return data


class _Link:
    """The open port: writes (with software parity if needed), timed reads, baud changes."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        software_parity: bool,
        trace: Trace | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.software_parity = software_parity
        self.trace = trace
        self.baud = 0

    def set_baud(self, baud: int) -> None:
        try:
            self.writer.transport.serial.baudrate = baud  # type: ignore[attr-defined]
        except (OSError, termios.error, ValueError) as err:
            raise LineError(f"cannot switch the port to {baud} baud: {err}") from err
        self.baud = baud

    async def send(self, data: bytes) -> None:
        if self.trace is not None:
            self.trace("tx", data)
        wire = data.translate(_EVEN_PARITY) if self.software_parity else data
        try:
            self.writer.write(wire)
            await self.writer.drain()
        except (OSError, ConnectionError) as err:
            raise LineError(f"write failed: {err}") from err

    async def receive(self, timeout: float, what: str) -> bytes:  # noqa: ASYNC109
        try:
            chunk = await asyncio.wait_for(self.reader.read(4096), timeout)
        except TimeoutError:
            raise NoResponseError(f"no {what} within {timeout:g} s") from None
        except (OSError, ConnectionError) as err:
            raise LineError(f"read failed: {err}") from err
        if not chunk:
            raise LineError("the serial port was closed")
        if self.trace is not None:
            self.trace("rx", chunk)
        return chunk

    async def discard_pending(self) -> None:
        """Drop whatever the meter still sends from an abandoned session."""
        with contextlib.suppress(TimeoutError, OSError, ConnectionError):
            while await asyncio.wait_for(self.reader.read(4096), 0.05):
                pass

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class _Failure(Exception):
    """Carries an attempt's error and whether the attempt had switched baud."""

    def __init__(self, error: IecError, switched_to: int | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.switched_to = switched_to


class MeterClient:
    """Reads IEC 62056-21 meters on one serial port (one session per :meth:`read`)."""

    def __init__(self, settings: ClientSettings, *, trace: Trace | None = None) -> None:
        self.settings = settings
        self.trace = trace

    async def read(
        self, *, address: str | None = None, mode: OptionMode | str | None = None
    ) -> MeterReading:
        """Sign on, negotiate, and return the readout. Raises only :class:`IecError` subclasses.

        ``address`` and ``mode`` override the settings for this read (``OptionMode.SHORT_READOUT``
        for the TEDAŞ short readout).
        """
        s = self.settings
        chosen_address = s.address if address is None else address
        chosen_mode = OptionMode(mode) if mode is not None else s.mode
        request = request_message(chosen_address)
        link = await self._open()
        try:
            caps = [s.max_baud]
            if s.fallback_baud is not None and s.fallback_baud < s.max_baud:
                caps.append(s.fallback_baud)
            last: _Failure | None = None
            for attempt, cap in enumerate(caps, start=1):
                if last is not None:
                    _LOGGER.debug("retrying at %s baud after: %s", cap, last.error)
                    await self._end_session(link)
                try:
                    reading = await self._session(link, request, chosen_mode, cap)
                except _Failure as failure:
                    last = failure
                    if failure.switched_to is None or failure.switched_to <= (s.fallback_baud or 0):
                        break  # failed before any switch: a slower rate will not help
                    continue
                return _with_attempts(reading, attempt)
            assert last is not None
            raise last.error
        finally:
            await link.close()

    async def _open(self) -> _Link:
        s = self.settings
        software_parity = False
        try:
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=s.port,
                baudrate=s.initial_baud,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
            )
        except (OSError, termios.error, ValueError) as err:
            if not (s.emulate_7e1 and (s.bytesize, s.parity) == (7, "E")):
                raise LineError(f"cannot open {s.port}: {err}") from err
            _LOGGER.debug("%s refuses 7E1 (%s); using 8N1 with software parity", s.port, err)
            try:
                reader, writer = await serial_asyncio_fast.open_serial_connection(
                    url=s.port, baudrate=s.initial_baud, bytesize=8, parity="N", stopbits=1
                )
            except (OSError, termios.error, ValueError) as err2:
                raise LineError(f"cannot open {s.port}: {err2}") from err2
            software_parity = True
        link = _Link(reader, writer, software_parity=software_parity, trace=self.trace)
        link.baud = s.initial_baud
        return link

    async def _end_session(self, link: _Link) -> None:
        """Send a break at the current rate, give the meter time to drop the session."""
        with contextlib.suppress(IecError):
            await link.send(break_message())
        await asyncio.sleep(self.settings.retry_pause)
        await link.discard_pending()

    async def _session(
        self, link: _Link, request: bytes, mode: OptionMode, cap: int
    ) -> MeterReading:
        s = self.settings
        switched_to: int | None = None
        tracker = SessionTracker()
        try:
            link.set_baud(s.initial_baud)
            if s.wake_up:
                await link.send(b"\x00" * max(1, int(s.wake_up_duration * s.initial_baud / 10)))
                await asyncio.sleep(s.wake_up_duration + s.wake_up_pause)
            framer = Framer(strict_bcc=False, strip_parity=True, max_frame_size=s.max_frame_size)
            sent = {request.rstrip(b"\r\n")}
            await link.send(request)
            tracker.advance("request")
            ident = await self._await_identification(link, framer, sent)
            tracker.advance("identification")
            if ident.mode is ProtocolMode.A:
                target = s.initial_baud
            else:
                target = max(
                    rate for rate in BAUD_CHARS_MODE_C.values() if rate <= min(cap, ident.baud_rate)
                )
            if ident.mode is ProtocolMode.C:
                ack = option_select(baud_char_for(target), mode)
                sent.add(ack.rstrip(b"\r\n"))
                await link.send(ack)
                tracker.advance("option_select")
            if target != link.baud:
                await asyncio.sleep(s.switch_delay)
                link.set_baud(target)
                switched_to = target
                framer = Framer(
                    strict_bcc=False, strip_parity=True, max_frame_size=s.max_frame_size
                )
            payload, bcc_ok = await self._await_data(link, framer, sent, tracker)
        except IecError as err:
            raise _Failure(err, switched_to) from err
        scan = scan_datasets(payload.decode("latin-1"), strict=s.strict_datasets)
        return MeterReading(
            identification=ident,
            datasets=scan.datasets,
            bcc_ok=bcc_ok,
            baud=link.baud,
            complete=scan.ended,
            junk=scan.junk,
        )

    async def _next_event(self, link: _Link, framer: Framer, what: str) -> Line | DataBlock:
        s = self.settings
        while True:
            event = framer.next_event()
            if event is NEED_DATA:
                waiting_mid_frame = bool(framer.buffered)
                timeout = s.inter_char_timeout if waiting_mid_frame else s.reaction_timeout
                label = f"more of the {what}" if waiting_mid_frame else what
                framer.receive_data(await link.receive(timeout, label))
                continue
            if event is CLOSED:
                raise LineError("the serial port was closed")
            assert isinstance(event, Line | DataBlock)
            return event

    def _is_echo(self, line: Line, sent: set[bytes]) -> bool:
        return self.settings.echo_suppression and line.data.lstrip(b"\x00") in sent

    async def _await_identification(
        self, link: _Link, framer: Framer, sent: set[bytes]
    ) -> Identification:
        junk = 0
        while True:
            event = await self._next_event(link, framer, "identification")
            if isinstance(event, DataBlock):
                raise UnexpectedFrameError("data block received where an identification was due")
            if self._is_echo(event, sent):
                continue
            start = event.data.find(b"/")
            if start != -1 and not event.data.startswith(b"/?", start):
                try:
                    return parse_identification(event.data[start:])
                except RemoteProtocolError:
                    pass
            junk += 1
            if junk > _MAX_JUNK_LINES:
                raise UnexpectedFrameError("no identification among the lines received")

    async def _await_data(
        self, link: _Link, framer: Framer, sent: set[bytes], tracker: SessionTracker
    ) -> tuple[bytes, bool]:
        payload = bytearray()
        junk = 0
        blocks = 0
        while True:
            event = await self._next_event(link, framer, "data block")
            if isinstance(event, Line):
                if not self._is_echo(event, sent) and event.data.strip():
                    junk += 1
                    if junk > _MAX_JUNK_LINES:
                        raise UnexpectedFrameError("no data block among the lines received")
                continue
            if event.start != b"\x02":
                raise UnexpectedFrameError(
                    f"meter answered with a {event.command or 'command'} message, not data"
                )
            blocks += 1
            if event.final:
                if not event.bcc_ok and self.settings.strict_bcc:
                    raise BccError(
                        f"BCC mismatch in the readout (received 0x{event.bcc_received:02X})", event
                    )
                payload += event.payload
                tracker.advance("data")
                return bytes(payload), event.bcc_ok
            tracker.advance("partial")
            if blocks > _MAX_PARTIAL_BLOCKS:
                raise UnexpectedFrameError("too many partial data blocks")
            if event.bcc_ok:  # partial block: ACK asks for the next, NAK for a resend
                payload += event.payload
                await link.send(ACK)
            else:
                await link.send(NAK)


def _with_attempts(reading: MeterReading, attempts: int) -> MeterReading:
    if attempts == reading.attempts:
        return reading
    return MeterReading(
        identification=reading.identification,
        datasets=reading.datasets,
        bcc_ok=reading.bcc_ok,
        baud=reading.baud,
        complete=reading.complete,
        attempts=attempts,
        junk=reading.junk,
    )
