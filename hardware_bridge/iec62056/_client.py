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
``fallback_baud`` (300 = no switch). A garbled identification (line noise) is answered with a
break and one more sign-on. Every failure is a typed :class:`IecError`.

A session is bounded in time as a whole, not only between characters: a meter that streams a
block without ever sending ETX would otherwise keep the line forever. The sign-on may take its
timeouts plus the identification's transfer time; the readout may take ``max_readout_size``
bytes at the negotiated rate, with a margin (:func:`readout_time_limit`).
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
    IncompleteReadoutError,
    LineError,
    NoResponseError,
    ReadoutOverrunError,
    SessionTimeoutError,
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
    find_identification,
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

__all__ = [
    "DEFAULT_MAX_READOUT_SIZE",
    "ClientSettings",
    "MeterClient",
    "MeterReading",
    "Trace",
    "readout_time_limit",
]

_LOGGER = logging.getLogger(__name__)

type Trace = Callable[[Literal["tx", "rx"], bytes], None]
"""Called with every chunk sent (``"tx"``) or received (``"rx"``), for diagnostics."""

_MAX_JUNK_LINES = 32
_MAX_PARTIAL_BLOCKS = 256
_SIGN_ON_BYTES = 256
"""Bytes the sign-on may see: an echo of the request, noise, the identification line."""
_BITS_PER_CHAR = 10  # start, 7 data, parity, stop
_TIME_MARGIN = 1.25
_DISCARD_LIMIT = 2.0
"""Seconds spent at most on draining what an abandoned session still sends."""

DEFAULT_MAX_READOUT_SIZE = 16 * 1024
"""Bytes a readout may plausibly have. Real full readouts are 1–10 kB (a Makel C520 about
2 kB, a Luna with history about 3 kB, an Iskra MT174 about 10 kB)."""


def readout_time_limit(size: int, baud: int, *, reaction: float, inter_char: float) -> float:
    """Seconds a readout of ``size`` bytes may take at ``baud``: its transfer time (7E1, ten
    bits a character) with a 25 % margin, plus the meter's reaction and one character gap."""
    return size * _BITS_PER_CHAR / baud * _TIME_MARGIN + reaction + inter_char


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
    max_readout_size: int = DEFAULT_MAX_READOUT_SIZE
    """Longest plausible readout (bytes); with the baud rate it bounds a session's time."""

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
        if self.max_readout_size < 1:
            raise ValueError("max_readout_size must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterReading:
    """The result of one session that ended with a data block (ETX and a checked BCC).

    ``complete`` is False when the block lacked the ``!`` that ends the data: the meter cut
    its readout short (a valid BCC only proves the bytes that arrived are intact). The data
    sets are then what arrived, and must not be taken as a full reading.
    """

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
            missing_end=None if self.complete else "'!'",
        )

    @property
    def incomplete_reason(self) -> str | None:
        """Why the readout is not a full reading (no ``!`` before ETX), or ``None``."""
        return self.readout.incomplete_reason

    def require_complete(self) -> MeterReading:
        """This reading, or :class:`IncompleteReadoutError` if its readout was cut short."""
        if self.incomplete_reason is not None:
            raise IncompleteReadoutError(self.incomplete_reason)
        return self

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
        self.deadline: float | None = None
        """Loop time by which the current phase of the session must be over."""
        self.deadline_reason = ""

    def set_deadline(self, seconds: float, reason: str) -> None:
        self.deadline = asyncio.get_running_loop().time() + seconds
        self.deadline_reason = reason

    def extend_deadline(self, seconds: float) -> None:
        if self.deadline is not None:
            self.deadline += seconds

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
        wait = timeout
        if self.deadline is not None:
            wait = min(timeout, self.deadline - asyncio.get_running_loop().time())
            if wait <= 0:
                raise SessionTimeoutError(self.deadline_reason)
        try:
            chunk = await asyncio.wait_for(self.reader.read(4096), wait)
        except TimeoutError:
            if wait < timeout:
                raise SessionTimeoutError(self.deadline_reason) from None
            raise NoResponseError(f"no {what} within {timeout:g} s") from None
        except (OSError, ConnectionError) as err:
            raise LineError(f"read failed: {err}") from err
        if not chunk:
            raise LineError("the serial port was closed")
        if self.trace is not None:
            self.trace("rx", chunk)
        return chunk

    async def discard_pending(self) -> None:
        """Drop whatever the meter still sends from an abandoned session (for a bounded time:
        a meter that keeps streaming must not hold the line here)."""
        with contextlib.suppress(TimeoutError, OSError, ConnectionError):
            async with asyncio.timeout(_DISCARD_LIMIT):
                while await asyncio.wait_for(self.reader.read(4096), 0.05):
                    pass

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class _GarbledIdentificationError(NoResponseError):
    """Lines came after the sign-on, but none was an identification, then silence."""


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
                    if isinstance(failure.error, ReadoutOverrunError):
                        # a meter that does not end its readout: tell it the session is
                        # over; a slower rate would only make it last longer
                        with contextlib.suppress(IecError):
                            await link.send(break_message())
                        break
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
            sent = {request.rstrip(b"\r\n")}
            sign_on_limit = (
                2
                * readout_time_limit(
                    _SIGN_ON_BYTES,
                    s.initial_baud,
                    reaction=s.reaction_timeout,
                    inter_char=s.inter_char_timeout,
                )
                + s.retry_pause
                + _DISCARD_LIMIT
            )
            link.set_deadline(
                sign_on_limit, f"no identification within {sign_on_limit:.0f} s of signing on"
            )
            await link.send(request)
            tracker.advance("request")
            ident, framer = await self._sign_on(link, request, sent)
            tracker.advance("identification")
            if ident.mode is ProtocolMode.A:
                target = s.initial_baud
            else:
                target = max(
                    rate for rate in BAUD_CHARS_MODE_C.values() if rate <= min(cap, ident.baud_rate)
                )
            data_limit = s.switch_delay + readout_time_limit(
                s.max_readout_size,
                target,
                reaction=s.reaction_timeout,
                inter_char=s.inter_char_timeout,
            )
            link.set_deadline(
                data_limit,
                f"the readout did not end within {data_limit:.0f} s "
                f"({s.max_readout_size} bytes at {target} baud, with margin)",
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
                framer = self._framer()
            payload, bcc_ok = await self._await_data(link, framer, sent, tracker)
        except IecError as err:
            raise _Failure(err, switched_to) from err
        finally:
            link.deadline = None
        scan = scan_datasets(payload.decode("latin-1"), strict=s.strict_datasets)
        return MeterReading(
            identification=ident,
            datasets=scan.datasets,
            bcc_ok=bcc_ok,
            baud=link.baud,
            complete=scan.ended,
            junk=scan.junk,
        )

    def _framer(self, *, lines_only: bool = False) -> Framer:
        return Framer(
            strict_bcc=False,
            strip_parity=True,
            max_frame_size=self.settings.max_frame_size,
            lines_only=lines_only,
        )

    async def _sign_on(
        self, link: _Link, request: bytes, sent: set[bytes]
    ) -> tuple[Identification, Framer]:
        """Wait for the identification; after a garbled one, break and sign on once more.

        Returns the identification and the framer holding whatever followed it.
        """
        framer = self._framer(lines_only=True)  # no block can come before the ident
        try:
            ident = await self._await_identification(link, framer, sent)
        except NoResponseError as err:
            garbled = isinstance(err, _GarbledIdentificationError) or framer.buffered_size > 0
            if not garbled:
                raise  # a silent meter: asking again at once would not help
            _LOGGER.debug("garbled identification (%s); signing on again", err)
            await self._end_session(link)
            await link.send(request)
            framer = self._framer(lines_only=True)
            ident = await self._await_identification(link, framer, sent)
        framer.lines_only = False
        return ident, framer

    async def _next_event(self, link: _Link, framer: Framer, what: str) -> Line | DataBlock:
        s = self.settings
        while True:
            event = framer.next_event()
            if event is NEED_DATA:
                if framer.buffered_size > s.max_readout_size:
                    raise ReadoutOverrunError(
                        f"{what} longer than {s.max_readout_size} bytes without its end"
                    )
                waiting_mid_frame = framer.buffered_size > 0
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
        try:
            while True:
                event = await self._next_event(link, framer, "identification")
                assert isinstance(event, Line)  # the framer is in lines-only mode
                if self._is_echo(event, sent) or not event.data.strip(b"\x00 \r"):
                    continue
                ident = find_identification(event.data)
                if ident is not None:
                    return ident
                junk += 1
                if junk > _MAX_JUNK_LINES:
                    raise UnexpectedFrameError("no identification among the lines received")
        except NoResponseError as err:
            if junk:
                raise _GarbledIdentificationError(
                    f"{err}; {junk} garbled identification line(s) received"
                ) from err
            raise

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
                if len(payload) > self.settings.max_readout_size:
                    raise ReadoutOverrunError(
                        f"readout longer than {self.settings.max_readout_size} bytes"
                    )
                await link.send(ACK)
                link.extend_deadline(self.settings.reaction_timeout)  # one more answer due
            else:
                await link.send(NAK)
                link.extend_deadline(self.settings.reaction_timeout)


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
