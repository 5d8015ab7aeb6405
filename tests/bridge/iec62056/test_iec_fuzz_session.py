"""Fuzzing the client's whole session: whatever a meter sends, a read ends with a reading or a
typed :class:`IecError` — never another exception, never a hang.

The meter's bytes come from an in-memory stream instead of a pty, so hypothesis can try many
answers quickly; the real client code (framer, sign-on retry, time limits) runs unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.iec62056 import (
    CLOSED,
    NEED_DATA,
    ClientSettings,
    Framer,
    IecError,
    MeterClient,
    MeterReading,
    RemoteProtocolError,
    bcc,
    find_identification,
    parse_readout,
)
from hardware_bridge.iec62056._client import _Link

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HANG = 10.0
"""Seconds after which one fuzzed session counts as hung (it needs well under one)."""

_IDENTS = st.sampled_from(
    [b"/MSY5<1>C520.KMY.2251\r\n", b"/LUN5<1>LUN669205929\r\n", b"/ISk5MT174-0001\r\n",
     b"/ACE0\\3k260V01.19\r\n", b"/?!\r\n", b"/XY\r\n", b"/AAA\r\n"]
)  # fmt: skip
_PIECES = st.sampled_from(
    [b"\x01", b"\x02", b"\x03", b"\x04", b"\x06", b"\x15", b"\x82", b"\r\n", b"(", b")", b"*",
     b"!", b"/", b"1.8.0(000070.677*kWh)", b"0.0.0(80099921)", b"kWh", b" ", b"\xff"]
)  # fmt: skip
_NOISE = st.lists(_PIECES | st.binary(max_size=3), max_size=12).map(b"".join)


@st.composite
def _meter_answers(draw: st.DrawFn) -> bytes:
    """Noise, maybe an identification, maybe a block with or without its end and a BCC."""
    answer = draw(_NOISE)
    if draw(st.booleans()):
        answer += draw(_IDENTS)
    if draw(st.booleans()):
        body = draw(_NOISE) + draw(st.sampled_from([b"", b"!\r\n"]))
        end = draw(st.sampled_from([b"\x03", b"\x04", b""]))
        check = bytes([bcc(body + end)]) if draw(st.booleans()) else draw(st.binary(max_size=1))
        answer += b"\x02" + body + end + check
    return answer + draw(_NOISE)


class _FakeSerial:
    baudrate = 300


class _FakeTransport:
    serial = _FakeSerial()


class _FakeWriter:
    """Takes what the client sends; the meter's answer is already in the reader."""

    transport = _FakeTransport()

    def __init__(self) -> None:
        self.sent = bytearray()

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


class _ScriptedClient(MeterClient):
    def __init__(self, answer: bytes, eof: bool) -> None:
        super().__init__(
            ClientSettings(
                port="fuzz",
                reaction_timeout=0.01,
                inter_char_timeout=0.01,
                switch_delay=0.0,
                retry_pause=0.0,
                max_readout_size=2048,
            )
        )
        self.answer, self.eof = answer, eof

    async def _open(self) -> _Link:
        reader = asyncio.StreamReader()
        reader.feed_data(self.answer)
        if self.eof:
            reader.feed_eof()
        writer: Any = _FakeWriter()
        link = _Link(reader, writer, software_parity=False, trace=None)
        link.baud = 300
        return link


async def _session(answer: bytes, eof: bool) -> MeterReading | IecError:
    async with asyncio.timeout(HANG):
        try:
            return await _ScriptedClient(answer, eof).read()
        except IecError as err:
            return err


@FUZZ
@given(answer=_meter_answers(), eof=st.booleans())
def test_a_session_ends_with_a_reading_or_a_typed_error(answer: bytes, eof: bool) -> None:
    result = asyncio.run(_session(answer, eof))
    if isinstance(result, MeterReading):
        assert b"\x02" in answer  # a reading needs a data block
        if result.complete:
            assert result.incomplete_reason is None
            assert b"!" in answer
        else:
            assert result.incomplete_reason is not None


@FUZZ
@given(line=st.binary(max_size=120) | _NOISE)
def test_find_identification_never_raises(line: bytes) -> None:
    ident = find_identification(line)
    if ident is not None:
        assert b"/" in line


@FUZZ
@given(data=_NOISE, lines_only=st.booleans(), switch_at=st.integers(0, 40))
def test_framer_makes_progress_in_either_mode(
    data: bytes, lines_only: bool, switch_at: int
) -> None:
    """Each event consumes input: at most one event per byte, plus the end (no hang)."""
    framer = Framer(strip_parity=True, lines_only=lines_only, max_frame_size=64)
    framer.receive_data(data[:switch_at])
    framer.receive_data(b"")
    events = 0
    try:
        while framer.next_event() not in (NEED_DATA, CLOSED):
            events += 1
            assert events <= len(data) + 1
            if events == 1:
                framer.lines_only = not lines_only
    except RemoteProtocolError:
        pass


@FUZZ
@given(data=_meter_answers())
def test_a_capture_is_complete_only_with_its_end(data: bytes) -> None:
    try:
        readout = parse_readout(data)
    except RemoteProtocolError:
        return
    if readout.complete:
        assert b"!" in data
        assert readout.incomplete_reason is None
    else:
        assert readout.incomplete_reason is not None
