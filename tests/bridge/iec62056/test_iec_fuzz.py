"""Fuzzing: framer, data-set and capture parsers raise nothing but their typed errors."""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.iec62056 import (
    NEED_DATA,
    DataBlock,
    Framer,
    NotAReadoutError,
    RemoteProtocolError,
    bcc,
    parse_datasets,
    parse_identification,
    parse_readout,
    scan_datasets,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ALPHABET = st.sampled_from(
    [b"\x01", b"\x02", b"\x03", b"\x04", b"\x06", b"\r", b"\n", b"(", b")", b"*", b"!", b"/",
     b"1.8.0", b"kWh", b" ", b"\x7f", b"\xff", b"<1>", b"\\2", b"?", b"0", b"5", b":", b"-"]
)  # fmt: skip
_STREAMS = st.lists(_ALPHABET | st.binary(max_size=4), max_size=60).map(b"".join)


@FUZZ
@given(data=_STREAMS, cuts=st.lists(st.integers(0, 300), max_size=6), strict=st.booleans())
def test_framer_only_raises_remote_errors(data: bytes, cuts: list[int], strict: bool) -> None:
    framer = Framer(strict_bcc=strict, max_frame_size=128, max_line_size=64)
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    try:
        for start, end in itertools.pairwise(edges):
            framer.receive_data(data[start:end])
            while framer.next_event() is not NEED_DATA:
                pass
    except RemoteProtocolError:
        pass


@FUZZ
@given(body=st.text(alphabet=st.sampled_from("1.8.0()*kWh! \r\n:-,<>abcF"), max_size=80))
def test_valid_block_round_trips_through_the_framer(body: str) -> None:
    payload = body.encode("ascii")
    if b"\x03" in payload or b"\x04" in payload:
        return
    frame = b"\x02" + payload + b"\x03" + bytes([bcc(payload + b"\x03")])
    framer = Framer()
    framer.receive_data(frame)
    event = framer.next_event()
    assert isinstance(event, DataBlock)
    assert event.payload == payload
    assert event.bcc_ok


@FUZZ
@given(text=st.text(max_size=120) | _STREAMS.map(lambda b: b.decode("latin-1")))
def test_dataset_parser_only_raises_remote_errors(text: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_datasets(text)
    scan_datasets(text, strict=False)


@FUZZ
@given(data=_STREAMS | st.binary(max_size=200))
def test_capture_parser_only_raises_not_a_readout(data: bytes) -> None:
    with contextlib.suppress(NotAReadoutError):
        parse_readout(data)


@FUZZ
@given(line=st.binary(max_size=40) | st.text(max_size=40))
def test_identification_parser_only_raises_remote_errors(line: bytes | str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_identification(line)
