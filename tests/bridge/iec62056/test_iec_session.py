"""The client's session moves only along the transition table."""

from __future__ import annotations

import pytest

from hardware_bridge.iec62056 import (
    TRANSITIONS,
    LocalProtocolError,
    SessionState,
    SessionTracker,
)


def test_mode_c_readout_path() -> None:
    tracker = SessionTracker()
    for event, state in [
        ("request", SessionState.SIGNED_ON),
        ("identification", SessionState.IDENTIFIED),
        ("option_select", SessionState.OPTION_SENT),
        ("partial", SessionState.OPTION_SENT),
        ("data", SessionState.DONE),
        ("break", SessionState.IDLE),
    ]:
        assert tracker.advance(event) is state  # type: ignore[arg-type]


def test_illegal_moves_are_local_errors() -> None:
    tracker = SessionTracker()
    with pytest.raises(LocalProtocolError):
        tracker.advance("option_select")
    tracker.advance("failure")
    with pytest.raises(LocalProtocolError):
        tracker.advance("request")  # after an error only a break helps
    assert tracker.advance("break") is SessionState.IDLE


def test_every_state_can_be_left_with_a_break() -> None:
    assert all(moves.get("break") is SessionState.IDLE for moves in TRANSITIONS.values())
