"""SMS-SUBMIT encoding: byte-exact against known PDUs, splitting rules, decoding back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware_bridge.cellular import decode_submit, encode_sms, parse_number
from hardware_bridge.cellular._sms import GSM7_DEFAULT, GSM7_EXTENSION, pack_septets


def test_seven_bit_test_submit_matches_the_gammu_trace() -> None:
    # gammu issue #264: AT+CMGS=17, "11 00 0A 81 <10 digits> 00 00 FF 04 F4F29C0E" (at_modem.md §8)
    (part,) = encode_sms("0123456789", "test")
    assert part.tpdu_length == 17
    assert part.pdu == "00" + "11000A81" + "1032547698" + "0000FF04" + "F4F29C0E"


def test_packing_and_address_match_the_classic_03_40_example() -> None:
    # "hellohello" to +46708251358: the well-known GSM 03.40 walk-through PDU
    # 0011000B916407281553F80000AA0AE8329BFD4697D9EC37 (only TP-VP differs: we send FF)
    assert pack_septets([GSM7_DEFAULT.index(c) for c in "hellohello"]).hex().upper() == (
        "E8329BFD4697D9EC37"
    )
    (part,) = encode_sms("+46708251358", "hellohello")
    assert part.pdu == "0011000B916407281553F80000FF0AE8329BFD4697D9EC37"
    assert part.tpdu_length == len(part.pdu) // 2 - 1


def test_ucs2_third_part_matches_the_gammu_multipart_layout() -> None:
    # gammu issue #89: "00 08 FF 78 | 05 00 03 39 03 03 | 00ED0020 …" (UCS-2, UDL 0x78, 3rd of 3)
    text = "ş" * 134 + "í " + "x" * 55
    parts = encode_sms("+905321234567", text, reference=0x39)
    assert len(parts) == 3
    third = parts[2].pdu
    assert third.startswith("0051000C91093512325476")
    assert third[len("0051000C91093512325476") :].startswith("0008FF7805000339030300ED0020")
    assert [p.tpdu_length for p in parts] == [len(p.pdu) // 2 - 1 for p in parts]


def test_turkish_letters_force_ucs2_but_default_alphabet_ones_do_not() -> None:
    for letter in "çğĞıİşŞ":
        assert decode_submit(encode_sms("+905321234567", f"Pompa {letter}")[0].pdu).ucs2
    plain = decode_submit(encode_sms("+905321234567", "ÇÖöÜü Pompa")[0].pdu)
    assert not plain.ucs2
    assert plain.text == "ÇÖöÜü Pompa"


def test_single_part_limits_160_septets_and_70_units() -> None:
    assert len(encode_sms("123", "a" * 160)) == 1
    assert len(encode_sms("123", "a" * 161)) == 2
    assert len(encode_sms("123", "a" * 159 + "€")) == 2  # € costs two septets: 161
    assert len(encode_sms("123", "ş" * 70)) == 1
    assert len(encode_sms("123", "ş" * 71)) == 2


def test_gsm7_parts_hold_153_septets_with_one_fill_bit() -> None:
    parts = encode_sms("123", "a" * 306, reference=7)
    assert len(parts) == 2
    data = bytes.fromhex(parts[0].pdu)
    # SMSC 00, 51, MR, 03 81 21F3, PID, DCS 00, VP, UDL
    assert data[1] == 0x51
    udl_at = 1 + 1 + 1 + 4 + 3
    assert data[udl_at] == 160  # 7 header septets + 153
    assert len(data) - udl_at - 1 == 140
    assert data[udl_at + 1 : udl_at + 7].hex() == "050003070201"
    assert data[udl_at + 7] == ((ord("a") << 1) & 0xFF)  # one fill bit before the first septet


def test_an_escape_pair_is_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = [decode_submit(p.pdu) for p in encode_sms("123", text)]
    assert [p.text for p in parts] == ["a" * 152, "€" + "b" * 10]


def test_a_surrogate_pair_is_never_split() -> None:
    text = "ş" * 66 + "🔌" + "x" * 10
    parts = [decode_submit(p.pdu) for p in encode_sms("123", text)]
    assert [p.text for p in parts] == ["ş" * 66, "🔌" + "x" * 10]


def test_one_reference_per_message_and_sequence_numbers() -> None:
    parts = [decode_submit(p.pdu) for p in encode_sms("123", "ı" * 200, reference=201)]
    assert [p.concat for p in parts] == [(201, 3, 1), (201, 3, 2), (201, 3, 3)]


@pytest.mark.parametrize(
    ("number", "digits", "international"),
    [
        ("+90 532 123 45 67", "905321234567", True),
        ("0532-123-45-67", "05321234567", False),
        ("112", "112", False),
    ],
)
def test_numbers_and_type_of_number(number: str, digits: str, international: bool) -> None:
    assert parse_number(number) == (digits, international)
    pdu = bytes.fromhex(encode_sms(number, "x")[0].pdu)
    assert pdu[4] == (0x91 if international else 0x81)
    assert (
        decode_submit(encode_sms(number, "x")[0].pdu).number
        == ("+" if international else "") + digits
    )


@pytest.mark.parametrize("number", ["", "+", "12", "abc", "+90 532 x", "1" * 21, "++905"])
def test_bad_numbers_are_refused(number: str) -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        encode_sms(number, "x")


def test_bad_text_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        encode_sms("123", "")
    with pytest.raises(ValueError, match="surrogate"):
        encode_sms("123", "a\ud800b")
    with pytest.raises(ValueError, match="at most 255"):
        encode_sms("123", "ş" * (67 * 255 + 1))


_GSM_CHARS = [c for i, c in enumerate(GSM7_DEFAULT) if i != 0x1B] + list(GSM7_EXTENSION)


@given(st.text(alphabet=st.sampled_from(_GSM_CHARS), min_size=1, max_size=400))
def test_gsm7_round_trip(text: str) -> None:
    parts = [decode_submit(p.pdu) for p in encode_sms("+905321234567", text, reference=3)]
    assert "".join(p.text for p in parts) == text
    assert not any(p.ucs2 for p in parts)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300))
def test_any_text_round_trips(text: str) -> None:
    parts = [decode_submit(p.pdu) for p in encode_sms("+905321234567", text, reference=3)]
    assert "".join(p.text for p in parts) == text
