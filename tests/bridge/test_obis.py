"""OBIS codes become measurements with stable keys; nothing unknown is dropped."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hardware_bridge import meter_specs
from hardware_bridge.iec62056 import DataSet, Value, parse_datasets, parse_readout
from hardware_bridge.meter_clock import parse_meter_stamp
from hardware_bridge.obis import (
    OBIS_TABLE,
    MeterValues,
    lookup,
    map_datasets,
    normalise_code,
    parse_integer,
    parse_number,
)
from hardware_bridge.simulators.iec_meter import load_telegram, shipped_telegrams

SAMPLES = Path(__file__).parent / "iec62056" / "samples"
ISTANBUL = timezone(timedelta(hours=3))


def _map(text: str) -> MeterValues:
    return map_datasets(parse_datasets(text), ISTANBUL)


def _sample(name: str) -> MeterValues:
    return map_datasets(parse_readout((SAMPLES / name).read_bytes()).datasets, ISTANBUL)


def _readouts() -> dict[str, MeterValues]:
    """Every real readout we have: the samples and the simulator's telegrams."""
    out: dict[str, MeterValues] = {}
    for path in sorted(SAMPLES.glob("*.txt")):
        if "loadprofile" not in path.name:
            out[path.stem] = _sample(path.name)
    for name in shipped_telegrams():
        out[f"telegram {name}"] = map_datasets(load_telegram(name)[1], ISTANBUL)
    return out


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


def test_makel_status_values_are_typed_not_raw_text() -> None:
    values = _sample("tr_makel_c520_techviewer.txt")
    assert values.value("billing_period_count") == 42
    assert isinstance(values.value("billing_period_count"), int)
    assert values.value("battery_low") is False  # 96.6.1(1): battery full
    assert values.value("terminal_cover_opened") is None  # 00-00-00,00:00: never opened
    assert values.value("top_cover_opened") is None
    assert values.value("production_date") == date(2018, 11, 27)
    assert values.value("calibration_date") == date(2018, 11, 27)
    assert values.value("meter_date") == date(2023, 6, 14)
    assert values.value("meter_time") == "16:55:35"
    assert values.sent("meter_date") == "2023-06-14"


def test_luna_cover_opening_is_a_time_stamp_in_the_meters_zone() -> None:
    values = _sample("tr_luna_embedded4ever.txt")
    assert values.value("terminal_cover_opened") == datetime(2020, 2, 1, 0, 0, tzinfo=ISTANBUL)
    assert values.value("top_cover_opened") is None
    assert values.value("meter_date") == date(2020, 4, 6)
    assert values.value("billing_period_count") == 23
    assert values.value("battery_low") is False


def test_iskra_clock_in_its_own_shapes() -> None:
    values = _sample("iskra_mt174_smartmeter-obis.txt")
    assert values.value("meter_date") == date(2017, 3, 18)  # 0170318
    assert values.value("meter_time") == "20:14:55"  # 201455
    assert values.value("billing_period_count") == 33


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("96.6.1(0)", "battery_low", True),  # Annex C: 0 weak
        ("96.6.1(1)", "battery_low", False),  # 1 full
        ("96.6.1(7)", "battery_low", None),  # not in the table: unknown, not a guess
        ("0.1.0(4.5)", "billing_period_count", None),
        ("0.1.0()", "billing_period_count", None),
        ("96.1.3(00-00-00)", "production_date", None),
        ("96.71(99-99-99,99:99)", "terminal_cover_opened", None),
        ("96.70(garbage)", "top_cover_opened", None),
        ("0.9.1(25:61:00)", "meter_time", None),
    ],
)
def test_values_that_do_not_fit_their_kind_are_unknown(text: str, key: str, value: object) -> None:
    assert _map(text).value(key) is value


_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "number": (float,),
    "integer": (int,),
    "flag": (bool,),
    "date": (date,),
    "timestamp": (datetime,),
    "time": (str,),
    "text": (str,),
}


@pytest.mark.parametrize("name", sorted(_readouts()))
def test_every_value_of_every_readout_has_its_kinds_type(name: str) -> None:
    values = _readouts()[name]
    for measurement in (*values.measurements.values(), *values.history):
        definition = OBIS_TABLE[measurement.code]
        value = measurement.value
        if value is None:
            continue
        assert isinstance(value, _KIND_TYPES[definition.kind]), (name, measurement.code, value)
        assert not isinstance(value, bool) or definition.kind == "flag", (name, measurement.code)
        if definition.kind == "date":
            assert not isinstance(value, datetime), (name, measurement.code)
        if definition.kind == "timestamp":
            assert isinstance(value, datetime)
            assert value.tzinfo is ISTANBUL, (name, measurement.code)
        if definition.kind in ("text", "time"):
            assert not re.fullmatch(r"[0\W]*", value) or definition.key == "status_word", (
                name,
                measurement.code,
                value,
            )


@pytest.mark.parametrize(
    "name",
    sorted(
        k
        for k, v in _readouts().items()
        if v.value("meter_date") is not None and not k.startswith("telegram")
    ),
)
def test_no_date_in_a_real_readout_is_after_the_meters_own_date(name: str) -> None:
    """Year first (TEDAŞ YY-MM-DD): read day first, Makel's production date 18-11-27 would be
    2027, after the readout's own date — the samples settle the order. Maximum demand time
    stamps (Makel 23-06-06,18:45; Iskra 1703100930) lie before their meters' clocks too."""
    values = _readouts()[name]
    today = values.value("meter_date")
    assert isinstance(today, date)
    found = 0
    for measurement in (*values.measurements.values(), *values.history):
        # the value, and the time stamp of a maximum demand (its second value group)
        stamp = parse_meter_stamp(measurement.timestamp or "", ISTANBUL)
        for value in (measurement.value, stamp):
            day = value.date() if isinstance(value, datetime) else value
            if isinstance(day, date) and measurement.key != "meter_date":
                found += 1
                assert day <= today, (name, measurement.code, day, today)
    assert found >= 2, name


def test_meter_specs_follow_the_kinds() -> None:
    specs = {s.key: s for s in meter_specs()}
    assert (specs["billing_period_count"].kind, specs["billing_period_count"].precision) == (
        "number",
        0,
    )
    assert specs["battery_low"].kind == "bool"
    assert specs["battery_low"].device_class == "battery"
    for key in ("production_date", "calibration_date", "meter_date"):
        assert (specs[key].kind, specs[key].device_class) == ("date", "date"), key
    for key in ("top_cover_opened", "terminal_cover_opened"):
        assert (specs[key].kind, specs[key].device_class) == ("timestamp", "timestamp"), key
    for key in ("meter_serial", "firmware_version", "meter_time", "status_word"):
        assert specs[key].kind == "text", key


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
    assert parse_integer("042") == 42
    assert parse_integer("4.0") is None
