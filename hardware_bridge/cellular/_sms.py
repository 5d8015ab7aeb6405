"""SMS-SUBMIT PDUs (3GPP TS 23.040 §9.2.2.2) with GSM 7-bit or UCS-2 text (TS 23.038).

Pure functions, no I/O. The encoding choice is the safe default of ModemManager and Android:
the GSM default alphabet (and its extension table, each extension character costing two
septets, ``ESC`` + code) when every character fits, else UCS-2. The Turkish national language
shift tables are not used, so ç ğ ı İ ş Ş Ğ force UCS-2 while Ç Ö ö Ü ü stay GSM-7.

A message longer than one part (160 septets / 70 UCS-2 units) is split into parts of 153
septets or 67 UTF-16 units, each with the concatenation element ``05 00 03 ref total seq``
(8-bit reference). A part never ends between ``ESC`` and its code, nor between the halves of
a surrogate pair. With the 6-octet header, GSM-7 text starts after one fill bit.

Layout of one SUBMIT as sent after ``AT+CMGS=<tpdu octets>``::

    00            SMSC: length 0 = use the one stored on the SIM (not counted in <length>)
    11 | 51       MTI=01 SUBMIT, VPF=10 relative; 0x40 = UDHI when a header is present
    00            TP-MR (the modem fills in its own reference)
    LL TT digits  destination: digit count, 0x91 international / 0x81 unknown (national), BCD
    00            TP-PID
    00 | 08       TP-DCS: GSM 7-bit / UCS-2
    FF            TP-VP relative: the longest the SMSC allows
    UDL UD        septets (GSM-7, header included) or octets (UCS-2)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "GSM7_DEFAULT",
    "GSM7_EXTENSION",
    "MAX_PARTS",
    "DecodedSubmit",
    "SmsPart",
    "decode_submit",
    "encode_sms",
    "gsm7_septets",
    "pack_septets",
    "parse_number",
    "unpack_septets",
]

_ESC = 0x1B
GSM7_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""TS 23.038 §6.2.1 default alphabet, indexed by septet (0x1B is the escape, not a char)."""
assert len(GSM7_DEFAULT) == 128

GSM7_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
"""TS 23.038 §6.2.1.1 default extension table: sent as ``ESC`` + code (two septets)."""

_TO_GSM7 = {char: code for code, char in enumerate(GSM7_DEFAULT) if code != _ESC}
_FROM_EXTENSION = {code: char for char, code in GSM7_EXTENSION.items()}

MAX_PARTS = 255
_SINGLE_SEPTETS, _PART_SEPTETS = 160, 153
_SINGLE_UNITS, _PART_UNITS = 70, 67
_CONCAT_UDH_LEN = 6  # UDHL 05, IEI 00, IEL 03, ref, total, seq
_DCS_GSM7, _DCS_UCS2 = 0x00, 0x08
_VP_MAX = 0xFF
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
_NUMBER_SEPARATORS = re.compile(r"[ \-().]")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsPart:
    """One PDU to send: ``AT+CMGS=<tpdu_length>``, then ``pdu`` (hex) and Ctrl-Z."""

    pdu: str
    tpdu_length: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedSubmit:
    """What an SMS-SUBMIT PDU carries (used by the simulator and by tests)."""

    number: str
    """Destination with ``+`` when the type of number is international."""
    text: str
    ucs2: bool
    concat: tuple[int, int, int] | None
    """(reference, total, sequence) from an 8-bit or 16-bit concatenation element."""
    validity: int


def parse_number(number: str) -> tuple[str, bool]:
    """``(digits, international)`` of a phone number, or ``ValueError`` naming the problem.

    ``+90 532 123 45 67`` and ``0532-123-45-67`` are accepted (spaces, dashes, dots and
    brackets are dropped); a ``+`` makes the type of number international (0x91).
    """
    compact = _NUMBER_SEPARATORS.sub("", number)
    if not _NUMBER.fullmatch(compact):
        raise ValueError(
            f"not a phone number: {number!r} (digits with an optional leading +, 3 to 20 digits)"
        )
    return compact.lstrip("+"), compact.startswith("+")


def _address(digits: str, international: bool) -> bytes:
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if international else 0x81]) + bytes.fromhex(swapped)


def gsm7_septets(text: str) -> list[list[int]] | None:
    """Septets per character (one, or ``ESC`` + code), or None if a character does not fit."""
    out: list[list[int]] = []
    for char in text:
        code = _TO_GSM7.get(char)
        if code is not None:
            out.append([code])
            continue
        ext = GSM7_EXTENSION.get(char)
        if ext is None:
            return None
        out.append([_ESC, ext])
    return out


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed LSB first (TS 23.038 §6.1.2.1.1), after ``fill_bits`` zero bits."""
    acc, bits, out = 0, fill_bits, bytearray()
    for septet in septets:
        acc |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """The inverse of :func:`pack_septets`: ``count`` septets after ``fill_bits``."""
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def _split(units: list[list[int]], single: int, per_part: int) -> list[list[int]]:
    """Whole units (an escape pair, a surrogate pair) into parts of at most ``per_part``."""
    if sum(len(unit) for unit in units) <= single:
        return [[value for unit in units for value in unit]]
    parts: list[list[int]] = [[]]
    for unit in units:
        if len(parts[-1]) + len(unit) > per_part:
            parts.append([])
        parts[-1].extend(unit)
    return parts


def _utf16_units(text: str) -> list[list[int]]:
    try:
        raw = text.encode("utf-16-be")
    except UnicodeEncodeError:
        raise ValueError("the text contains an unpaired surrogate") from None
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    units: list[list[int]] = []
    i = 0
    while i < len(words):
        size = 2 if 0xD800 <= words[i] <= 0xDBFF else 1
        units.append(words[i : i + size])
        i += size
    return units


def encode_sms(number: str, text: str, *, reference: int = 0) -> list[SmsPart]:
    """The SUBMIT PDUs that carry ``text`` to ``number``; ``reference`` (0..255) is the
    concatenation reference shared by the parts of this one message.

    Raises ``ValueError`` for an empty text, a bad number, or more than 255 parts.
    """
    if not text:
        raise ValueError("the text is empty")
    if not 0 <= reference <= 255:
        raise ValueError(f"concatenation reference must be 0..255, not {reference}")
    digits, international = parse_number(number)
    header = bytes([0x00]) + bytes([0x00]) + _address(digits, international)  # SMSC, MR later
    septet_units = gsm7_septets(text)
    if septet_units is not None:
        parts = _split(septet_units, _SINGLE_SEPTETS, _PART_SEPTETS)
        dcs = _DCS_GSM7
    else:
        parts = _split(_utf16_units(text), _SINGLE_UNITS, _PART_UNITS)
        dcs = _DCS_UCS2
    if len(parts) > MAX_PARTS:
        raise ValueError(f"the text needs {len(parts)} parts; at most {MAX_PARTS} are possible")
    result: list[SmsPart] = []
    for seq, part in enumerate(parts, start=1):
        udh = b"" if len(parts) == 1 else bytes([5, 0, 3, reference, len(parts), seq])
        if dcs == _DCS_GSM7:
            header_septets = (len(udh) * 8 + 6) // 7
            fill = header_septets * 7 - len(udh) * 8
            user_data = udh + pack_septets(part, fill)
            udl = header_septets + len(part)
        else:
            user_data = udh + b"".join(word.to_bytes(2, "big") for word in part)
            udl = len(user_data)
        first = 0x11 | (0x40 if udh else 0)
        tpdu = (
            bytes([first]) + header[1:2] + header[2:] + bytes([0x00, dcs, _VP_MAX, udl]) + user_data
        )
        result.append(SmsPart(pdu=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu)))
    return result


def _decode_address(data: bytes, pos: int) -> tuple[str, int]:
    count, ton = data[pos], data[pos + 1]
    octets = (count + 1) // 2
    raw = data[pos + 2 : pos + 2 + octets].hex().upper()
    digits = "".join(raw[i + 1] + raw[i] for i in range(0, len(raw), 2))[:count]
    if not digits.isdigit() or len(digits) != count:
        raise ValueError("the destination address is not a BCD number")
    return ("+" if ton & 0x70 == 0x10 else "") + digits, pos + 2 + octets


def decode_submit(pdu: str) -> DecodedSubmit:
    """Decode an SMS-SUBMIT given as hex with its SMSC prefix; ``ValueError`` if malformed."""
    try:
        data = bytes.fromhex(pdu)
        pos = 1 + data[0]  # skip the SMSC part
        first = data[pos]
        if first & 0x03 != 0x01:
            raise ValueError("not an SMS-SUBMIT")
        number, pos = _decode_address(data, pos + 2)
        _pid, dcs = data[pos], data[pos + 1]
        pos += 2
        vpf = (first >> 3) & 0x03
        validity = data[pos] if vpf == 2 else -1
        pos += {0: 0, 2: 1}.get(vpf, 7)
        udl = data[pos]
        user_data = data[pos + 1 :]
    except IndexError:
        raise ValueError("the PDU is shorter than its fields") from None
    ucs2 = dcs & 0x0C == 0x08
    if dcs & 0x0C not in (0x00, 0x08):
        raise ValueError(f"unsupported data coding scheme 0x{dcs:02X}")
    concat: tuple[int, int, int] | None = None
    udh_octets = 0
    if first & 0x40:
        udh_octets = user_data[0] + 1
        concat = _concat_element(user_data[1:udh_octets])
    if ucs2:
        body = user_data[udh_octets:udl]
        if len(user_data) != udl or len(body) % 2:
            raise ValueError("UCS-2 user data length does not match UDL")
        text = body.decode("utf-16-be", errors="strict")
    else:
        header_septets = (udh_octets * 8 + 6) // 7
        fill = header_septets * 7 - udh_octets * 8
        count = udl - header_septets
        if len(user_data) != (udl * 7 + 7) // 8:
            raise ValueError("GSM 7-bit user data length does not match UDL")
        text = _decode_gsm7(unpack_septets(user_data[udh_octets:], count, fill))
    return DecodedSubmit(number=number, text=text, ucs2=ucs2, concat=concat, validity=validity)


def _concat_element(elements: bytes) -> tuple[int, int, int] | None:
    pos = 0
    while pos + 1 < len(elements):
        iei, length = elements[pos], elements[pos + 1]
        value = elements[pos + 2 : pos + 2 + length]
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        pos += 2 + length
    return None


def _decode_gsm7(septets: list[int]) -> str:
    out: list[str] = []
    escaped = False
    for septet in septets:
        if escaped:
            out.append(_FROM_EXTENSION.get(septet, GSM7_DEFAULT[septet]))
            escaped = False
        elif septet == _ESC:
            escaped = True
        else:
            out.append(GSM7_DEFAULT[septet])
    return "".join(out)
