"""Typed errors of the AT-modem stack, and the 27.007 / 27.005 error code tables.

The split follows h11: :class:`LocalProtocolError` means *we* asked for something the state
machine does not allow (a second command while one is in flight); :class:`RemoteProtocolError`
means the modem sent something that breaks the line protocol (a line longer than any real
reply). :class:`CommandError` is a well-formed final result that says no (``ERROR``,
``+CME ERROR``, ``+CMS ERROR``); :class:`ModemTimeoutError` and :class:`LineError` are the
transport's. Everything shares :class:`CellularError`.
"""

from __future__ import annotations

__all__ = [
    "CME_ERRORS",
    "CMS_ERRORS",
    "CellularError",
    "CommandError",
    "LineError",
    "LocalProtocolError",
    "ModemTimeoutError",
    "NoResponseError",
    "ProtocolError",
    "RemoteProtocolError",
    "SmsError",
    "cms_error_text",
]

CME_ERRORS: dict[int, str] = {
    0: "phone failure",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy (retry later)",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    100: "unknown error",
}
"""3GPP TS 27.007 §9.2 as enumerated by ModemManager (reference at_modem.md §2)."""

CMS_ERRORS: dict[int, str] = {
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    315: "SIM wrong",
    316: "SIM PUK required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown (set it with AT+CSCA)",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}
"""3GPP TS 27.005 §3.2.5 as tabulated by gammu, ModemManager and Legato (at_modem.md §7)."""


def cms_error_text(code: int | None, text: str | None = None) -> str:
    """A clear message for a ``+CMS ERROR``: numeric, verbose (``AT+CMEE=2``) or empty."""
    if code is None:
        return f"SMS rejected by the modem: {text}" if text else "SMS rejected (no error code)"
    known = CMS_ERRORS.get(code)
    if known is None:
        kind = "manufacturer-specific error" if code >= 512 else "error"
        return f"SMS rejected: {kind} {code}"
    return f"SMS rejected: {known} (+CMS ERROR: {code})"


class CellularError(Exception):
    """Base of every error raised by :mod:`hardware_bridge.cellular`."""


class ProtocolError(CellularError):
    """Abstract: the exchange broke the AT line protocol. Use a subclass."""


class LocalProtocolError(ProtocolError):
    """We used the connection out of order (e.g. a second command in flight)."""


class RemoteProtocolError(ProtocolError):
    """The modem sent something no AT modem sends (an endless line, a flood of lines)."""


class LineError(CellularError):
    """The serial port could not be opened, or it went away."""


class ModemTimeoutError(CellularError):
    """The command in flight got no final result in time."""


class NoResponseError(ModemTimeoutError):
    """The modem does not answer at all (no ``OK`` to a plain ``AT``)."""


class CommandError(CellularError):
    """A final result that says no: ``ERROR``, ``+CME ERROR: n`` or ``+CMS ERROR: n``.

    ``kind`` is ``"error"``, ``"cme"`` or ``"cms"``; ``code`` is the number when the modem
    sent one, ``text`` the verbose form (``+CME ERROR: SIM not inserted``) when it did not.
    """

    def __init__(self, command: str, kind: str, code: int | None, text: str | None) -> None:
        self.command = command
        self.kind = kind
        self.code = code
        self.text = text
        super().__init__(f"{command}: {self.describe()}")

    def describe(self) -> str:
        if self.kind == "cms":
            return cms_error_text(self.code, self.text)
        if self.kind == "cme":
            if self.code is None:
                return f"+CME ERROR: {self.text or ''}".rstrip()
            return f"{CME_ERRORS.get(self.code, 'error')} (+CME ERROR: {self.code})"
        return "ERROR"


class SmsError(CellularError):
    """An SMS was not sent; the message is the mapped ``+CMS ERROR`` text."""

    def __init__(self, message: str, *, code: int | None = None, sent: tuple[int, ...] = ()):
        self.code = code
        self.sent = sent
        """Message references of the parts that did go out before the failure."""
        super().__init__(message)
