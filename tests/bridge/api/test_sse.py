"""The event-stream parser, fed whole, in halves and one byte at a time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_bridge.api import SseEvent, SseParser, SseTooLarge

STREAM = (
    b"\xef\xbb\xbf: connected\r\n"
    b"retry: 5000\r\n\r\n"
    b"id: 7\r\nevent: reading\r\n"
    b'data: {"device":"sdm630",\r\ndata:"key":"voltage_l1"}\r\n\r\n'
    b": keep-alive\n\n"
    b"event: alarm\rdata: first line\rdata:  indented\r\r"
    b"data\n\n"
    b"id\ndata: \xc3\xbc\xc3\xa7\n\n"
    b"event: ignored-without-data\n\n"
    b"retry: soon\nid: a\x00b\ndata: last\n\n"
)
EXPECTED = [
    SseEvent(event="reading", data='{"device":"sdm630",\n"key":"voltage_l1"}', id="7", retry=5000),
    SseEvent(event="alarm", data="first line\n indented", id="7", retry=5000),
    SseEvent(event="message", data="", id="7", retry=5000),
    SseEvent(event="message", data="üç", id=None, retry=5000),
    SseEvent(event="message", data="last", id=None, retry=5000),
]


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [len(STREAM), len(STREAM) // 2 + 1, 7, 2, 1])
def test_events_whatever_the_chunking(size: int) -> None:
    parser = SseParser()
    events = [event for chunk in _split(STREAM, size) for event in parser.feed(chunk)]
    assert events == EXPECTED


def test_cr_at_chunk_end_and_lf_at_next_start_is_one_line_end() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # the LF belongs to the CR: no blank line yet
    assert parser.feed(b"\r\n") == [SseEvent(event="message", data="a")]


def test_unfinished_event_at_end_of_stream_is_dropped() -> None:
    parser = SseParser()
    assert parser.feed(b"data: half") == []
    assert parser.feed(b"") == []


def test_unbounded_line_is_refused() -> None:
    parser = SseParser(max_bytes=64)
    with pytest.raises(SseTooLarge):
        parser.feed(b"data: " + b"x" * 100)


stream_lines = st.lists(
    st.sampled_from(
        [
            b"data: x",
            b"data:y",
            b"data",
            b"event: alarm",
            b"id: 9",
            b"id",
            b": c",
            b"retry: 10",
            b"retry: x",
            b"",
            b"data: \xc3\xbc",
            b"bogus: 1",
        ]
    ),
    max_size=30,
)
line_ends = st.sampled_from([b"\n", b"\r", b"\r\n"])


@settings(max_examples=300, deadline=None)
@given(lines=stream_lines, ends=st.lists(line_ends, min_size=30, max_size=30), data=st.data())
def test_chunking_never_changes_the_events(
    lines: list[bytes], ends: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    whole = SseParser().feed(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    parser = SseParser()
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert [event for piece in pieces if piece for event in parser.feed(piece)] == whole
