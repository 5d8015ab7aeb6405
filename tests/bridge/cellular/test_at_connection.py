"""The sans-I/O AT line protocol: classification of real transcripts, fed in any chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_bridge.cellular import (
    NEED_DATA,
    AtConnection,
    Command,
    ConnectionEvent,
    FinalResult,
    LocalProtocolError,
    Prompt,
    RemoteProtocolError,
    Response,
    State,
    Stray,
    Unsolicited,
)

CSQ = Command(text="AT+CSQ", prefix="+CSQ:")
CREG = Command(text="AT+CREG?", prefix="+CREG:")
CEREG = Command(text="AT+CEREG?", prefix="+CEREG:")
CPIN = Command(text="AT+CPIN?", prefix="+CPIN:")
CGSN = Command(text="AT+CGSN")
CGACT = Command(text="AT+CGACT=1,1")
CMGS = Command(text="AT+CMGS=17", prefix="+CMGS:", expects_prompt=True)
PDU = "0011000A8110325476980000FF04F4F29C0E"

# (command, bytes the modem sends for it); None = unsolicited bytes while idle
TRANSCRIPT: list[tuple[Command | None, bytes]] = [
    (None, b"\r\nRDY\r\n\r\n+CFUN: 1\r\n"),
    # echo on (ATE1): gammu log "AT\r\r\nOK"; +CPIN: READY and Call Ready land inside the reply
    (CSQ, b"AT+CSQ\r\r\n+CSQ: 22,99\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nOK\r\n"),
    # SIM800L log (TinyGSM #471): *PSUTTZ, DST, +CIEV between AT+CGACT=1,1 and its OK
    (
        CGACT,
        b'AT+CGACT=1,1\r\r\n*PSUTTZ: 2026,11,29,22,40,10,"+12",0\r\n\r\nDST: 0\r\n'
        b'\r\n+CIEV: 10,"28601","TURKCELL","TURKCELL", 0, 0\r\n\r\nOK\r\n',
    ),
    # reply form <n>,<stat> next to the one-parameter URC form
    (CREG, b"AT+CREG?\r\r\n+CREG: 1\r\n\r\n+CREG: 0,5\r\n\r\nOK\r\n"),
    # 27.007 doc example: query reply vs URC with quoted TAC
    (
        CEREG,
        b'\r\n+CEREG: 1,"DE10","5A29C0B",7\r\n\r\n+CEREG: 2,1,"DE10","5A29C0B",7\r\n\r\nOK\r\n',
    ),
    (CPIN, b"AT+CPIN?\r\r\n+CME ERROR: SIM not inserted\r\n"),
    (CGSN, b"AT+CGSN\r\r\n867160040123458\r\n\r\nSMS Ready\r\n\r\nOK\r\n"),
    (CMGS, b"AT+CMGS=17\r\r\n> "),
    (None, PDU.encode() + b"\x1a\r\n+CMGS: 73\r\n\r\nOK\r\n"),
    (CSQ, b"\r\n+CMS ERROR:\r\n"),
]


def _events(chunks_for: list[list[bytes]]) -> list[ConnectionEvent]:
    conn = AtConnection()
    events: list[ConnectionEvent] = []
    for (command, _), chunks in zip(TRANSCRIPT, chunks_for, strict=True):
        if command is not None:
            conn.send(command)
        for chunk in chunks:
            conn.receive_data(chunk)
            while (event := conn.next_event()) is not NEED_DATA:
                events.append(event)
                if isinstance(event, Prompt):
                    conn.send_pdu(PDU)
    assert conn.state is State.IDLE
    return events


EXPECTED: list[ConnectionEvent] = [
    Unsolicited(line="RDY"),
    Unsolicited(line="+CFUN: 1"),
    Unsolicited(line="+CPIN: READY"),
    Unsolicited(line="Call Ready"),
    Response(command=CSQ, lines=("+CSQ: 22,99",), result=FinalResult(kind="ok")),
    Unsolicited(line='*PSUTTZ: 2026,11,29,22,40,10,"+12",0'),
    Unsolicited(line="DST: 0"),
    Unsolicited(line='+CIEV: 10,"28601","TURKCELL","TURKCELL", 0, 0'),
    Response(command=CGACT, lines=(), result=FinalResult(kind="ok")),
    Unsolicited(line="+CREG: 1"),
    Response(command=CREG, lines=("+CREG: 0,5",), result=FinalResult(kind="ok")),
    Unsolicited(line='+CEREG: 1,"DE10","5A29C0B",7'),
    Response(
        command=CEREG, lines=('+CEREG: 2,1,"DE10","5A29C0B",7',), result=FinalResult(kind="ok")
    ),
    Response(command=CPIN, lines=(), result=FinalResult(kind="cme", text="SIM not inserted")),
    Unsolicited(line="SMS Ready"),
    Response(command=CGSN, lines=("867160040123458",), result=FinalResult(kind="ok")),
    Prompt(),
    Response(command=CMGS, lines=("+CMGS: 73",), result=FinalResult(kind="ok")),
    Response(command=CSQ, lines=(), result=FinalResult(kind="cms")),
]


def test_transcript_fed_whole() -> None:
    assert _events([[data] for _, data in TRANSCRIPT]) == EXPECTED


def test_transcript_fed_one_byte_at_a_time() -> None:
    chunks = [[data[i : i + 1] for i in range(len(data))] for _, data in TRANSCRIPT]
    assert _events(chunks) == EXPECTED


@st.composite
def _chunked(draw: st.DrawFn) -> list[list[bytes]]:
    out = []
    for _, data in TRANSCRIPT:
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
        bounds = [0, *cuts, len(data)]
        out.append([data[a:b] for a, b in itertools.pairwise(bounds) if b > a])
    return out


@settings(max_examples=300, deadline=None)
@given(_chunked())
def test_any_chunking_gives_the_same_events(chunks: list[list[bytes]]) -> None:
    assert _events(chunks) == EXPECTED


def test_a_late_reply_is_stray_not_the_next_commands() -> None:
    conn = AtConnection()
    conn.send(CSQ)
    conn.abandon()  # timed out
    conn.send(Command(text="AT+COPS?", prefix="+COPS:"))
    conn.receive_data(b'\r\n+CSQ: 20,99\r\n\r\n+COPS: 0,0,"Turkcell",7\r\n\r\nOK\r\n')
    assert conn.next_event() == Stray(line="+CSQ: 20,99")
    event = conn.next_event()
    assert isinstance(event, Response)
    assert event.lines == ('+COPS: 0,0,"Turkcell",7',)


def test_cpin_is_the_reply_only_while_cpin_is_in_flight() -> None:
    conn = AtConnection()
    conn.send(CPIN)
    conn.receive_data(b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
    event = conn.next_event()
    assert isinstance(event, Response)
    assert event.lines == ("+CPIN: SIM PIN",)
    conn.receive_data(b"\r\n+CPIN: READY\r\n")
    assert conn.next_event() == Unsolicited(line="+CPIN: READY")


def test_numeric_errors() -> None:
    conn = AtConnection()
    conn.send(CPIN)
    conn.receive_data(b"\r\n+CME ERROR: 10\r\n")
    event = conn.next_event()
    assert isinstance(event, Response)
    assert event.result == FinalResult(kind="cme", code=10)


def test_cms_error_instead_of_the_prompt() -> None:
    conn = AtConnection()
    conn.send(CMGS)
    conn.receive_data(b"\r\n+CMS ERROR: 330\r\n")
    event = conn.next_event()
    assert isinstance(event, Response)
    assert event.result == FinalResult(kind="cms", code=330)
    assert conn.state is State.IDLE


def test_one_command_in_flight() -> None:
    conn = AtConnection()
    conn.send(CSQ)
    with pytest.raises(LocalProtocolError):
        conn.send(CREG)
    with pytest.raises(LocalProtocolError):
        conn.send_pdu(PDU)
    with pytest.raises(LocalProtocolError):
        Command(text="AT+CSQ\rAT")


def test_bounded_buffers() -> None:
    conn = AtConnection(max_line=64, max_lines=4)
    conn.send(CSQ)
    conn.receive_data(b"\r\n" + b"A" * 65)
    with pytest.raises(RemoteProtocolError, match="longer than 64"):
        conn.next_event()
    assert conn.state is State.ERROR
    conn.reset()
    conn.send(CGSN)
    conn.receive_data(b"x\r\n" * 5)
    with pytest.raises(RemoteProtocolError, match="more than 4 lines"):
        conn.next_event()


def test_a_prompt_after_the_command_was_abandoned_is_not_an_information_line() -> None:
    conn = AtConnection()
    conn.send(CMGS)
    conn.abandon()  # the prompt did not come in time
    conn.send(CGSN)
    conn.receive_data(b"\r\n> \r\n867160040123458\r\n\r\nOK\r\n")
    assert conn.next_event() == Stray(line=">")
    event = conn.next_event()
    assert isinstance(event, Response)
    assert event.lines == ("867160040123458",)


@pytest.mark.parametrize("prompt", [b"\r\n> ", b"\r\n>\r\n", b"> "])
def test_prompt_forms(prompt: bytes) -> None:
    conn = AtConnection()
    conn.send(CMGS)
    conn.receive_data(b"AT+CMGS=17\r" + prompt)
    assert conn.next_event() == Prompt()
    assert conn.state is State.PROMPT


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([CSQ, CGSN, CPIN, CMGS, None]), min_size=1, max_size=4),
    st.lists(st.binary(max_size=80), max_size=12),
)
def test_garbage_gives_events_or_a_remote_error_only(
    commands: list[Command | None], chunks: list[bytes]
) -> None:
    conn = AtConnection(max_line=64, max_lines=8)
    for command in commands:
        if command is not None and conn.state is State.IDLE:
            conn.send(command)
        for chunk in chunks:
            conn.receive_data(chunk)
            try:
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, Prompt):
                        conn.send_pdu(PDU)
            except RemoteProtocolError:
                assert conn.state is State.ERROR
                conn.reset()
