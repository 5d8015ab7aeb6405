"""A whole readout, and reading one back from a captured file.

Captures come in every shape: with or without the identification line, with the echo of
``/?!`` and of the option select in front, with or without STX/ETX/BCC, with or without CR.
:func:`parse_readout` accepts all of those; ``bcc_ok`` is ``None`` when the capture holds no
BCC to check. A file that is not a readout raises :class:`NotAReadoutError` with a one-line
reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hardware_bridge.iec62056._datasets import DataSet, scan_datasets
from hardware_bridge.iec62056._errors import NotAReadoutError, RemoteProtocolError
from hardware_bridge.iec62056._ident import (
    Identification,
    find_identification,
    parse_identification,
)
from hardware_bridge.iec62056._messages import ACK, EOT, ETX, STX, bcc

__all__ = ["Readout", "identification_to_dict", "parse_readout", "readout_to_dict"]

_OBIS_LIKE = re.compile(
    r"(?:[0-9]{1,3}-[0-9]{1,3}:)?(?:[0-9]{1,3}|[A-Z])(?:\.[0-9A-Z]{1,3}){1,3}(?:\*[0-9]{1,3})?"
)


_TEXT_CONTROLS = frozenset(b"\r\n\t\x01\x02\x03\x04\x06\x15")


@dataclass(frozen=True, slots=True, kw_only=True)
class Readout:
    """What a readout holds: identification (if seen), data sets, and the BCC verdict.

    ``complete`` is False when the readout lacks its end: the ``!`` that closes the data, or
    (when the block started with STX) the ETX and BCC. The data sets of an incomplete readout
    are what arrived before the cut; they are not a full reading (DESIGN.md, "No value is
    invented"): :attr:`incomplete_reason` says what is missing.
    """

    identification: Identification | None
    datasets: tuple[DataSet, ...]
    bcc_ok: bool | None
    complete: bool = True
    missing_end: str | None = None
    """What end mark was missing (``"'!'"``, ``"ETX"``, ``"BCC"``), when ``complete`` is False."""

    @property
    def incomplete_reason(self) -> str | None:
        """One line saying why the readout is incomplete, or ``None`` when it is complete."""
        if self.complete:
            return None
        missing = self.missing_end or "'!'"
        count = len(self.datasets)
        sets = "data set" if count == 1 else "data sets"
        return f"readout incomplete: it ended after {count} {sets} without its end ({missing})"

    def get(self, address: str) -> DataSet | None:
        """First data set with exactly this address."""
        for dataset in self.datasets:
            if dataset.address == address:
                return dataset
        return None


def identification_to_dict(identification: Identification | None) -> dict[str, Any] | None:
    if identification is None:
        return None
    return {
        "manufacturer": identification.manufacturer,
        "baud": identification.baud_char,
        "tag": identification.tag,
        "ident": identification.ident,
    }


def readout_to_dict(readout: Readout) -> dict[str, Any]:
    """The JSON shape of ``iec-parse --json``."""
    return {
        "identification": identification_to_dict(readout.identification),
        "bcc_ok": readout.bcc_ok,
        "complete": readout.complete,
        "incomplete_reason": readout.incomplete_reason,
        "datasets": [
            {
                "address": dataset.address,
                "values": [{"value": v.value, "unit": v.unit} for v in dataset.values],
            }
            for dataset in readout.datasets
        ],
    }


def _lstrip_noise(line: bytes) -> bytes:
    """Drop non-printable bytes in front of a line (line noise, wake-up NULs), keep ACK."""
    i = 0
    while i < len(line) and line[i] != ACK[0] and not 0x20 <= line[i] < 0x7F:
        i += 1
    return line[i:].strip(b" \t\r")


def _looks_binary(raw: bytes) -> bool:
    """More than a few stray control bytes (a readout has CR LF and framing bytes only)."""
    stray = sum(1 for byte in raw if byte < 0x20 and byte not in _TEXT_CONTROLS)
    return stray > max(16, len(raw) // 50)


def parse_readout(data: bytes | str) -> Readout:
    """Read a captured readout (see the module docstring)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    lines = raw.split(b"\n")
    first = 0
    while first < len(lines) and (
        lines[first].startswith(b"#") or not lines[first].strip(b" \t\r\x00")
    ):
        first += 1  # leading comments (fixture source lines) and blank lines
    raw = b"\n".join(lines[first:])
    if not raw.strip(b" \t\r\n\x00"):
        raise NotAReadoutError("the file is empty")
    raw = raw.lstrip(b"\x00")
    if _looks_binary(raw):
        raise NotAReadoutError("binary data, not an IEC 62056-21 readout")

    stx = raw.find(STX)
    head = raw if stx == -1 else raw[:stx]
    identification: Identification | None = None
    body_lines: list[bytes] = []
    head_lines = head.split(b"\n")
    for index, line in enumerate(head_lines):
        clean = _lstrip_noise(line)
        if not clean or clean.startswith((b"/?", ACK)):
            continue  # blank, or the echo of our own request / option select
        if clean.startswith(b"/") and identification is None and not body_lines:
            identification = find_identification(clean)  # tolerates a "/" glued in front
            if identification is None:
                try:
                    identification = parse_identification(clean)
                except RemoteProtocolError as err:
                    raise NotAReadoutError(f"bad identification line: {err}") from None
            continue
        if stx == -1:
            body_lines = head_lines[index:]
            break
    bcc_ok: bool | None = None
    missing: list[str] = []
    if stx != -1:
        body = raw[stx + 1 :]
        end = min((i for i in (body.find(ETX), body.find(EOT)) if i != -1), default=-1)
        if end == -1:
            missing.append("ETX")
        else:
            if body[end] == EOT[0]:
                missing.append("ETX")  # a partial block: the rest never came
            if end + 1 < len(body):
                bcc_ok = bcc(body[: end + 1]) == body[end + 1]
            else:
                missing.append("BCC")
            body = body[:end]
    else:
        body = b"\n".join(body_lines)
        end = min((i for i in (body.find(ETX), body.find(EOT)) if i != -1), default=-1)
        if end != -1:
            body = body[:end]

    scan = scan_datasets(body.decode("latin-1"), strict=False)
    if not any(_OBIS_LIKE.fullmatch(ds.address) for ds in scan.datasets):
        raise NotAReadoutError("no IEC 62056-21 data sets (ADDRESS(value*unit)) found")
    if len(scan.junk) > len(scan.datasets):
        raise NotAReadoutError("mostly text that is not IEC 62056-21 data sets")
    if not scan.ended:
        missing.insert(0, "'!'")
    return Readout(
        identification=identification,
        datasets=scan.datasets,
        bcc_ok=bcc_ok,
        complete=not missing,
        missing_end=", ".join(missing) or None,
    )
