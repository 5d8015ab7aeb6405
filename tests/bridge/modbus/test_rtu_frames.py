"""Finding the answer to one read in received bytes (sans-I/O), with real frames."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hardware_bridge.modbus._rtu import (
    Foreign,
    Refusal,
    Registers,
    ResponseMatcher,
    read_request,
)
from hardware_bridge.simulators.modbus_frames import with_crc

# SDM630, device 1, FC04 from 0, 2 registers: 230.5 V as a big-endian float32.
ANSWER = with_crc(bytes.fromhex("01040443668000"))


def test_request_frame_is_the_one_from_the_spec() -> None:
    # Modbus over Serial Line V1.02 / Application Protocol example: read 3 holding registers
    # from 0x006B of device 0x11 → 11 03 00 6B 00 03 76 87
    assert read_request(0x11, 3, 0x6B, 3) == bytes.fromhex("1103006b00037687")


def test_answer_is_taken_even_in_pieces() -> None:
    matcher = ResponseMatcher(1, 4, 2)
    assert matcher.feed(ANSWER[:3]) is None
    assert matcher.feed(ANSWER[3:]) == Registers((0x4366, 0x8000))


def test_noise_before_the_answer_is_skipped() -> None:
    matcher = ResponseMatcher(1, 4, 2)
    assert matcher.feed(b"\x00\xff\x01\x04\xfa" + ANSWER) == Registers((0x4366, 0x8000))


def test_echo_of_the_request_is_skipped() -> None:
    request = read_request(1, 4, 0, 2)
    matcher = ResponseMatcher(1, 4, 2, echo=request)
    assert matcher.feed(request[:5]) is None
    assert matcher.feed(request[5:] + ANSWER) == Registers((0x4366, 0x8000))


def test_other_function_length_or_device_is_foreign() -> None:
    fc03 = with_crc(b"\x01\x03\x04\x43\x66\x80\x00")
    longer = with_crc(b"\x01\x04\x08" + bytes(8))
    other = with_crc(b"\x02\x04\x04\x43\x66\x80\x00")
    for frame in (fc03, longer, other):
        assert ResponseMatcher(1, 4, 2).feed(frame) == Foreign(frame)


def test_exception_from_the_addressed_device_to_this_function_is_its_answer() -> None:
    assert ResponseMatcher(1, 4, 2).feed(with_crc(b"\x01\x84\x02")) == Refusal(2)
    foreign = with_crc(b"\x01\x83\x02")
    assert ResponseMatcher(1, 4, 2).feed(foreign) == Foreign(foreign)


def test_a_broken_crc_is_never_an_answer() -> None:
    broken = ANSWER[:-1] + bytes([ANSWER[-1] ^ 0x5A])
    matcher = ResponseMatcher(1, 4, 2)
    assert matcher.feed(broken) is None
    assert matcher.feed(ANSWER) == Registers((0x4366, 0x8000))  # the answer after it still is


def test_bytes_after_the_answer_are_reported() -> None:
    matcher = ResponseMatcher(1, 4, 2)
    matcher.feed(ANSWER + ANSWER)
    assert matcher.trailing == len(ANSWER)


@given(noise=st.binary(max_size=40), cut=st.integers(0, 60))
def test_registers_only_ever_come_from_a_matching_crc_valid_frame(noise: bytes, cut: int) -> None:
    stream = noise + ANSWER
    matcher = ResponseMatcher(1, 4, 2)
    outcome = matcher.feed(stream[:cut]) or matcher.feed(stream[cut:])
    if isinstance(outcome, Registers):
        assert (
            outcome == Registers((0x4366, 0x8000))
            or with_crc(b"\x01\x04\x04" + b"".join(v.to_bytes(2) for v in outcome.values)) in stream
        )
