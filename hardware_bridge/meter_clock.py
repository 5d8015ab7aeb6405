"""Dates and times as meters write them: the meter's clock, event time stamps, calendar dates.

Field order. TEDAŞ-MLZ/2017-062.B Annex C gives every date as ``YY-MM-DD`` (``0.9.2(23-06-30)``,
``96.1.3(23-06-30)``) and every time stamp as ``YY-MM-DD,hh:mm`` (``1.6.0(…)(17-02-01,13:30)``),
year first. The shipped samples agree, and rule out day first: the Makel readout dated
``0.9.2`` 2023-06-14 carries the production date ``96.1.3(18-11-27)`` — day first that would be
18 November 2027, after the readout — and its maximum demand ``23-06-06,18:45`` is eight days
before its clock; the Luna readout's clock ``20-04-06`` matches its outage records
``20-04-03…20-04-06``. Iskra writes ``0YYMMDD`` / ``hhmmss`` (``0.9.2(0170318)``,
``0.9.1(201455)``) and stamps as ``YYMMDDhhmm`` (``1.6.0(…)(1703100930)``, ten days before its
clock). Readers that rewrite the date add the century (``2023-06-14``).

Two-digit years. IEC 62056-21 meters (IEC 1107, 1992) did not exist before 1980: ``80``–``99``
are 1980–1999 and ``00``–``79`` are 2000–2079.

No event. ``00-00-00,00:00`` is what a meter sends for an event that never happened (a cover
never opened, no maximum demand yet); ``99-99-99,99:99`` an empty record. Both give ``None``,
as does anything that is not a real date — never a made-up one.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

__all__ = [
    "parse_meter_date",
    "parse_meter_date_time",
    "parse_meter_stamp",
    "parse_meter_time",
]

_PIVOT = 80  # two-digit years below this are 20YY, from it 19YY


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _day(digits: str) -> date | None:
    """``YYMMDD``, ``0YYMMDD`` (Iskra) or ``YYYYMMDD`` → a date; None for no/invalid date."""
    if len(digits) == 7 and digits.startswith("0"):
        digits = digits[1:]
    if len(digits) == 6:
        two = int(digits[:2])
        digits = str((2000 if two < _PIVOT else 1900) + two) + digits[2:]
    if len(digits) != 8:
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None  # 00-00-00 (never), 99-99-99 (no record) or garbage


def _clock(digits: str) -> tuple[int, int, int] | None:
    """``hhmm`` or ``hhmmss`` → (h, m, s); None if not a time of day."""
    if len(digits) not in (4, 6):
        return None
    digits = digits.ljust(6, "0")
    hour, minute, second = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def _build(day_digits: str, clock_digits: str, tz: tzinfo) -> datetime | None:
    day, clock = _day(day_digits), _clock(clock_digits)
    if day is None or clock is None:
        return None
    return datetime(day.year, day.month, day.day, *clock, tzinfo=tz)


def parse_meter_date(text: str) -> date | None:
    """A calendar date (``0.9.2``, production and calibration dates), or None."""
    return _day(_digits(text))


def parse_meter_time(text: str) -> str | None:
    """The meter's time of day (``0.9.1``) as ``hh:mm:ss``: ``16:55:35``, ``201455``."""
    clock = _clock(_digits(text))
    return None if clock is None else "{:02d}:{:02d}:{:02d}".format(*clock)


def parse_meter_date_time(date_text: str, time_text: str, tz: tzinfo) -> datetime | None:
    """The meter's clock from its 0.9.2 (date) and 0.9.1 (time) values, or None."""
    return _build(_digits(date_text), _digits(time_text), tz)


def parse_meter_stamp(text: str, tz: tzinfo) -> datetime | None:
    """A ``YY-MM-DD,hh:mm`` or ``YYMMDDhhmm`` time stamp in the meter's zone ``tz``, or None."""
    if "," in text:
        day, _, clock = text.partition(",")
        return _build(_digits(day), _digits(clock), tz)
    digits = _digits(text)
    if len(digits) not in (10, 12):
        return None
    return _build(digits[:6], digits[6:], tz)
