"""Identification message: ``/XXXZ[tag]ident CR LF`` (IEC 62056-21 clause 6.3.2).

``XXX`` is the manufacturer's three-letter code; a lowercase third letter announces a
20 ms minimum reaction time instead of 200 ms. ``Z`` is the baud rate character:
``0``–``6`` (modes C, D, E: 300…19200 baud), ``A``–``F`` (mode B: 600…19200), anything else
mode A (no switch). Between ``Z`` and the identification text an optional tag may follow:
the standard's ``\\W`` (``\\2`` announces mode E) or, on meters built to TEDAŞ-MLZ/2017-062.B,
a generation tag ``<1>``, ``<2>`` or ``<3>``. The tag is parsed, never assumed: slicing the
text at a fixed offset mis-reads every Turkish meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hardware_bridge.iec62056._errors import RemoteProtocolError

__all__ = [
    "BAUD_CHARS_MODE_B",
    "BAUD_CHARS_MODE_C",
    "Identification",
    "ProtocolMode",
    "baud_char_for",
    "find_identification",
    "parse_identification",
]

BAUD_CHARS_MODE_C: dict[str, int] = {
    "0": 300,
    "1": 600,
    "2": 1200,
    "3": 2400,
    "4": 4800,
    "5": 9600,
    "6": 19200,
}
BAUD_CHARS_MODE_B: dict[str, int] = {
    "A": 600,
    "B": 1200,
    "C": 2400,
    "D": 4800,
    "E": 9600,
    "F": 19200,
}
_MAX_IDENT_LEN = 64
_MAX_LINE_LEN = 1 + 3 + 1 + 3 + _MAX_IDENT_LEN  # / XXX Z <n> ident


class ProtocolMode(StrEnum):
    """Protocol mode announced by the baud character (mode C covers D and E)."""

    A = "A"
    B = "B"
    C = "C"


def baud_char_for(baud: int) -> str:
    """Mode C baud character for ``baud`` (``9600`` → ``"5"``)."""
    for char, rate in BAUD_CHARS_MODE_C.items():
        if rate == baud:
            return char
    raise ValueError(f"no mode C baud character for {baud} baud")


@dataclass(frozen=True, slots=True, kw_only=True)
class Identification:
    """A parsed identification message."""

    manufacturer: str
    baud_char: str
    tag: str | None
    ident: str

    def __post_init__(self) -> None:
        if len(self.manufacturer) != 3:
            raise ValueError("manufacturer code must have three characters")
        if len(self.baud_char) != 1:
            raise ValueError("baud character must be one character")

    @property
    def mode(self) -> ProtocolMode:
        if self.baud_char in BAUD_CHARS_MODE_C:
            return ProtocolMode.C
        if self.baud_char in BAUD_CHARS_MODE_B:
            return ProtocolMode.B
        return ProtocolMode.A

    @property
    def baud_rate(self) -> int:
        """Highest baud rate the meter offers (300 for mode A)."""
        return BAUD_CHARS_MODE_C.get(self.baud_char) or BAUD_CHARS_MODE_B.get(self.baud_char, 300)

    @property
    def min_reaction_time(self) -> float:
        """Seconds the meter needs at least before it answers (20 ms or 200 ms)."""
        return 0.02 if self.manufacturer[2].islower() else 0.2

    @property
    def generation(self) -> int | None:
        """TEDAŞ meter generation from a ``<n>`` tag, else ``None``."""
        if self.tag is not None and self.tag.startswith("<"):
            return int(self.tag[1:-1])
        return None

    def to_line(self) -> bytes:
        """The identification message as sent on the line (with CR LF)."""
        text = f"/{self.manufacturer}{self.baud_char}{self.tag or ''}{self.ident}\r\n"
        return text.encode("ascii")


def _printable(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


def parse_identification(line: bytes | str) -> Identification:
    """Parse ``/XXXZ[\\W|<n>]ident`` (with or without CR LF).

    Raises :class:`RemoteProtocolError` with a reason when ``line`` is not an identification.
    """
    text = line.decode("latin-1") if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    if not text.startswith("/"):
        raise RemoteProtocolError("identification must start with '/'")
    if text.startswith("/?"):
        raise RemoteProtocolError("this is a request message, not an identification")
    if len(text) < 5:
        raise RemoteProtocolError(f"identification too short: {text!r}")
    if not _printable(text):
        raise RemoteProtocolError("identification contains control or non-ASCII characters")
    manufacturer, baud_char, rest = text[1:4], text[4], text[5:]
    if not all(ch.isalnum() for ch in manufacturer):
        raise RemoteProtocolError(f"bad manufacturer code {manufacturer!r}")
    if baud_char in "/!":
        raise RemoteProtocolError(f"bad baud character {baud_char!r}")
    tag: str | None = None
    if rest.startswith("\\") and len(rest) >= 2:
        tag, rest = rest[:2], rest[2:]
    elif len(rest) >= 3 and rest[0] == "<" and rest[1].isdigit() and rest[2] == ">":
        tag, rest = rest[:3], rest[3:]
    if not rest:
        raise RemoteProtocolError("identification has no identification text")
    if len(rest) > _MAX_IDENT_LEN:
        raise RemoteProtocolError("identification text too long")
    if "!" in rest or "/" in rest:
        raise RemoteProtocolError("identification text must not contain '/' or '!'")
    return Identification(manufacturer=manufacturer, baud_char=baud_char, tag=tag, ident=rest)


def find_identification(line: bytes | str) -> Identification | None:
    """The identification in a received line that may carry line noise in front of it.

    A noise byte before the ``/`` (``0x82`` on a 7E1 line, wake-up NULs, or a second ``/``
    glued in front) must not cost the read. The identification runs to the end of the line,
    so only a ``/`` within its longest possible length of the end is tried. ``None`` when
    no identification is found.
    """
    text = line.decode("latin-1") if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    start = text.find("/", max(0, len(text) - _MAX_LINE_LEN))
    while start != -1:
        if not text.startswith("/?", start):
            try:
                return parse_identification(text[start:])
            except RemoteProtocolError:
                pass
        start = text.find("/", start + 1)
    return None
