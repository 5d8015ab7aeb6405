"""Mains-loss detection: from three phase voltages or a mains-present contact; an outage needs
confirmation, a meter that falls silent makes the state unknown, not lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hardware_bridge.io import (
    InputDebouncer,
    MainsMonitor,
    MainsRule,
    MainsState,
    MainsThresholds,
    Outage,
)

T0 = datetime(2026, 7, 1, tzinfo=UTC)
NORMAL = (229.8, 231.2, 228.5)
DEAD = (0.4, 0.0, 1.2)
SILENT = (None, None, None)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def feed(monitor: MainsMonitor, samples: list[tuple[float, tuple[float | None, ...]]]) -> None:
    for seconds, volts in samples:
        monitor.update_voltages(volts, at(seconds))


def test_a_day_of_readings_every_10_s() -> None:
    """8,640 readings; dips of one reading at 03:00 and 15:00; one outage 10:00–10:42:30."""
    monitor = MainsMonitor()
    outage_from, outage_to = 10 * 3600, 10 * 3600 + 42 * 60 + 30
    states: list[MainsState] = []
    for i in range(8640):
        seconds = i * 10
        if outage_from <= seconds < outage_to:
            volts: tuple[float | None, ...] = DEAD
        elif seconds in (3 * 3600, 15 * 3600):
            volts = (12.0, 9.0, 15.0)  # a single deep dip (one reading)
        else:
            volts = NORMAL
        states.append(monitor.update_voltages(volts, at(seconds)))
    assert monitor.state is MainsState.PRESENT
    assert monitor.current_outage is None
    assert list(monitor.outages) == [Outage(started=at(outage_from), ended=at(outage_to))]
    assert monitor.last_outage_duration == timedelta(minutes=42, seconds=30)
    # Lost from the second dead reading (confirmation) until 10 s of mains (two readings).
    lost = [i * 10 for i, state in enumerate(states) if state is MainsState.LOST]
    assert lost[0] == outage_from + 10
    assert lost[-1] == outage_to
    assert monitor.since == at(outage_to)


def test_a_single_dip_does_not_start_an_outage() -> None:
    monitor = MainsMonitor()
    feed(monitor, [(0, NORMAL), (10, DEAD), (20, NORMAL), (30, DEAD), (40, NORMAL)])
    assert monitor.state is MainsState.PRESENT
    assert monitor.current_outage is None
    assert not monitor.outages


def test_a_meter_going_silent_is_unknown_not_an_outage() -> None:
    monitor = MainsMonitor()
    feed(monitor, [(0, NORMAL), (10, SILENT), (50, SILENT)])
    assert monitor.state is MainsState.PRESENT  # one minute of grace
    feed(monitor, [(60, SILENT)])
    assert monitor.state is MainsState.UNKNOWN
    assert monitor.current_outage is None
    feed(monitor, [(70, NORMAL)])
    assert monitor.state is MainsState.PRESENT
    assert not monitor.outages


def test_a_meter_going_silent_mid_outage_keeps_the_outage_open() -> None:
    monitor = MainsMonitor()
    feed(monitor, [(0, NORMAL), (10, DEAD), (20, DEAD)])
    assert monitor.state is MainsState.LOST
    feed(monitor, [(t, SILENT) for t in range(30, 600, 10)])
    assert monitor.state is MainsState.UNKNOWN
    assert monitor.current_outage == Outage(started=at(10))
    feed(monitor, [(600, DEAD)])  # still off: the same outage goes on, no new one
    assert monitor.state is MainsState.LOST
    feed(monitor, [(t, SILENT) for t in range(610, 1200, 10)])
    feed(monitor, [(1200, NORMAL)])
    assert monitor.state is MainsState.UNKNOWN  # mains back must hold for 10 s
    feed(monitor, [(1210, NORMAL)])
    assert monitor.state is MainsState.PRESENT
    assert list(monitor.outages) == [Outage(started=at(10), ended=at(1200))]


def test_brown_out_on_one_phase_is_not_a_loss() -> None:
    for rule in MainsRule:
        monitor = MainsMonitor(MainsThresholds(rule=rule, confirm_loss=0, confirm_restore=0))
        for t in range(0, 600, 10):
            monitor.update_voltages((229.0, 168.0 + (t % 30), 231.0), at(t))
            assert monitor.state is MainsState.PRESENT, (rule, t)
        assert not monitor.outages


def test_a_missing_phase_is_an_outage_only_under_the_any_phase_rule() -> None:
    one_gone = (230.0, 38.0, 229.0)  # blown fuse on L2; coupling keeps a few tens of volts
    everything = MainsMonitor(MainsThresholds(rule=MainsRule.ALL_PHASES))
    any_phase = MainsMonitor(MainsThresholds(rule=MainsRule.ANY_PHASE))
    for monitor in (everything, any_phase):
        feed(monitor, [(0, NORMAL), (10, one_gone), (20, one_gone)])
    assert everything.state is MainsState.PRESENT
    assert any_phase.state is MainsState.LOST
    assert any_phase.current_outage == Outage(started=at(10))


def test_a_phase_counts_back_only_above_the_upper_threshold() -> None:
    monitor = MainsMonitor(
        MainsThresholds(rule=MainsRule.ANY_PHASE, confirm_loss=0, confirm_restore=0)
    )
    feed(monitor, [(0, NORMAL), (10, (230.0, 0.0, 230.0))])
    assert monitor.state is MainsState.LOST
    feed(monitor, [(20, (230.0, 150.0, 230.0))])  # recovering, in the band: still lost
    assert monitor.state is MainsState.LOST
    feed(monitor, [(30, (230.0, 200.0, 230.0))])
    assert monitor.state is MainsState.PRESENT
    feed(monitor, [(40, (230.0, 150.0, 230.0))])  # sagging, in the band: still present
    assert monitor.state is MainsState.PRESENT
    assert list(monitor.outages) == [Outage(started=at(10), ended=at(30))]


def test_partial_readings_decide_only_what_they_can() -> None:
    monitor = MainsMonitor(MainsThresholds(confirm_loss=0, unknown_after=0))
    assert monitor.update_voltages((None, 230.0, None), at(0)) is MainsState.PRESENT
    # ALL_PHASES: two dead phases and one not read could still be a live phase.
    assert monitor.update_voltages((None, 0.0, 0.0), at(10)) is MainsState.UNKNOWN
    assert monitor.update_voltages((float("nan"), 0.0, 0.0), at(20)) is MainsState.UNKNOWN
    assert monitor.update_voltages((0.0, 0.0, 0.0), at(30)) is MainsState.LOST
    any_phase = MainsMonitor(MainsThresholds(rule=MainsRule.ANY_PHASE, confirm_loss=0))
    assert any_phase.update_voltages((None, 0.0, 230.0), at(0)) is MainsState.LOST


def test_phase_to_phase_voltages_use_their_own_nominal() -> None:
    thresholds = MainsThresholds.for_nominal(400.0, rule=MainsRule.ANY_PHASE)
    assert (thresholds.lost_below, thresholds.back_above) == (200.0, 340.0)
    monitor = MainsMonitor(thresholds)
    feed(monitor, [(0, (398.0, 401.0, 399.5)), (10, (230.0, 0.0, 230.0)), (20, (231, 0, 229))])
    assert monitor.state is MainsState.LOST  # one phase gone: two line voltages collapse


def test_mains_from_a_contact_through_the_input_debouncer() -> None:
    """A mains relay's contact on an input (closed = mains present), polled every second."""
    contact = InputDebouncer("mains", debounce=0.5, invert=True, stale_after=3)
    monitor = MainsMonitor(MainsThresholds(confirm_loss=2, confirm_restore=5))
    timeline = (
        [(t, False) for t in range(10)]  # closed (low): mains present
        + [(10, True), (11, False)]  # contact chatter
        + [(t, True) for t in range(12, 100)]  # outage 12 s .. 100 s
        + [(t, None) for t in range(100, 105)]  # the board stopped answering
        + [(t, False) for t in range(105, 130)]
    )
    for seconds, raw in timeline:
        contact.update(raw, seconds, at(seconds))
        monitor.update_contact(contact.state.active, at(seconds))
    assert monitor.state is MainsState.PRESENT
    # The chatter at 10 s is filtered; the silent board is unknown to the monitor (not a
    # loss, not a return); the first good poll after it ends the outage.
    assert list(monitor.outages) == [Outage(started=at(13), ended=at(105))]
    assert monitor.last_outage_duration == timedelta(seconds=92)


def test_contact_not_read_is_unknown_after_the_grace_period() -> None:
    monitor = MainsMonitor(MainsThresholds(unknown_after=30))
    monitor.update_contact(True, at(0))
    monitor.update_contact(None, at(29))
    assert monitor.state is MainsState.PRESENT
    monitor.update_contact(None, at(30))
    assert monitor.state is MainsState.UNKNOWN
    assert monitor.since == at(30)


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match=r"lost_below \(200 V\) < back_above \(180 V\)"):
        MainsThresholds(lost_below=200, back_above=180)
    with pytest.raises(ValueError, match="confirm_loss must be >= 0 s"):
        MainsThresholds(confirm_loss=-1)
