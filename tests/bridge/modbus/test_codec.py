"""Decoding registers: every type and word order, scaling, bits, and no invented zeros."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware_bridge.modbus import DataType, Point, decode_point, decode_raw, encode_raw


@pytest.mark.parametrize(
    ("data_type", "order", "registers", "expected"),
    [
        (DataType.INT16, "big", [0xFF9C], -100),
        (DataType.UINT16, "big", [0xFF9C], 65436),
        (DataType.INT32, "big", [0xFFFF, 0xFF9C], -100),
        (DataType.INT32, "little", [0x08FC, 0x0000], 2300),  # EM24 230.0 V (×0.1), LSW first
        (DataType.UINT32, "big", [0x0001, 0x0000], 65536),
        (DataType.UINT32, "little", [0x0000, 0x0001], 65536),
        (DataType.FLOAT32, "big", [0x4366, 0x0000], 230.0),  # SDM630 voltage, ABCD
        (DataType.FLOAT32, "little", [0x0000, 0x4366], 230.0),
        (DataType.INT64, "big", [0, 0, 0x00BC, 0x614E], 12_345_678),  # iEM3000 energy, Wh
        (DataType.INT64, "little", [0x614E, 0x00BC, 0, 0], 12_345_678),
        (DataType.INT64, "big", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], -2),
        (DataType.UINT64, "big", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], 2**64 - 2),
    ],
)
def test_decode_raw(data_type: DataType, order: str, registers: list[int], expected: float) -> None:
    copy = list(registers)
    assert decode_raw(data_type, order, registers) == expected  # type: ignore[arg-type]
    assert registers == copy  # the caller's list is never modified
    assert encode_raw(data_type, order, expected) == registers  # type: ignore[arg-type]


def _point(**kw: object) -> Point:
    base: dict[str, object] = {
        "key": "v",
        "name": "v",
        "address": 0,
        "function_code": 3,
        "type": DataType.UINT16,
        "word_order": "big",
    }
    base.update(kw)
    return Point(**base)  # type: ignore[arg-type]


def test_scale_offset_and_scale_by() -> None:
    assert decode_point(_point(scale=0.1), [2301]) == {"v": pytest.approx(230.1)}
    assert decode_point(_point(scale=0.5, offset=-40), [100]) == {"v": 10.0}
    kael_current = _point(scale=0.001, scale_by="ct_ratio")
    assert decode_point(kael_current, [1250], {"ct_ratio": 40}) == {"v": pytest.approx(50.0)}
    assert decode_point(kael_current, [1250], {"ct_ratio": None}) == {"v": None}
    assert decode_point(_point(), [7]) == {"v": 7}  # unscaled integers stay integers


def test_bitfield_gives_bools_per_bit() -> None:
    from hardware_bridge.modbus import Bit

    point = _point(bits=(Bit(bit=0, key="k1", name="K1"), Bit(bit=9, key="ind", name="I")))
    assert decode_point(point, [0x0201]) == {"v": 0x0201, "k1": True, "ind": True}
    assert decode_point(point, [0x0001]) == {"v": 1, "k1": True, "ind": False}


def test_nan_and_sentinels_are_unavailable_not_zero() -> None:
    nan = _point(type=DataType.FLOAT32)
    assert decode_point(nan, [0x7FC0, 0x0000]) == {"v": None}
    assert decode_point(nan, [0x7F80, 0x0000]) == {"v": None}  # +inf
    counter = _point(type=DataType.UINT32, invalid_raw=(0xFFFFFFFF,), scale=0.01)
    assert decode_point(counter, [0xFFFF, 0xFFFF]) == {"v": None}
    assert decode_point(counter, [0, 100]) == {"v": 1.0}


_ints = {
    DataType.INT16: st.integers(-(2**15), 2**15 - 1),
    DataType.UINT16: st.integers(0, 2**16 - 1),
    DataType.INT32: st.integers(-(2**31), 2**31 - 1),
    DataType.UINT32: st.integers(0, 2**32 - 1),
    DataType.INT64: st.integers(-(2**63), 2**63 - 1),
    DataType.UINT64: st.integers(0, 2**64 - 1),
}


@given(st.data())
def test_encode_decode_round_trip(data: st.DataObject) -> None:
    data_type = data.draw(st.sampled_from(list(DataType)))
    order = data.draw(st.sampled_from(["big", "little"]))
    if data_type is DataType.FLOAT32:
        value: float = data.draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    else:
        value = data.draw(_ints[data_type])
    words = encode_raw(data_type, order, value)  # type: ignore[arg-type]
    back = decode_raw(data_type, order, words)  # type: ignore[arg-type]
    assert back == value or (math.isnan(back) and math.isnan(value))
