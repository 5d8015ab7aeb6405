"""Meter clocks and maximum-demand time stamps as real meters write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hardware_bridge.meter_clock import parse_meter_date_time, parse_meter_stamp

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
        ("12", None),
    ],
)
def test_maximum_demand_stamp(stamp: str, expected: datetime | None) -> None:
    assert parse_meter_stamp(stamp, UTC) == expected
