"""Client-side session states of a mode A/B/C readout, as one transition table.

::

    IDLE ──request──▶ SIGNED_ON ──identification──▶ IDENTIFIED ──option_select──▶ OPTION_SENT
                                                       │ (mode A/B: no ack)           │
                                                       └──────────data────────────────┴─data─▶ DONE
    any state ──break──▶ IDLE          any state ──failure──▶ ERROR ──break──▶ IDLE

A partial block (EOT) keeps the session where it is (``partial``). Moves not in the table are
a :class:`LocalProtocolError`: the client asked for something the protocol does not allow now.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from hardware_bridge.iec62056._errors import LocalProtocolError

__all__ = ["TRANSITIONS", "SessionEvent", "SessionState", "SessionTracker"]


class SessionState(Enum):
    IDLE = "idle"
    SIGNED_ON = "signed on"
    IDENTIFIED = "identified"
    OPTION_SENT = "option sent"
    DONE = "done"
    ERROR = "error"


type SessionEvent = Literal[
    "request", "identification", "option_select", "partial", "data", "break", "failure"
]

_S = SessionState
TRANSITIONS: dict[SessionState, dict[SessionEvent, SessionState]] = {
    _S.IDLE: {"request": _S.SIGNED_ON, "break": _S.IDLE, "failure": _S.ERROR},
    _S.SIGNED_ON: {
        "request": _S.SIGNED_ON,
        "identification": _S.IDENTIFIED,
        "break": _S.IDLE,
        "failure": _S.ERROR,
    },
    _S.IDENTIFIED: {
        "option_select": _S.OPTION_SENT,
        "partial": _S.IDENTIFIED,
        "data": _S.DONE,
        "break": _S.IDLE,
        "failure": _S.ERROR,
    },
    _S.OPTION_SENT: {
        "partial": _S.OPTION_SENT,
        "data": _S.DONE,
        "break": _S.IDLE,
        "failure": _S.ERROR,
    },
    _S.DONE: {"request": _S.SIGNED_ON, "break": _S.IDLE, "failure": _S.ERROR},
    _S.ERROR: {"break": _S.IDLE, "failure": _S.ERROR},
}


class SessionTracker:
    """Holds the session state; :meth:`advance` is the only way to change it."""

    def __init__(self) -> None:
        self.state = SessionState.IDLE

    def advance(self, event: SessionEvent) -> SessionState:
        moves = TRANSITIONS[self.state]
        if event not in moves:
            raise LocalProtocolError(f"{event!r} is not allowed in state {self.state.value!r}")
        self.state = moves[event]
        return self.state
