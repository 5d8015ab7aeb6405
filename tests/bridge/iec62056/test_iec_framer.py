"""The framer turns received bytes into lines and data blocks, whatever the chunking."""

from __future__ import annotations

import pytest

from hardware_bridge.iec62056 import (
    CLOSED,
    NEED_DATA,
    BccError,
    DataBlock,
    Framer,
    Line,
    RemoteProtocolError,
    bcc,
    parse_datasets,
)

READOUT_BODY = (
    b"0.0.0(80099921)\r\n1.8.0(000070.677*kWh)\r\n1.6.0(003.264*kW)(23-06-06,18:45)\r\n!\r\n"
)
ANSWER = (
    b"/MSY5<1>C520.KMY.2251\r\n"
    + b"\x02"
    + READOUT_BODY
    + b"\x03"
    + bytes([bcc(READOUT_BODY + b"\x03")])
)


def _events(framer: Framer, chunks: list[bytes]) -> list[Line | DataBlock]:
    events: list[Line | DataBlock] = []
    for chunk in chunks:
        framer.receive_data(chunk)
        while (event := framer.next_event()) is not NEED_DATA:
            assert event is not CLOSED
            assert isinstance(event, Line | DataBlock)
            events.append(event)
    return events


def _split(data: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "halved":
        return [data[: len(data) // 2], data[len(data) // 2 :]]
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize("how", ["whole", "halved", "bytewise"])
def test_ident_then_block_in_any_chunking(how: str) -> None:
    events = _events(Framer(), _split(ANSWER, how))
    assert events[0] == Line(data=b"/MSY5<1>C520.KMY.2251")
    block = events[1]
    assert isinstance(block, DataBlock)
    assert block.final
    assert block.bcc_ok
    assert block.payload == READOUT_BODY
    assert parse_datasets(block.payload)[1].values[0].value == "000070.677"


def _with_bcc_value(target: int) -> bytes:
    """A readout body whose BCC is ``target`` (two value characters chosen to fit)."""
    chars = bytes(c for c in range(0x21, 0x7F) if c not in b"()*/!")
    for a in chars:
        for b in chars:
            body = b"96.50(" + bytes([a, b]) + b")\r\n!\r\n"
            if bcc(body + b"\x03") == target:
                return body
    raise AssertionError("no padding found")


@pytest.mark.parametrize("target", [0x0A, 0x0D, ord("!"), 0x02])
def test_bcc_equal_to_lf_cr_bang_or_stx_is_taken_by_position(target: int) -> None:
    body = _with_bcc_value(target)
    frame = b"\x02" + body + b"\x03" + bytes([target]) + b"/next\r\n"
    for how in ("whole", "bytewise"):
        events = _events(Framer(), _split(frame, how))
        assert isinstance(events[0], DataBlock)
        assert events[0].bcc_ok
        assert events[0].bcc_received == target
        assert events[1] == Line(data=b"/next")


def test_bad_bcc_strict_raises_with_the_block() -> None:
    frame = b"\x02" + READOUT_BODY + b"\x03" + bytes([bcc(READOUT_BODY + b"\x03") ^ 1])
    framer = Framer()
    framer.receive_data(frame)
    with pytest.raises(BccError) as caught:
        framer.next_event()
    assert caught.value.block.payload == READOUT_BODY
    with pytest.raises(RemoteProtocolError):
        framer.next_event()  # stays in error


def test_bad_bcc_lenient_returns_the_block() -> None:
    frame = b"\x02" + READOUT_BODY + b"\x03" + bytes([bcc(READOUT_BODY + b"\x03") ^ 1])
    [block] = _events(Framer(strict_bcc=False), [frame])
    assert isinstance(block, DataBlock)
    assert not block.bcc_ok
    assert block.payload == READOUT_BODY


def test_partial_blocks_end_in_eot() -> None:
    first, second = b"1.8.0(1*kWh)\r\n", b"1.8.1(2*kWh)\r\n!\r\n"
    stream = (
        b"\x02" + first + b"\x04" + bytes([bcc(first + b"\x04")])
        + b"\x02" + second + b"\x03" + bytes([bcc(second + b"\x03")])
    )  # fmt: skip
    blocks = _events(Framer(), _split(stream, "bytewise"))
    assert [(b.final, b.bcc_ok) for b in blocks if isinstance(b, DataBlock)] == [
        (False, True),
        (True, True),
    ]


def test_soh_password_message_from_the_meter() -> None:
    body = b"P0\x02(12345678)\x03"
    [block] = _events(Framer(), [b"\x01" + body + bytes([bcc(body)])])
    assert isinstance(block, DataBlock)
    assert block.command == "P0"
    assert block.data == b"(12345678)"
    assert block.bcc_ok


def test_parity_bit_is_stripped_on_request() -> None:
    with_parity = bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in ANSWER)
    events = _events(Framer(strip_parity=True), [with_parity])
    assert events[0] == Line(data=b"/MSY5<1>C520.KMY.2251")
    assert isinstance(events[1], DataBlock)
    assert events[1].bcc_ok


def test_echo_and_noise_come_out_as_lines() -> None:
    events = _events(Framer(), [b"\x7f\x7f/?!\r\n\x06050\r\nxx" + ANSWER[23:]])
    assert events[0] == Line(data=b"\x7f\x7f/?!")
    assert events[1] == Line(data=b"\x06050")
    assert events[2] == Line(data=b"xx")  # stray bytes before STX
    assert isinstance(events[3], DataBlock)


def test_unfinished_frame_is_bounded() -> None:
    framer = Framer(max_frame_size=64)
    framer.receive_data(b"\x02" + b"1.8.0(1)\r\n" * 10)
    with pytest.raises(RemoteProtocolError, match="longer than 64"):
        framer.next_event()


def test_endless_line_is_bounded() -> None:
    framer = Framer(max_line_size=32)
    framer.receive_data(b"x" * 40)
    with pytest.raises(RemoteProtocolError):
        framer.next_event()


def test_end_of_stream_inside_a_block_and_after_a_line() -> None:
    framer = Framer()
    framer.receive_data(b"tail")
    framer.receive_data(b"")
    assert framer.next_event() == Line(data=b"tail")
    assert framer.next_event() is CLOSED
    framer = Framer()
    framer.receive_data(b"\x021.8.0(1")
    framer.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        framer.next_event()
