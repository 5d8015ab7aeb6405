"""Pure parsers for the replies the driver reads (reference at_modem.md §2–§6).

Every function takes the information lines of one command and returns a typed value, or
None where the modem said nothing usable. Vendor figures are kept raw where firmware scaling
differs (Quectel SINR); only documented scalings are applied (SIM7600 CPSI tenths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AccessTechnology",
    "LteSignal",
    "Operator",
    "Registration",
    "SimState",
    "access_technology_from_act",
    "csq_to_dbm",
    "merge_registration",
    "parse_cops",
    "parse_cpin",
    "parse_cpsi",
    "parse_csq",
    "parse_identity",
    "parse_qeng_servingcell",
    "parse_registration",
    "registration_from_stat",
]

type SimState = Literal["ready", "pin_required", "puk_required", "absent"]
type Registration = Literal["home", "roaming", "searching", "denied", "unknown"]
type AccessTechnology = Literal["2G", "3G", "4G"]

_ACT: dict[int, AccessTechnology | None] = {
    0: "2G",  # GSM
    1: "2G",  # GSM compact
    2: "3G",  # UTRAN
    3: "2G",  # GSM w/EGPRS
    4: "3G",  # HSDPA
    5: "3G",  # HSUPA
    6: "3G",  # HSDPA + HSUPA
    7: "4G",  # E-UTRAN
    8: "2G",  # EC-GSM-IoT
    9: "4G",  # E-UTRAN NB-S1 (NB-IoT)
    10: "4G",  # E-UTRA connected to 5GCN
    11: None,  # NR connected to 5GCN: 5G is not one of the reported values
    12: None,  # NG-RAN
    13: "4G",  # E-UTRA-NR dual connectivity: the LTE anchor carries the registration
}
"""27.007 <AcT> as mapped by ModemManager [A1]."""

_STAT: dict[int, Registration] = {
    0: "unknown",  # not registered, not searching
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home",  # home, SMS only
    7: "roaming",  # roaming, SMS only
}
_CPIN: tuple[tuple[str, SimState], ...] = (
    # longest first, as ModemManager matches them
    ("READY", "ready"),
    ("SIM PIN2", "pin_required"),
    ("SIM PUK2", "puk_required"),
    ("SIM PIN", "pin_required"),
    ("SIM PUK", "puk_required"),
    ("PH-", "pin_required"),  # PH-SIM PIN, PH-NET PIN …: a personalisation lock wants a code
)


def _fields(line: str, prefix: str) -> list[str] | None:
    if not line.startswith(prefix):
        return None
    return [field.strip() for field in line[len(prefix) :].split(",")]


def _first(lines: tuple[str, ...], prefix: str) -> list[str] | None:
    for line in lines:
        fields = _fields(line, prefix)
        if fields is not None:
            return fields
    return None


def _int(text: str) -> int | None:
    text = text.strip().strip('"')
    return int(text) if re.fullmatch(r"-?[0-9]{1,9}", text) else None


def csq_to_dbm(rssi: int) -> int | None:
    """27.007 CSQ <rssi>: 0 → -113 dBm, n → -113 + 2n, 31 → -51 dBm, 99 (or junk) → None."""
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


def parse_csq(lines: tuple[str, ...]) -> int | None:
    """``+CSQ: <rssi>,<ber>`` → dBm, None when unknown."""
    fields = _first(lines, "+CSQ:")
    rssi = _int(fields[0]) if fields else None
    return None if rssi is None else csq_to_dbm(rssi)


def parse_cpin(lines: tuple[str, ...]) -> SimState | None:
    """``+CPIN: READY`` / ``SIM PIN`` / ``SIM PUK`` (quoted or not) → state; None if unknown."""
    fields = _first(lines, "+CPIN:")
    if not fields:
        return None
    value = ",".join(fields).strip().strip('"').upper()
    for text, state in _CPIN:
        if value.startswith(text):
            return state
    if "NOT INSERTED" in value or "NOT READY" in value:
        return "absent"
    return None


def registration_from_stat(stat: int) -> Registration:
    return _STAT.get(stat, "unknown")


def parse_registration(lines: tuple[str, ...], name: str) -> Registration | None:
    """Query reply ``+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]`` (``name`` CREG/CGREG/CEREG)."""
    fields = _first(lines, f"+{name}:")
    if not fields or len(fields) < 2:
        return None
    stat = _int(fields[1])
    return None if stat is None else registration_from_stat(stat)


def merge_registration(states: list[Registration]) -> Registration:
    """CS and PS domains together: registered anywhere wins, then searching, then denied."""
    order: tuple[Registration, ...] = ("home", "roaming", "searching", "denied")
    for wanted in order:
        if wanted in states:
            return wanted
    return "unknown"


def access_technology_from_act(act: int) -> AccessTechnology | None:
    return _ACT.get(act)


@dataclass(frozen=True, slots=True, kw_only=True)
class Operator:
    name: str | None
    access_technology: AccessTechnology | None
    act: int | None


def parse_cops(lines: tuple[str, ...]) -> Operator:
    """``+COPS: <mode>[,<format>,"<oper>"[,<AcT>]]``; ``+COPS: 0`` = no operator."""
    line = next((line for line in lines if line.startswith("+COPS:")), None)
    if line is None:
        return Operator(name=None, access_technology=None, act=None)
    match = re.fullmatch(r'\+COPS:\s*\d+\s*,\s*\d+\s*,\s*"([^"]*)"\s*(?:,\s*(\d+))?.*', line)
    if match is None:
        return Operator(name=None, access_technology=None, act=None)
    act = int(match.group(2)) if match.group(2) is not None else None
    return Operator(
        name=match.group(1).strip() or None,
        access_technology=None if act is None else access_technology_from_act(act),
        act=act,
    )


def parse_identity(lines: tuple[str, ...], prefix: str) -> str | None:
    """A bare identity line (``AT+CGSN``, ``AT+CGMM``, ``AT+CGMR``), with or without
    ``+CGSN:``-style prefix; the value as the modem reports it."""
    for line in lines:
        value = line[len(prefix) :].strip() if line.startswith(prefix) else line.strip()
        value = value.strip('"')
        if value:
            return value
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LteSignal:
    """Serving-cell figures. ``rsrp_dbm``/``rsrq_db`` are scaled to dBm/dB where the
    vendor's scaling is documented; ``sinr_raw`` is exactly what the module printed."""

    system: str
    access_technology: AccessTechnology | None
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    rssi_dbm: float | None = None
    sinr_raw: int | None = None


_CPSI_SYSTEM: dict[str, AccessTechnology] = {
    "GSM": "2G",
    "WCDMA": "3G",
    "TDS-CDMA": "3G",
    "CDMA": "3G",
    "EVDO": "3G",
    "LTE": "4G",
}


def _number(text: str) -> float | None:
    value = _int(text)
    return None if value is None else float(value)


def parse_cpsi(lines: tuple[str, ...]) -> LteSignal | None:
    """SIM7600 ``AT+CPSI?``; LTE RSRQ/RSRP/RSSI are tenths (−1126 → −112.6 dBm) [A21]."""
    fields = _first(lines, "+CPSI:")
    if not fields:
        return None
    system = fields[0].strip().upper()
    if system == "NO SERVICE" or "NO SERVICE" in ",".join(fields).upper():
        return LteSignal(system="NO SERVICE", access_technology=None)
    act = _CPSI_SYSTEM.get(system)
    if system != "LTE" or len(fields) < 14:
        return LteSignal(system=system, access_technology=act)

    def tenths(text: str) -> float | None:
        value = _int(text)
        return None if value is None or value in (32768, -32768) else value / 10

    return LteSignal(
        system=system,
        access_technology=act,
        rsrq_db=tenths(fields[10]),
        rsrp_dbm=tenths(fields[11]),
        rssi_dbm=tenths(fields[12]),
        sinr_raw=_int(fields[13]),
    )


_QENG_SYSTEM: dict[str, AccessTechnology] = {"GSM": "2G", "WCDMA": "3G", "TDSCDMA": "3G"}


def parse_qeng_servingcell(lines: tuple[str, ...]) -> LteSignal | None:
    """Quectel ``AT+QENG="servingcell"`` LTE line: RSRP dBm, RSRQ dB, RSSI dBm, SINR raw.

    ``+QENG: "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,
    <band>,<UL_bw>,<DL_bw>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>`` [A22]; ``-`` = n/a.
    """
    fields = _first(lines, "+QENG:")
    if not fields or len(fields) < 3:
        return None
    system = fields[2].strip('"').upper()
    if "SEARCH" in fields[1].upper() or "LIMSRV" in fields[1].upper():
        return LteSignal(system=system or "NO SERVICE", access_technology=None)
    act = _QENG_SYSTEM.get(system)
    if system != "LTE":
        return LteSignal(system=system, access_technology=act)
    if len(fields) < 17:
        return LteSignal(system=system, access_technology="4G")
    return LteSignal(
        system=system,
        access_technology="4G",
        rsrp_dbm=_number(fields[13]),
        rsrq_db=_number(fields[14]),
        rssi_dbm=_number(fields[15]),
        sinr_raw=_int(fields[16]),
    )
