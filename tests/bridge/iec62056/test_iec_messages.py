"""Messages the client sends, and the block check character."""

from __future__ import annotations

import pytest

from hardware_bridge.iec62056 import (
    LocalProtocolError,
    OptionMode,
    ProtocolError,
    bcc,
    break_message,
    makel_address,
    option_select,
    password_message,
    request_message,
    vendor_address,
)


def test_sign_on_plain_and_addressed() -> None:
    assert request_message() == b"/?!\r\n"
    assert request_message("MSY80099921") == b"/?MSY80099921!\r\n"
    assert request_message(vendor_address("mks", 123456789)) == b"/?MKS123456789!\r\n"
    assert makel_address("80099921") == "MSY80099921"


@pytest.mark.parametrize("address", ["A!B", "x/y", "ş", "a" * 33])
def test_bad_addresses_are_local_errors(address: str) -> None:
    with pytest.raises(LocalProtocolError):
        request_message(address)


def test_option_select_readout_short_and_programming() -> None:
    assert option_select("5") == b"\x06050\r\n"
    assert option_select("5", OptionMode.SHORT_READOUT) == b"\x06056\r\n"
    assert option_select("0", OptionMode.PROGRAMMING) == b"\x06001\r\n"
    assert option_select("6", "9") == b"\x06069\r\n"
    with pytest.raises(LocalProtocolError):
        option_select("9")
    with pytest.raises(LocalProtocolError):
        option_select("5", "x")


def test_break_and_password_messages_carry_their_bcc() -> None:
    assert break_message() == b"\x01B0\x03q"
    message = password_message("12345678")
    assert message[:4] == b"\x01P1\x02"
    assert message[4:-2] == b"(12345678)"
    assert message[-1] == bcc(message[1:-1])
    with pytest.raises(LocalProtocolError):
        password_message("a)b")


def test_bcc_is_xor_of_bytes_after_stx_including_etx() -> None:
    assert bcc(b"1.8.0(1)\r\n!\r\n\x03") == _xor(b"1.8.0(1)\r\n!\r\n\x03")
    assert bcc(b"\xff") == 0x7F  # 7-bit


def test_protocol_error_is_abstract() -> None:
    with pytest.raises(TypeError):
        ProtocolError("x")


def _xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value
