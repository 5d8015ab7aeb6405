"""Data-set quirks seen in real telegrams (NOTES: "Data sets")."""

from __future__ import annotations

import pytest

from hardware_bridge.iec62056 import (
    DataSet,
    DataSetError,
    Value,
    parse_datasets,
    scan_datasets,
)


def _one(text: str) -> DataSet:
    [dataset] = parse_datasets(text)
    return dataset


def test_several_value_groups() -> None:
    dataset = _one("1.6.0(003.264*kW)(23-06-06,18:45)\r\n")
    assert dataset.values == (Value(value="003.264", unit="kW"), Value(value="23-06-06,18:45"))


def test_history_suffix_is_split_at_the_first_parenthesis() -> None:
    dataset = _one("1.8.0*1(000041.396*kWh)")
    assert dataset.address == "1.8.0*1"
    assert dataset.code == "1.8.0"
    assert dataset.history == 1
    assert dataset.values[0] == Value(value="000041.396", unit="kWh")


def test_full_obis_form_with_255_is_current() -> None:
    dataset = _one("1-0:1.8.0*255(0008048.375*kWh)")
    assert (dataset.code, dataset.history) == ("1-0:1.8.0", None)
    assert _one("0-0:C.51.2*02(0131211111412)").history == 2


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("5.8.0(000014.642*kVArh)", "kVArh"),
        ("5.8.0(000014.642*kVarh)", "kVarh"),
        ("5.8.0(000014.642*kvarh)", "kvarh"),
        ("1.8.0(000123.456*MWh)", "MWh"),
        ("13.7.0(098.1*%)", "%"),
        ("C.13.21(00000001*secs)", "secs"),
    ],
)
def test_units_exactly_as_sent(text: str, unit: str) -> None:
    assert _one(text).values[0].unit == unit


def test_text_values_with_spaces_colons_commas() -> None:
    assert _one("0.9.1(14:03:45)").value == "14:03:45"
    assert _one("96.77.0*1(23-06-03,03:46,23-06-03,03:49)").value == (
        "23-06-03,03:46,23-06-03,03:49"
    )
    assert _one("C.5.0(L1 - L2 - L3)").value == "L1 - L2 - L3"


def test_empty_value_and_signed_values_with_spaces() -> None:
    assert _one("96.13.0()").values == (Value(value=""),)
    assert _one("31.7.0( 001.67*A)").values[0] == Value(value="001.67", unit="A")
    assert _one("31.7.0(+000.8*A)").value == "+000.8"
    assert _one("0.0.0( 20000)").value == "20000"


def test_leading_spaces_and_bang_glued_to_last_set() -> None:
    scan = scan_datasets("  0.0.0(69205929)\r\n   1.4.0(000.000*kW)!")
    assert [d.address for d in scan.datasets] == ["0.0.0", "1.4.0"]
    assert scan.ended


def test_cr_less_lines_and_several_sets_on_one_line() -> None:
    sets = parse_datasets("1.8.1(1*kWh)\n1.8.2(2*kWh)1.8.3(3*kWh)\n!\n")
    assert [(d.address, d.value) for d in sets] == [("1.8.1", "1"), ("1.8.2", "2"), ("1.8.3", "3")]


def test_status_words() -> None:
    assert _one("F.F(00000000)").address == "F.F"
    assert _one("0-0:F.F.0*255(0000000)").code == "0-0:F.F.0"


def test_text_after_bang_is_ignored() -> None:
    assert len(parse_datasets("1.8.0(1)\r\n!\r\n1.8.1(2)\r\n")) == 1


def test_strict_rejects_junk_lenient_skips_it() -> None:
    text = "1.8.0(013925.5*)Y\x02\x02\x01\x00!\r\n"
    with pytest.raises(DataSetError):
        parse_datasets(text)
    scan = scan_datasets(text, strict=False)
    assert [d.address for d in scan.datasets] == ["1.8.0"]
    assert scan.datasets[0].values[0] == Value(value="013925.5", unit=None)
    assert scan.junk == ("Y\x02\x02\x01\x00",)


@pytest.mark.parametrize("text", ["1.8.0(123\r\n1.8.1(2)", "1 8 0(1)", "1.8.0(1\x02)"])
def test_malformed_sets_are_typed_errors(text: str) -> None:
    with pytest.raises(DataSetError):
        parse_datasets(text)
    scan_datasets(text, strict=False)  # never raises


def test_bytes_input() -> None:
    assert parse_datasets(b"1.8.0(1*kWh)")[0].unit == "kWh"
