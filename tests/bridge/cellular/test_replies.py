"""Reply parsers against real lines quoted in the reference (at_modem.md §2–§6)."""

from __future__ import annotations

import pytest

from hardware_bridge.cellular import (
    csq_to_dbm,
    parse_cops,
    parse_cpin,
    parse_cpsi,
    parse_csq,
    parse_qeng_servingcell,
    parse_registration,
    vendor_of,
)


@pytest.mark.parametrize(
    ("rssi", "dbm"), [(0, -113), (1, -111), (2, -109), (30, -53), (31, -51), (99, None), (32, None)]
)
def test_csq_scale(rssi: int, dbm: int | None) -> None:
    assert csq_to_dbm(rssi) == dbm


def test_csq_lines() -> None:
    assert parse_csq(("+CSQ: 28,0",)) == -57  # Quectel M26 dump
    assert parse_csq(("+CSQ: 22,99",)) == -69  # EC200U report
    assert parse_csq(("+CSQ: 99,99",)) is None


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("+CPIN: READY", "ready"),
        ('+CPIN: "READY"', "ready"),  # Motorola quotes it
        ("+CPIN: SIM PIN", "pin_required"),
        ("+CPIN: SIM PUK", "puk_required"),
        ("+CPIN: SIM PIN2", "pin_required"),
        ("+CPIN: PH-SIM PIN", "pin_required"),
        ("+CPIN: NOT INSERTED", "absent"),
    ],
)
def test_cpin(line: str, state: str) -> None:
    assert parse_cpin((line,)) == state


@pytest.mark.parametrize(
    ("lines", "name", "state"),
    [
        (("+CREG: 0,2",), "CREG", "searching"),  # SIM800L, polled until …
        (("+CREG: 0,1",), "CREG", "home"),
        (("+CREG: 0,5",), "CREG", "roaming"),  # M26 roaming
        (("+CEREG: 0,1",), "CEREG", "home"),  # EC200U
        (('+CEREG: 2,1,"DE10","5A29C0B",7',), "CEREG", "home"),
        (("+CGREG: 0,3",), "CGREG", "denied"),
        (("+CGREG: 0,0",), "CGREG", "unknown"),
        (("+CGREG: 0,4",), "CGREG", "unknown"),
    ],
)
def test_registration(lines: tuple[str, ...], name: str, state: str) -> None:
    assert parse_registration(lines, name) == state


@pytest.mark.parametrize(
    ("line", "name", "technology"),
    [
        ('+COPS: 0,0,"Turkcell",7', "Turkcell", "4G"),
        ('+COPS: 0,0,"TURKCELL",0', "TURKCELL", "2G"),
        ('+COPS: 0,0,"CHINA MOBILE",7', "CHINA MOBILE", "4G"),
        ('+COPS: 0,2,"28602",13', "28602", "4G"),
        ('+COPS: 0,0,"Vodafone TR",2', "Vodafone TR", "3G"),
        ('+COPS: 0,0,"TURKCELL"', "TURKCELL", None),  # SIM800 prints no <AcT>
        ("+COPS: 0", None, None),
    ],
)
def test_cops(line: str, name: str | None, technology: str | None) -> None:
    operator = parse_cops((line,))
    assert (operator.name, operator.access_technology) == (name, technology)


def test_cpsi_tenths_from_the_sim7600_manual() -> None:
    line = "+CPSI: LTE,Online,404-45,0x21F9,322642,453,EUTRAN-BAND40,39275,4,4,-168,-1126,-773,7"
    signal = parse_cpsi((line,))
    assert signal is not None
    assert (signal.access_technology, signal.rsrq_db, signal.rsrp_dbm) == ("4G", -16.8, -112.6)
    assert (signal.rssi_dbm, signal.sinr_raw) == (-77.3, 7)
    no_service = parse_cpsi(("+CPSI: NO SERVICE,Online",))
    assert no_service is not None
    assert (no_service.access_technology, no_service.rsrp_dbm) == (None, None)


def test_qeng_lines_from_real_modules() -> None:
    eg25 = (
        '+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,'
        "-104,-9,-78,11,23"
    )
    signal = parse_qeng_servingcell((eg25,))
    assert signal is not None
    assert (signal.rsrp_dbm, signal.rsrq_db, signal.rssi_dbm, signal.sinr_raw) == (
        -104.0,
        -9.0,
        -78.0,
        11,
    )
    dashes = (
        '+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,-,-,-,-,-'
    )
    signal = parse_qeng_servingcell((dashes,))
    assert signal is not None
    assert (signal.access_technology, signal.rsrp_dbm, signal.sinr_raw) == ("4G", None, None)


@pytest.mark.parametrize(
    ("manufacturer", "model", "vendor"),
    [
        ("Quectel", "EC25", "quectel"),
        ("Quectel", "EG91", "quectel"),
        ("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H", "simcom_lte"),
        ("SIMCOM_Ltd", "SIMCOM_SIM800L", "simcom_2g"),
        (None, None, "other"),
    ],
)
def test_vendor(manufacturer: str | None, model: str | None, vendor: str) -> None:
    assert vendor_of(manufacturer, model) == vendor
