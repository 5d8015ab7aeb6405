"""Meter clocks and maximum-demand time stamps as real meters write them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from hardware_bridge.meter_clock import (
    parse_meter_date,
    parse_meter_date_time,
    parse_meter_stamp,
    parse_meter_time,
)

ISTANBUL = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("20-04-06", "14:03:45", datetime(2020, 4, 6, 14, 3, 45, tzinfo=ISTANBUL)),  # Luna
        ("2023-06-14", "16:55:35", datetime(2023, 6, 14, 16, 55, 35, tzinfo=ISTANBUL)),
        ("0170318", "201455", datetime(2017, 3, 18, 20, 14, 55, tzinfo=ISTANBUL)),  # Iskra
        ("00-00-00", "00:00:00", None),
        ("garbage", "12:00", None),
    ],
)
def test_meter_clock(date: str, time: str, expected: datetime | None) -> None:
    assert parse_meter_date_time(date, time, ISTANBUL) == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("23-06-06,18:45", datetime(2023, 6, 6, 18, 45, tzinfo=UTC)),  # Makel
        ("1703100930", datetime(2017, 3, 10, 9, 30, tzinfo=UTC)),  # Iskra
        ("00-00-00,00:00", None),  # never
        ("99-99-99,99:99", None),
        ("96-01-02,03:04", datetime(1996, 1, 2, 3, 4, tzinfo=UTC)),
        ("23-06-06,18:45:30", datetime(2023, 6, 6, 18, 45, 30, tzinfo=UTC)),
        ("12", None),
    ],
)
def test_maximum_demand_stamp(stamp: str, expected: datetime | None) -> None:
    assert parse_meter_stamp(stamp, UTC) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18-11-27", date(2018, 11, 27)),  # Makel 96.1.3: year first (TEDAŞ YY-MM-DD)
        ("2023-06-14", date(2023, 6, 14)),
        ("0170318", date(2017, 3, 18)),  # Iskra 0YYMMDD
        ("98-05-04", date(1998, 5, 4)),  # two-digit years from 80 are the 1900s
        ("79-12-31", date(2079, 12, 31)),
        ("00-00-00", None),  # no date recorded
        ("99-99-99", None),
        ("23-02-30", None),
        ("", None),
    ],
)
def test_meter_date(text: str, expected: date | None) -> None:
    assert parse_meter_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("16:55:35", "16:55:35"), ("201455", "20:14:55"), ("07:05", "07:05:00"), ("24:00:00", None)],
)
def test_meter_time_of_day(text: str, expected: str | None) -> None:
    assert parse_meter_time(text) == expected


def test_a_stamp_is_in_the_zone_given() -> None:
    stamp = parse_meter_stamp("20-02-01,00:00", ISTANBUL)
    assert stamp == datetime(2020, 1, 31, 21, 0, tzinfo=UTC)
    assert stamp is not None
    assert stamp.utcoffset() == timedelta(hours=3)
