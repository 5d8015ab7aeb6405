"""Identification messages: manufacturer, baud character, optional tag, reaction hint."""

from __future__ import annotations

import pytest

from hardware_bridge.iec62056 import (
    ProtocolMode,
    RemoteProtocolError,
    parse_identification,
)


@pytest.mark.parametrize(
    ("line", "manufacturer", "baud_char", "tag", "ident", "baud", "mode"),
    [
        (b"/MSY5<1>C520.KMY.2251\r\n", "MSY", "5", "<1>", "C520.KMY.2251", 9600, ProtocolMode.C),
        (b"/MKS6<3>ADM(M550.2251)\r\n", "MKS", "6", "<3>", "ADM(M550.2251)", 19200, ProtocolMode.C),
        (b"/LGZ4\\2ZMD3104107.B32\r\n", "LGZ", "4", "\\2", "ZMD3104107.B32", 4800, ProtocolMode.C),
        (b"/ISk5MT174-0001\r\n", "ISk", "5", None, "MT174-0001", 9600, ProtocolMode.C),
        (b"/ELS5@AS1440\r\n", "ELS", "5", None, "@AS1440", 9600, ProtocolMode.C),
        (b"/EMH3LZQJ\r\n", "EMH", "3", None, "LZQJ", 2400, ProtocolMode.C),
        (b"/ABCEtype1\r\n", "ABC", "E", None, "type1", 9600, ProtocolMode.B),
        (b"/XYZ?ident\r\n", "XYZ", "?", None, "ident", 300, ProtocolMode.A),
        ("/LUN5<1>LUN669205929", "LUN", "5", "<1>", "LUN669205929", 9600, ProtocolMode.C),
    ],
)
def test_identification_parts(line, manufacturer, baud_char, tag, ident, baud, mode) -> None:
    parsed = parse_identification(line)
    assert parsed.manufacturer == manufacturer
    assert parsed.baud_char == baud_char
    assert parsed.tag == tag
    assert parsed.ident == ident
    assert parsed.baud_rate == baud
    assert parsed.mode is mode


def test_turkish_tag_is_parsed_not_sliced_at_a_fixed_offset() -> None:
    # A parser that assumes "\W" is always there would return ">C520.KMY.2251" or "1>C520…".
    assert parse_identification("/MSY5<1>C520.KMY.2251").ident == "C520.KMY.2251"
    assert parse_identification("/MSY5C520.KMY.2251").ident == "C520.KMY.2251"


def test_reaction_time_hint_from_lowercase_third_letter() -> None:
    assert parse_identification("/ISk5MT174").min_reaction_time == 0.02
    assert parse_identification("/ISK5MT174").min_reaction_time == 0.2


def test_round_trip_to_line() -> None:
    line = b"/MKS6<3>ADM(M550.2251)\r\n"
    assert parse_identification(line).to_line() == line


@pytest.mark.parametrize(
    "line",
    [b"", b"MSY5<1>C520", b"/?!", b"/MS", b"/MSY5", b"/MS\x02Y5abc", b"/MSY5ab!c", b"/M Y5abc"],
)
def test_not_an_identification(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_identification(line)
