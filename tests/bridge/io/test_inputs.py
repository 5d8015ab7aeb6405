"""Polled inputs (Modbus I/O boards have no kernel debounce): debounce, inversion, edges with
the time the change began, unknown when the board stops answering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hardware_bridge.io import Edge, InputDebouncer, InputEvent, InputState

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def poll(debouncer: InputDebouncer, samples: list[tuple[float, bool | None]]) -> list[InputEvent]:
    events = []
    for seconds, raw in samples:
        event = debouncer.update(raw, seconds, T0 + timedelta(seconds=seconds))
        if event is not None:
            events.append(event)
    return events


def test_first_poll_sets_the_level_without_an_edge() -> None:
    door = InputDebouncer("in1", debounce=0.1)
    assert door.state == InputState(active=None)
    assert poll(door, [(0.0, True)]) == []
    assert door.state == InputState(active=True, since=T0)


def test_bounces_shorter_than_the_debounce_make_no_event() -> None:
    door = InputDebouncer("in1", debounce=0.1)
    samples = [(0.0, False)] + [(0.01 * i, i % 2 == 1) for i in range(1, 9)] + [(0.09, False)]
    assert poll(door, samples) == []
    assert door.state.active is False


def test_a_stable_change_is_one_edge_dated_when_it_began() -> None:
    door = InputDebouncer("in1", debounce=0.1)
    events = poll(door, [(0.0, False), (1.0, True), (1.05, True), (1.1, True), (1.2, True)])
    assert events == [InputEvent(input="in1", active=True, at=T0 + timedelta(seconds=1))]
    assert events[0].edge is Edge.RISING
    assert door.state == InputState(active=True, since=T0 + timedelta(seconds=1))
    (falling,) = poll(door, [(2.0, False), (2.1, False)])
    assert falling.edge is Edge.FALLING


def test_inversion_for_a_contact_to_ground() -> None:
    contact = InputDebouncer("in2", debounce=0.0, invert=True)
    poll(contact, [(0.0, True)])  # pulled up: open
    assert contact.state.active is False
    (closed,) = poll(contact, [(1.0, False)])
    assert closed.active is True


def test_failed_polls_neither_confirm_nor_cancel_a_change() -> None:
    door = InputDebouncer("in1", debounce=1.0)
    events = poll(door, [(0.0, False), (1.0, True), (1.5, None), (2.0, True)])
    assert [e.at for e in events] == [T0 + timedelta(seconds=1)]


def test_a_silent_board_makes_the_level_unknown() -> None:
    door = InputDebouncer("in1", debounce=0.1, stale_after=5)
    poll(door, [(0.0, True), (1.0, None), (4.9, None)])
    assert door.state.active is True
    poll(door, [(5.0, None)])
    assert door.state == InputState(active=None, since=T0 + timedelta(seconds=5))
    assert poll(door, [(7.0, False)]) == []  # back: the level is reported, not an edge
    assert door.state.active is False


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="input 'in1': debounce must be >= 0 s"):
        InputDebouncer("in1", debounce=-1)
    with pytest.raises(ValueError, match="input 'in1': stale_after must be > 0 s"):
        InputDebouncer("in1", stale_after=0)
