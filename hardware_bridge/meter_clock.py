"""Meter clock readings: the meter's date/time (0.9.2 + 0.9.1) and maximum-demand time stamps.

Meters keep local time and write it in several shapes: ``23-06-14`` / ``2023-06-14`` /
``0170318`` (Iskra: ``0YYMMDD``) for the date, ``16:55:35`` / ``201455`` for the time, and
``23-06-06,18:45`` / ``1703100930`` (``YYMMDDhhmm``) for a maximum-demand time stamp.
``00-00-00,00:00`` means "never" and gives ``None``.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

__all__ = ["parse_meter_date_time", "parse_meter_stamp"]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _build(date: str, clock: str, tz: tzinfo) -> datetime | None:
    if len(date) == 7 and date.startswith("0"):
        date = date[1:]
    if len(date) == 6:
        date = "20" + date
    if len(date) != 8 or len(clock) not in (4, 6):
        return None
    clock = clock.ljust(6, "0")
    try:
        return datetime(
            int(date[:4]),
            int(date[4:6]),
            int(date[6:8]),
            int(clock[:2]),
            int(clock[2:4]),
            int(clock[4:6]),
            tzinfo=tz,
        )
    except ValueError:
        return None  # 00-00-00 (never), 99-99-99 (no record) or garbage


def parse_meter_date_time(date_text: str, time_text: str, tz: tzinfo) -> datetime | None:
    """The meter's clock from its 0.9.2 (date) and 0.9.1 (time) values, or None."""
    return _build(_digits(date_text), _digits(time_text), tz)


def parse_meter_stamp(text: str, tz: tzinfo) -> datetime | None:
    """A ``YY-MM-DD,hh:mm`` or ``YYMMDDhhmm`` time stamp (maximum demand), or None."""
    if "," in text:
        date, _, clock = text.partition(",")
        return _build(_digits(date), _digits(clock), tz)
    digits = _digits(text)
    if len(digits) not in (10, 12):
        return None
    return _build(digits[:6], digits[6:], tz)
