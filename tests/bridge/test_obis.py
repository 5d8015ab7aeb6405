"""OBIS codes become measurements with stable keys; nothing unknown is dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_bridge.iec62056 import DataSet, Value, parse_datasets, parse_readout
from hardware_bridge.obis import lookup, map_datasets, normalise_code, parse_number

SAMPLES = Path(__file__).parent / "iec62056" / "samples"


def _map(text: str):  # type: ignore[no-untyped-def]
    return map_datasets(parse_datasets(text))


def test_makel_kombi_meter_keys_units_and_classes() -> None:
    readout = parse_readout((SAMPLES / "tr_makel_c520_techviewer.txt").read_bytes())
    values = map_datasets(readout.datasets)
    m = values.measurements
    assert m["energy_import_total"].value == pytest.approx(70.677)
    assert m["energy_import_total"].unit == "kWh"
    assert m["energy_import_total"].device_class == "energy"
    assert m["energy_import_total"].state_class == "total_increasing"
    assert m["energy_import_t1"].value == pytest.approx(35.317)
    assert m["energy_import_t4"].value == 0.0
    assert m["reactive_inductive_total"].value == pytest.approx(14.642)
    assert m["reactive_inductive_total"].unit == "kvarh"
    assert m["reactive_capacitive_total"].value == pytest.approx(62.419)
    assert m["max_demand"].value == pytest.approx(3.264)
    assert m["max_demand"].timestamp == "23-06-06,18:45"
    assert m["voltage_l2"].value == pytest.approx(239.42)
    assert m["voltage_l2"].device_class == "voltage"
    assert m["current_l3"].value == pytest.approx(0.15)
    assert m["meter_serial"].value == "80221569"
    assert m["meter_time"].value == "16:55:35"
    assert m["battery_status"].value == "1"
    assert m["terminal_cover_opened"].value == "00-00-00,00:00"
    assert m["production_date"].value == "18-11-27"


def test_history_is_exposed_but_never_the_current_value() -> None:
    values = _map("1.8.0*1(000041.396*kWh)\r\n1.8.0(000070.677*kWh)\r\n1.8.0*2(000019.608*kWh)")
    assert values.value("energy_import_total") == pytest.approx(70.677)
    assert [(h.key, h.period, h.value) for h in values.history] == [
        ("energy_import_total", 1, pytest.approx(41.396)),
        ("energy_import_total", 2, pytest.approx(19.608)),
    ]


def test_full_obis_forms_map_like_short_ones() -> None:
    readout = parse_readout((SAMPLES / "iskra_mt174_smartmeter-obis.txt").read_bytes())
    values = map_datasets(readout.datasets)
    assert values.value("energy_import_total") == pytest.approx(8048.375)
    assert values.value("status_word") == "0000000"
    assert values.value("max_demand") == pytest.approx(2.468)
    assert len([h for h in values.history if h.key == "energy_import_total"]) == 15
    assert normalise_code("1-0:1.8.0*255") == ("1.8.0", None)
    assert normalise_code("0-0:C.51.2*02") == ("C.51.2", 2)


def test_unknown_codes_are_kept_raw() -> None:
    values = _map("96.50(06001700220099999999999999999999)\r\n1.8.0(1*kWh)\r\n96.77.0*1(x)")
    assert [d.address for d in values.extras] == ["96.50", "96.77.0*1"]
    assert set(values.measurements) == {"energy_import_total"}


def test_bidirectional_reactive_codes_have_their_own_keys() -> None:
    values = _map("6.8.0(000001.000*kVArh)\r\n7.8.0(000002.000*kVarh)\r\n2.8.0(3*kWh)")
    assert values.value("reactive_capacitive_export_total") == 1.0
    assert values.value("reactive_inductive_export_total") == 2.0
    assert values.value("energy_export_total") == 3.0


@pytest.mark.parametrize(
    ("text", "key", "value", "unit"),
    [
        ("1.8.0(000123.456*MWh)", "energy_import_total", 123456.0, "kWh"),
        ("1.8.0(1500*Wh)", "energy_import_total", 1.5, "kWh"),
        ("5.8.0(2000*varh)", "reactive_inductive_total", 2.0, "kvarh"),
        ("1.7.0(750*W)", "power_import", 0.75, "kW"),
        ("13.7.0(0.98)", "power_factor", 0.98, None),
        ("14.7.0(50.0*Hz)", "frequency", 50.0, "Hz"),
        ("31.7.0(+000.8*A)", "current_l1", 0.8, "A"),
        ("31.7.0( - 001.67*A)", "current_l1", -1.67, "A"),
    ],
)
def test_numbers_are_normalised(text: str, key: str, value: float, unit: str | None) -> None:
    measurement = _map(text).measurements[key]
    assert measurement.value == pytest.approx(value)
    assert measurement.unit == unit


def test_not_a_number_stays_unavailable_not_zero() -> None:
    values = _map("1.8.0(-----*kWh)")
    assert values.value("energy_import_total") is None


def test_second_code_for_a_key_is_kept_as_extra() -> None:
    values = _map("C.1.0(111)\r\n0.0.0(222)")
    assert values.value("meter_serial") == "111"
    assert values.extras == (DataSet(address="0.0.0", values=(Value(value="222"),)),)


def test_lookup_and_parse_number() -> None:
    definition = lookup("1-0:32.7.0*255")
    assert definition is not None
    assert definition.key == "voltage_l1"
    assert lookup("99.99.99") is None
    assert parse_number("abc") is None
    assert parse_number("") is None
    assert parse_number("007") == 7.0
