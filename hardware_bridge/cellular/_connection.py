"""Sans-I/O AT line protocol: bytes in, events out (the h11 pattern, no clocks, no ports).

States (one command in flight at most)::

    IDLE ──send(Command)──▶ AWAIT_RESULT ──final result──▶ IDLE
      │                        (or AWAIT_PROMPT when the command expects ``> ``)
      │     AWAIT_PROMPT ──"> "──▶ PROMPT ──send_pdu()──▶ AWAIT_RESULT
      │                  ──final result (e.g. +CMS ERROR)──▶ IDLE
      └─ any state ──abandon()──▶ IDLE      (the transport gave up: a timeout)
    a line longer than ``max_line`` or a reply of more than ``max_lines`` ──▶ ERROR (stuck)

Lines end at CR or LF; empty lines are skipped. Each line is classified, never assumed from
its position: the echo of what we sent (``ATE1``) is dropped; ``OK``, ``ERROR``,
``+CME ERROR: …`` and ``+CMS ERROR: …`` end the command in flight; unsolicited result codes
(``RDY``, ``Call Ready``, ``SMS Ready``, ``*PSUTTZ: …``, ``+CPIN: READY`` when no ``AT+CPIN?``
is in flight, ``+CREG: <stat>`` in its one-parameter or LAC form …) become
:class:`Unsolicited` even in the middle of a reply; what remains is an information line of the
command in flight when it carries the command's prefix, and :class:`Stray` otherwise (a late
reply to a command that timed out is never attributed to the next one).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from hardware_bridge.cellular._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_LINES",
    "NEED_DATA",
    "AtConnection",
    "Command",
    "ConnectionEvent",
    "FinalResult",
    "NeedData",
    "Prompt",
    "Response",
    "State",
    "Stray",
    "Unsolicited",
    "is_unsolicited",
]

DEFAULT_MAX_LINE = 1024
"""Longer than any reply line (a 140-octet PDU echo is 2·(140+~15) characters)."""
DEFAULT_MAX_LINES = 64
"""Information lines one command may collect (a long AT+COPS=? list stays well below)."""


class NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


class State(enum.Enum):
    IDLE = "IDLE"
    AWAIT_RESULT = "AWAIT_RESULT"
    AWAIT_PROMPT = "AWAIT_PROMPT"
    PROMPT = "PROMPT"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One AT command. ``prefix`` is what its information lines start with (``+CSQ:``);
    None for commands that answer with bare lines (``AT+CGSN``, ``AT+CGMM``)."""

    text: str
    prefix: str | None = None
    expects_prompt: bool = False

    def __post_init__(self) -> None:
        if not self.text.isascii() or any(c in self.text for c in "\r\n\x1a\x1b"):
            raise LocalProtocolError(f"not a single-line ASCII command: {self.text!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalResult:
    """``kind`` is ``ok``, ``error``, ``cme`` or ``cms``; ``code`` or verbose ``text``."""

    kind: str
    code: int | None = None
    text: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """The command in flight ended: its information lines and its final result."""

    command: Command
    lines: tuple[str, ...]
    result: FinalResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """``> ``: the modem waits for the PDU (call :meth:`AtConnection.send_pdu`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsolicited:
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Stray:
    """A line that belongs to no command in flight (e.g. a reply that came too late)."""

    line: str


type ConnectionEvent = Response | Prompt | Unsolicited | Stray

_FINAL_WORDS = {"OK": "ok", "ERROR": "error", "NO CARRIER": "error", "COMMAND NOT SUPPORT": "error"}
_FINAL_ERROR = re.compile(r"\+(CME|CMS) ERROR:\s*(.*)")
_URC_WORDS = frozenset(
    {
        "RDY",
        "Call Ready",
        "SMS Ready",
        "PB DONE",
        "RING",
        "NORMAL POWER DOWN",
        "POWERED DOWN",
        "UNDER-VOLTAGE POWER DOWN",
        "UNDER-VOLTAGE WARNNING",
        "OVER-VOLTAGE POWER DOWN",
        "OVER-VOLTAGE WARNNING",
    }
)
_URC_PREFIXES = (
    "*PSUTTZ",
    "+PSUTTZ",
    "DST:",
    "+CIEV:",
    "+CTZV:",
    "+CTZE:",
    "+CTZU:",
    "+QIND:",
    "+QUSIM:",
    "+CMTI:",
    "+CDSI:",
    "+CGEV:",
    "+CUSD:",
    "+CFUN:",
    "+CPIN:",
    "+CLIP:",
    "+CRING:",
    "+NITZ",
)
_REGISTRATION = re.compile(r"\+(CREG|CGREG|CEREG):\s*(.*)")

# state -> event kind -> next state. Nothing else changes the state.
_TRANSITIONS: dict[State, dict[str, State]] = {
    State.IDLE: {"send": State.AWAIT_RESULT, "send_prompt": State.AWAIT_PROMPT},
    State.AWAIT_RESULT: {"final": State.IDLE},
    State.AWAIT_PROMPT: {"prompt": State.PROMPT, "final": State.IDLE},
    State.PROMPT: {"pdu": State.AWAIT_RESULT, "cancel": State.AWAIT_RESULT, "final": State.IDLE},
    State.ERROR: {},
}


def _registration_is_urc(fields: str) -> bool:
    """``+CREG: 1`` and ``+CREG: 1,"00A1","1B2C"[,7]`` are URCs; ``+CREG: 0,1[,…]`` replies.

    The query reply always starts ``<n>,<stat>`` with two unquoted numbers; the URC's second
    field, when present, is the quoted hex LAC/TAC (reference at_modem.md §5).
    """
    parts = [part.strip() for part in fields.split(",")]
    return len(parts) == 1 or not (parts[0].isdigit() and parts[1].isdigit())


def is_unsolicited(line: str, prefix: str | None) -> bool:
    """True if ``line`` is an unsolicited result code while a command with ``prefix`` runs."""
    if line in _URC_WORDS:
        return True
    registration = _REGISTRATION.fullmatch(line)
    if registration is not None:
        if prefix != f"+{registration.group(1)}:":
            return True
        return _registration_is_urc(registration.group(2))
    return line.startswith(_URC_PREFIXES) and not (prefix is not None and line.startswith(prefix))


def _final(line: str) -> FinalResult | None:
    word = _FINAL_WORDS.get(line)
    if word is not None:
        return FinalResult(kind=word)
    match = _FINAL_ERROR.fullmatch(line)
    if match is None:
        return None
    value = match.group(2).strip()
    if value.isdigit():
        return FinalResult(kind=match.group(1).lower(), code=int(value))
    return FinalResult(kind=match.group(1).lower(), text=value or None)


@dataclass(slots=True)
class AtConnection:
    """The modem side of one serial line, as seen by the host. Not thread-safe, no I/O."""

    max_line: int = DEFAULT_MAX_LINE
    max_lines: int = DEFAULT_MAX_LINES
    state: State = State.IDLE
    _buffer: bytearray = field(default_factory=bytearray)
    _command: Command | None = None
    _echo: set[str] = field(default_factory=set)
    _lines: list[str] = field(default_factory=list)

    def _move(self, event: str) -> None:
        try:
            self.state = _TRANSITIONS[self.state][event]
        except KeyError:
            raise LocalProtocolError(
                f"{event!r} is not allowed in state {self.state.name}"
            ) from None

    @property
    def command(self) -> Command | None:
        """The command in flight."""
        return self._command

    def send(self, command: Command) -> bytes:
        """Start ``command``; returns the bytes to write (``AT…<CR>``)."""
        self._move("send_prompt" if command.expects_prompt else "send")
        self._command = command
        self._echo = {command.text}
        self._lines = []
        return command.text.encode("ascii") + b"\r"

    def send_pdu(self, pdu: str) -> bytes:
        """After :class:`Prompt`: the PDU in hex followed by Ctrl-Z."""
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", pdu):
            raise LocalProtocolError("a PDU is an even number of hex digits")
        self._move("pdu")
        self._echo.add(pdu)
        return pdu.encode("ascii") + b"\x1a"

    def cancel_prompt(self) -> bytes:
        """At the prompt: ``ESC`` aborts without sending (the modem still ends with a result)."""
        self._move("cancel")
        return b"\x1b"

    def abandon(self) -> None:
        """The transport gave up on the command in flight; what it still sends is stray."""
        if self.state is not State.ERROR:
            self.state = State.IDLE
        self._command = None
        self._lines = []

    def reset(self) -> None:
        """Forget everything, including an ERROR state (after the line was drained)."""
        self.state = State.IDLE
        self._buffer.clear()
        self._command = None
        self._lines = []

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> ConnectionEvent | NeedData:
        """The next event from the buffered bytes, or ``NEED_DATA``."""
        while True:
            if self.state is State.ERROR:
                raise RemoteProtocolError("the connection is in ERROR; reset() it")
            self._skip_line_ends()
            if self.state is State.AWAIT_PROMPT and self._buffer[:1] == b">":
                if len(self._buffer) < 2:
                    return NEED_DATA
                after = self._buffer[1]
                if after in b" \r\n":  # "> ", or a bare ">" line
                    del self._buffer[: 2 if after == 0x20 else 1]
                    self._move("prompt")
                    return Prompt()
            end = self._line_end()
            if end < 0:
                if len(self._buffer) > self.max_line:
                    self._fail(f"a line longer than {self.max_line} bytes")
                return NEED_DATA
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            event = self._classify(raw.decode("latin-1").strip("\x1a\x1b \t"))
            if event is not None:
                return event

    def _skip_line_ends(self) -> None:
        n = 0
        while n < len(self._buffer) and self._buffer[n] in (0x0D, 0x0A):
            n += 1
        if n:
            del self._buffer[:n]

    def _line_end(self) -> int:
        cr, lf = self._buffer.find(b"\r"), self._buffer.find(b"\n")
        if cr < 0 or (0 <= lf < cr):
            return lf
        return cr

    def _fail(self, what: str) -> None:
        self.state = State.ERROR
        self._buffer.clear()
        raise RemoteProtocolError(f"the modem sent {what}")

    def _classify(self, line: str) -> ConnectionEvent | None:
        if not line:
            return None
        command = self._command
        if command is None or self.state is State.IDLE:
            return Unsolicited(line=line) if is_unsolicited(line, None) else Stray(line=line)
        if line in self._echo:
            self._echo.discard(line)
            return None
        final = _final(line)
        if final is not None:
            self._move("final")
            lines, self._lines, self._command = tuple(self._lines), [], None
            return Response(command=command, lines=lines, result=final)
        if is_unsolicited(line, command.prefix):
            return Unsolicited(line=line)
        if line == ">":  # a prompt nobody waits for (it came after we gave up on it)
            return Stray(line=line)
        if command.prefix is not None and not line.startswith(command.prefix):
            return Stray(line=line)
        if len(self._lines) >= self.max_lines:
            self._fail(f"more than {self.max_lines} lines for {command.text}")
        self._lines.append(line)
        return None
