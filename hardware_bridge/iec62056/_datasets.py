"""Data sets of a readout: ``ADDRESS(value*unit)(value*unit)…`` (IEC 62056-21 clause 6.5).

The address ends at the first ``(`` — ``*`` appears both in history addresses
(``1.8.0*1``: billing period 1) and between value and unit, so it cannot split them.
Real telegrams add: leading spaces, ``!`` glued to the last set, CR-less lines, empty ``()``,
signed values with inner spaces (``( 001.67)``), any unit case, ``A-B:C.D.E*F`` OBIS forms,
``F.F`` status words and text values with spaces, colons and commas. Several data sets may
share a line. The block ends at a ``!`` outside parentheses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardware_bridge.iec62056._errors import RemoteProtocolError

__all__ = ["DataSet", "DataSetError", "DataSetScan", "Value", "parse_datasets", "scan_datasets"]

_ADDRESS = re.compile(r"[A-Za-z0-9.:\-_&]*(?:\*[0-9]{1,3})?")
_HISTORY = re.compile(r"\*([0-9]{1,3})$")
_CURRENT_PERIOD = 255


class DataSetError(RemoteProtocolError):
    """A data set that cannot be read (unterminated value, control characters, bad address)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Value:
    """One value group: the value text and its unit, both trimmed, exactly as sent."""

    value: str
    unit: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSet:
    """One data set. ``address`` is as sent (``1.8.0``, ``1.8.0*1``, ``1-0:1.8.0*255``)."""

    address: str
    values: tuple[Value, ...]

    @property
    def code(self) -> str:
        """The address without a ``*N`` history suffix."""
        return _HISTORY.sub("", self.address)

    @property
    def history(self) -> int | None:
        """Billing period ``N`` of a ``*N`` address; ``None`` for current values (and ``*255``)."""
        match = _HISTORY.search(self.address)
        if match is None:
            return None
        period = int(match.group(1))
        return None if period == _CURRENT_PERIOD else period

    @property
    def value(self) -> str | None:
        """The first value's text, or ``None`` without value groups."""
        return self.values[0].value if self.values else None

    @property
    def unit(self) -> str | None:
        return self.values[0].unit if self.values else None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSetScan:
    """What a data block holds: its data sets, whether ``!`` ended it, and skipped junk."""

    datasets: tuple[DataSet, ...]
    ended: bool
    junk: tuple[str, ...]


def _has_control(text: str) -> bool:
    return any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in text)


def _value(content: str) -> Value:
    value, sep, unit = content.partition("*")
    unit = unit.strip()
    return Value(value=value.strip(), unit=unit if sep and unit else None)


class _NextMark:
    """Position of the next ``mark`` at or after a position, each byte searched once.

    Searching afresh from every value group would scan the rest of the text each time: one
    long line of value groups would cost quadratic time.
    """

    __slots__ = ("_at", "_mark", "_text")

    def __init__(self, text: str, mark: str) -> None:
        self._text, self._mark, self._at = text, mark, -1

    def at_or_after(self, pos: int) -> int:
        """Index of the next mark at or after ``pos``, or ``len(text)`` if none."""
        if self._at < pos:
            found = self._text.find(self._mark, pos)
            self._at = len(self._text) if found == -1 else found
        return self._at


_SEGMENT_END = re.compile(r"[(\n!]")


def scan_datasets(text: str, *, strict: bool = True) -> DataSetScan:
    """Read every data set of ``text`` up to the first ``!`` outside parentheses.

    ``strict``: anything that is not a data set raises :class:`DataSetError`; otherwise it is
    skipped and listed in :attr:`DataSetScan.junk`. Runs in time linear in ``len(text)``.
    """
    datasets: list[DataSet] = []
    junk: list[str] = []
    i, n = 0, len(text)
    ended = False
    newlines = _NextMark(text, "\n")
    closes = _NextMark(text, ")")

    def reject(reason: str, fragment: str) -> None:
        if strict:
            raise DataSetError(f"{reason}: {fragment[:40]!r}")
        junk.append(fragment)

    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == "!":
            ended = True
            break
        found = _SEGMENT_END.search(text, i)
        j = n if found is None else found.start()
        segment = text[i:j].strip()
        if j >= n or text[j] != "(":
            if segment:
                reject("text that is not a data set", segment)
            i = j
            continue
        values: list[Value] = []
        broken = False
        while j < n and text[j] == "(":
            close = closes.at_or_after(j + 1)
            newline = newlines.at_or_after(j + 1)
            if close >= n or newline < close:
                reject("unterminated value", text[i:newline])
                j = newline
                broken = True
                break
            values.append(_value(text[j + 1 : close]))
            j = close + 1
        if not broken:
            if not _ADDRESS.fullmatch(segment):
                reject("bad data set address", text[i:j])
            elif any(_has_control(v.value) or _has_control(v.unit or "") for v in values):
                reject("control characters in a value", text[i:j])
            else:
                datasets.append(DataSet(address=segment, values=tuple(values)))
        i = j
    return DataSetScan(datasets=tuple(datasets), ended=ended, junk=tuple(junk))


def parse_datasets(text: str | bytes, *, strict: bool = True) -> tuple[DataSet, ...]:
    """The data sets of a data block's text (see :func:`scan_datasets`)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return scan_datasets(text, strict=strict).datasets
