"""Byte-level frames of the relay/input function codes (FC01/02/05/06/0F/10) and how their
answers are matched: reference frames from the boards' documentation."""

from __future__ import annotations

import pytest

from hardware_bridge.modbus._rtu import (
    Bits,
    Foreign,
    Refusal,
    ResponseMatcher,
    Written,
    bit_read_request,
    crc16,
    expected_write_answer,
    write_coil_request,
    write_coils_request,
    write_register_request,
    write_registers_request,
)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("built", "frame"),
    [
        # Waveshare relay 1 on / off [S6][S10]
        (write_coil_request(1, 0, True), "01 05 00 00 FF 00 8C 3A"),
        (write_coil_request(1, 0, False), "01 05 00 00 00 00 CD CA"),
        # read 8 coils [S11], read 8 discrete inputs (computed in the reference)
        (bit_read_request(1, 1, 0, 8), "01 01 00 00 00 08 3D CC"),
        (bit_read_request(1, 2, 0, 8), "01 02 00 00 00 08 79 CC"),
        # Eletechsup ch1 open / close [S14]
        (write_register_request(1, 1, 0x0100), "01 06 00 01 01 00 D9 9A"),
        (write_register_request(1, 1, 0x0200), "01 06 00 01 02 00 D9 6A"),
        # N4ROxx FC0F all off [S17]
        (write_coils_request(1, 0, [False] * 8), "01 0F 00 00 00 08 01 00 FE 95"),
    ],
)
def test_requests_match_the_documented_frames(built: bytes, frame: str) -> None:
    assert built == _hex(frame)


def test_fc0f_packs_coils_lsb_first_and_fc10_carries_the_byte_count() -> None:
    frame = write_coils_request(1, 0, [True, False, False, False, False, False, True, False, True])
    assert frame[:9] == _hex("01 0F 00 00 00 09 02 41 01")
    regs = write_registers_request(1, 0x1000, [0] * 8)
    assert regs[:7] == _hex("01 10 10 00 00 08 10")
    assert len(regs) == 7 + 16 + 2
    assert crc16(regs[:-2]).to_bytes(2, "little") == regs[-2:]


def test_write_answers_are_echoes() -> None:
    coil = write_coil_request(1, 0, True)
    assert expected_write_answer(coil) == coil
    fc0f = write_coils_request(1, 0, [False] * 8)
    assert expected_write_answer(fc0f) == _hex("01 0F 00 00 00 08 54 0D")  # [S17]


def _feed(matcher: ResponseMatcher, data: bytes, split: int | None) -> object:
    if split is None:
        return matcher.feed(data)
    outcome = None
    for i in range(0, len(data), split):
        outcome = matcher.feed(data[i : i + split])
    return outcome


@pytest.mark.parametrize("split", [None, 1, 3])
def test_coil_bits_decode_lsb_first(split: int | None) -> None:
    # 0x41: relays 1 and 7 on [S11]; 0x7C: channels 3-7 on [S17]
    outcome = _feed(ResponseMatcher(1, 1, 8), _hex("01 01 01 41 91 B8"), split)
    assert outcome == Bits((True, False, False, False, False, False, True, False))
    outcome = _feed(ResponseMatcher(1, 1, 8), _hex("01 01 01 7C 50 69"), split)
    assert outcome == Bits((False, False, True, True, True, True, True, False))


def test_bits_of_a_second_byte_and_a_short_count() -> None:
    body = _hex("01 02 02 00 01")  # 10 inputs asked: input 9 on
    frame = body + crc16(body).to_bytes(2, "little")
    outcome = ResponseMatcher(1, 2, 10).feed(frame)
    assert outcome == Bits((False,) * 8 + (True, False))


def test_a_bit_answer_of_the_wrong_length_or_function_is_not_taken() -> None:
    body = _hex("01 01 02 41 00")  # two bytes for eight coils
    frame = body + crc16(body).to_bytes(2, "little")
    assert isinstance(ResponseMatcher(1, 1, 8).feed(frame), Foreign)
    inputs = _hex("01 02 01 41") + crc16(_hex("01 02 01 41")).to_bytes(2, "little")
    assert isinstance(ResponseMatcher(1, 1, 8).feed(inputs), Foreign)  # FC02 for an FC01 read


@pytest.mark.parametrize("split", [None, 1, 5])
def test_a_write_is_confirmed_only_by_its_exact_echo(split: int | None) -> None:
    request = write_coil_request(1, 0, True)
    matcher = ResponseMatcher(1, 5, 0, reply=expected_write_answer(request))
    assert _feed(matcher, b"\x00\xff" + request, split) == Written()  # noise first
    other_value = write_coil_request(1, 0, False)
    matcher = ResponseMatcher(1, 5, 0, reply=expected_write_answer(request))
    assert isinstance(matcher.feed(other_value), Foreign)
    other_device = write_coil_request(2, 0, True)
    matcher = ResponseMatcher(1, 5, 0, reply=expected_write_answer(request))
    assert isinstance(matcher.feed(other_device), Foreign)


def test_a_write_refused_with_an_exception() -> None:
    body = _hex("01 86 02")
    frame = body + crc16(body).to_bytes(2, "little")
    request = write_register_request(1, 1, 0x0100)
    assert ResponseMatcher(1, 6, 0, reply=request).feed(frame) == Refusal(2)


def test_the_adapter_echo_of_a_write_is_skipped_before_the_device_echo() -> None:
    request = write_register_request(1, 1, 0x0100)
    matcher = ResponseMatcher(1, 6, 0, reply=request, echo=request)
    assert matcher.feed(request) is None  # only the adapter's own echo so far
    assert matcher.feed(request) == Written()


def test_fc0f_and_fc10_answers_must_repeat_address_and_quantity() -> None:
    request = write_registers_request(1, 0x1000, [0] * 8)
    good = expected_write_answer(request)
    assert ResponseMatcher(1, 16, 0, reply=good).feed(good) == Written()
    wrong = write_registers_request(1, 0x1000, [0] * 7)
    assert isinstance(
        ResponseMatcher(1, 16, 0, reply=good).feed(expected_write_answer(wrong)), Foreign
    )


def test_a_write_matcher_needs_its_expected_answer() -> None:
    with pytest.raises(ValueError, match="expected reply"):
        ResponseMatcher(1, 5, 0)
