"""Registers ⇄ values, done here rather than by pymodbus (whose converter has changed
behaviour between releases and reverses the caller's list in some of them).

A register is 16 bits, big-endian on the wire (Modbus Application Protocol V1.1b3 §4.2).
Multi-register values are split into words; ``word_order="big"`` sends the most significant
word first (ABCD), ``"little"`` the least significant first (CDAB, "word swapped").
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

from hardware_bridge.modbus._profile import REGISTER_WIDTH, DataType, Point, WordOrder

__all__ = [
    "decode_point",
    "decode_raw",
    "encode_raw",
    "engineering_value",
    "raw_for_value",
]

type Number = int | float

_SIGNED = {DataType.INT16, DataType.INT32, DataType.INT64}


def _words_to_int(words: Sequence[int], word_order: WordOrder) -> int:
    ordered = list(words) if word_order == "big" else list(reversed(words))
    value = 0
    for word in ordered:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"register value {word} is not 16-bit")
        value = (value << 16) | word
    return value


def _int_to_words(value: int, width: int, word_order: WordOrder) -> list[int]:
    words = [(value >> (16 * (width - 1 - i))) & 0xFFFF for i in range(width)]
    return words if word_order == "big" else list(reversed(words))


def decode_raw(data_type: DataType, word_order: WordOrder, registers: Sequence[int]) -> Number:
    """Turn the registers of one value into its raw number (no scaling)."""
    width = REGISTER_WIDTH[data_type]
    if len(registers) != width:
        raise ValueError(f"{data_type} needs {width} registers, got {len(registers)}")
    unsigned = _words_to_int(registers, word_order)
    if data_type is DataType.FLOAT32:
        result: float = struct.unpack(">f", unsigned.to_bytes(4, "big"))[0]
        return result
    bits = 16 * width
    if data_type in _SIGNED and unsigned >= 1 << (bits - 1):
        return unsigned - (1 << bits)
    return unsigned


def encode_raw(data_type: DataType, word_order: WordOrder, raw: Number) -> list[int]:
    """Inverse of :func:`decode_raw` (used by the simulator and tests)."""
    width = REGISTER_WIDTH[data_type]
    if data_type is DataType.FLOAT32:
        unsigned = int.from_bytes(struct.pack(">f", float(raw)), "big")
    else:
        bits = 16 * width
        value = int(raw)
        low = -(1 << (bits - 1)) if data_type in _SIGNED else 0
        high = (1 << (bits - 1)) - 1 if data_type in _SIGNED else (1 << bits) - 1
        if not low <= value <= high:
            raise ValueError(f"{value} does not fit {data_type}")
        unsigned = value & ((1 << bits) - 1)
    return _int_to_words(unsigned, width, word_order)


def _is_invalid(point: Point, registers: Sequence[int], raw: Number) -> bool:
    if isinstance(raw, float) and not math.isfinite(raw):
        return True
    if not point.invalid_raw:
        return False
    unsigned = _words_to_int(registers, point.word_order)
    return unsigned in point.invalid_raw or raw in point.invalid_raw


def engineering_value(point: Point, raw: Number, factor: Number = 1) -> Number:
    """``raw × scale × factor + offset``; integers stay integers when nothing scales them."""
    if point.scale == 1 and point.offset == 0 and factor == 1:
        return raw
    return raw * point.scale * factor + point.offset


def raw_for_value(point: Point, value: float, factor: Number = 1) -> Number:
    """The raw number a device would hold for an engineering value (rounded for integers)."""
    raw = (value - point.offset) / (point.scale * factor)
    if point.type is DataType.FLOAT32:
        return raw
    return round(raw)


def decode_point(
    point: Point,
    registers: Sequence[int],
    factors: Mapping[str, Number | None] | None = None,
) -> dict[str, Number | bool | None]:
    """Decode one point (and its bits) from exactly its registers.

    A NaN/infinite float, a sentinel from ``invalid_raw`` or a missing ``scale_by`` value
    gives None — never an invented 0.
    """
    raw = decode_raw(point.type, point.word_order, registers)
    out: dict[str, Number | bool | None] = {}
    if _is_invalid(point, registers, raw):
        out[point.key] = None
        for bit in point.bits:
            out[bit.key] = None
        return out
    factor: Number | None = 1
    if point.scale_by is not None:
        factor = (factors or {}).get(point.scale_by)
    # a missing or zero scale source (an unset CT ratio) cannot give a real value
    out[point.key] = None if not factor else engineering_value(point, raw, factor)
    for bit in point.bits:
        out[bit.key] = bool((int(raw) >> bit.bit) & 1)
    return out
