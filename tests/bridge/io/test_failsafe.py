"""Relay fail-safe: longest on-time, fall-back on controller loss, failed writes retried and
reported — over GPIO relays and Modbus board relays alike, on a clock moved by the test."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from io_fakes import BoardRelay, FakeChip, ManualClock

from hardware_bridge.io import (
    FailSafeAction,
    FailSafeEvent,
    FailSafeSupervisor,
    GpioBackend,
    GpioConfig,
    GpioRelayConfig,
    RelayError,
    RelayFailSafe,
)

PUMP = RelayFailSafe(max_on=1800, on_controller_loss=False)


def supervisor(
    relays: list[BoardRelay],
    policies: dict[str, RelayFailSafe],
    clock: ManualClock,
    **options: float,
) -> FailSafeSupervisor:
    return FailSafeSupervisor(relays, policies, clock=clock, **options)  # type: ignore[arg-type]


def actions(events: object) -> list[tuple[FailSafeAction, str | None, bool | None]]:
    return [(e.action, e.relay, e.state) for e in events]  # type: ignore[attr-defined]


async def test_relay_falls_off_after_its_longest_on_time() -> None:
    clock = ManualClock()
    pump = BoardRelay("c1")
    safe = supervisor([pump], {"c1": PUMP}, clock)
    clock.set(100)
    await safe.switch("c1", True)
    clock.set(100 + 1799)
    await safe.check()
    assert pump.coil is True
    assert list(safe.events) == []
    clock.set(100 + 1800)
    await safe.check()
    assert pump.coil is False
    (event,) = safe.events
    assert event.action is FailSafeAction.MAX_ON_TIME
    assert (event.relay, event.state, event.attempt) == ("c1", False, 1)
    assert event.reason == "on for 1800 s, longest allowed 1800 s"
    assert event.at == clock.wall()


async def test_on_time_counts_from_when_a_relay_is_first_seen_on() -> None:
    """Switched on by someone else (another client, the board's own input linkage)."""
    clock = ManualClock()
    pump = BoardRelay("c1", on=True)
    safe = supervisor([pump], {"c1": RelayFailSafe(max_on=60)}, clock)
    clock.set(10)
    await safe.check()
    assert safe.relay_on_since("c1") == 10
    clock.set(69)
    await safe.check()
    assert pump.coil is True
    clock.set(70)
    await safe.check()
    assert pump.coil is False
    assert actions(safe.events) == [(FailSafeAction.MAX_ON_TIME, "c1", False)]


async def test_switching_off_and_on_again_restarts_the_timer() -> None:
    clock = ManualClock()
    pump = BoardRelay("c1")
    safe = supervisor([pump], {"c1": RelayFailSafe(max_on=60)}, clock)
    await safe.switch("c1", True)
    clock.set(50)
    await safe.switch("c1", False)
    clock.set(55)
    await safe.switch("c1", True)
    clock.set(110)
    await safe.check()
    assert pump.coil is True
    clock.set(115)
    await safe.check()
    assert pump.coil is False


async def test_controller_loss_falls_to_each_relays_state() -> None:
    clock = ManualClock()
    pump = BoardRelay("c1", on=True)
    fan = BoardRelay("c2")  # must run while nobody watches the cabinet
    light = BoardRelay("c3", on=True)  # no fall-back: left as it is
    safe = supervisor(
        [pump, fan, light],
        {"c1": PUMP, "c2": RelayFailSafe(on_controller_loss=True)},
        clock,
        controller_timeout=120,
    )
    clock.set(60)
    safe.heartbeat()
    clock.set(179)
    await safe.check()
    assert safe.controller_present
    clock.set(180)
    await safe.check()
    assert not safe.controller_present
    assert (pump.coil, fan.coil, light.coil) == (False, True, True)
    assert actions(safe.events) == [
        (FailSafeAction.CONTROLLER_LOST, None, None),
        (FailSafeAction.CONTROLLER_LOST, "c1", False),
        (FailSafeAction.CONTROLLER_LOST, "c2", True),
    ]
    assert safe.events[0].reason == "no heartbeat for 120 s"
    assert safe.events[1].reason == "controller gone (no heartbeat for 120 s)"
    clock.set(200)
    safe.heartbeat()
    assert safe.controller_present
    assert safe.events[-1].action is FailSafeAction.CONTROLLER_BACK
    await safe.check()
    assert (pump.coil, fan.coil) == (False, True)  # the controller decides from here


async def test_a_failed_fall_back_is_retried_and_reported_until_confirmed() -> None:
    clock = ManualClock()
    pump = BoardRelay("c1")
    seen: list[FailSafeEvent] = []
    safe = supervisor([pump], {"c1": PUMP}, clock, retry_interval=5)
    safe.subscribe(seen.append)
    await safe.switch("c1", True)
    pump.unreachable = True  # the board stops answering while the pump runs
    clock.set(1800)
    await safe.check()
    clock.set(1804)
    await safe.check()  # not yet due again
    pump.unreachable = False
    pump.stuck = True  # answers, but the contact is welded: read-back says on
    clock.set(1805)
    await safe.check()
    pump.stuck = None
    clock.set(1810)
    await safe.check()
    assert pump.coil is False
    assert [(e.action, e.attempt) for e in seen] == [
        (FailSafeAction.WRITE_FAILED, 1),
        (FailSafeAction.WRITE_FAILED, 2),
        (FailSafeAction.MAX_ON_TIME, 3),
    ]
    assert seen[0].error == "relay 'c1': cannot switch off: no answer"
    assert seen[1].error == "relay 'c1': read back on"
    assert seen[0].reason.startswith("max_on_time: on for 1800 s")
    assert seen[0].reason.endswith("retry in 5 s")
    assert all(e.state is False for e in seen)
    assert list(safe.events) == seen


async def test_controller_command_replaces_a_pending_fall_back() -> None:
    clock = ManualClock()
    pump = BoardRelay("c1", on=True)
    safe = supervisor([pump], {"c1": PUMP}, clock, controller_timeout=60)
    pump.unreachable = True
    clock.set(60)
    await safe.check()
    assert safe.events[-1].action is FailSafeAction.WRITE_FAILED
    pump.unreachable = False
    await safe.switch("c1", False)  # the controller is back and decides
    clock.set(70)
    await safe.check()
    assert pump.writes == [False]
    assert safe.events[-1].action is FailSafeAction.CONTROLLER_BACK


async def test_switch_reports_an_unconfirmed_write_to_the_controller() -> None:
    clock = ManualClock()
    pump = BoardRelay("c1")
    pump.stuck = False
    safe = supervisor([pump], {"c1": PUMP}, clock)
    with pytest.raises(RelayError, match="relay 'c1': read back off"):
        await safe.switch("c1", True)
    with pytest.raises(RelayError, match="relay 'c9': no such relay"):
        await safe.switch("c9", True)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="max_on must be a positive number"):
        RelayFailSafe(max_on=0)
    with pytest.raises(ValueError, match="unknown relay"):
        FailSafeSupervisor([BoardRelay("c1")], {"c2": PUMP})
    with pytest.raises(ValueError, match="controller_timeout must be > 0 s"):
        FailSafeSupervisor([BoardRelay("c1")], {}, controller_timeout=0)


async def test_a_day_on_the_running_supervisor_gpio_and_board_relays() -> None:
    """24 h in a few milliseconds: an automation that runs a GPIO pump for 10 min each hour
    forgets to stop it once; then Home Assistant dies at 18:00 with the board's relay on."""
    clock = ManualClock()
    chip = FakeChip()
    gpio = GpioBackend(GpioConfig(relays=(GpioRelayConfig(name="c1", offset=22),)), chip)
    await gpio.open()
    board = BoardRelay("c2")
    safe = FailSafeSupervisor(
        [gpio.relays["c1"], board],
        {"c1": PUMP, "c2": RelayFailSafe(on_controller_loss=False)},
        controller_timeout=600,
        clock=clock,
        poll_interval=60,
    )
    cut = asyncio.Event()
    lost = asyncio.Event()
    safe.subscribe(lambda e: cut.set() if e.action is FailSafeAction.MAX_ON_TIME else None)
    safe.subscribe(lambda e: lost.set() if e.relay == "c2" else None)
    task = safe.start()
    try:
        for hour in range(18):
            for minute in range(0, 60, 5):  # Home Assistant's heartbeat every 5 min
                await clock.advance_to(hour * 3600 + minute * 60)
                safe.heartbeat()
                if minute == 0:
                    await safe.switch("c1", True)
                if minute == 10 and hour != 7:  # at 07:10 the automation did not run
                    await safe.switch("c1", False)
                if hour == 17 and minute == 30:
                    await safe.switch("c2", True)
            if hour == 7:
                await asyncio.wait_for(cut.wait(), timeout=5)
                assert await gpio.relays["c1"].read() is False
        assert not lost.is_set()
        await clock.advance_to(24 * 3600)
        await asyncio.wait_for(lost.wait(), timeout=5)
    finally:
        await safe.stop()
        await gpio.close()
    assert task.done()
    cuts = [e for e in safe.events if e.action is FailSafeAction.MAX_ON_TIME]
    assert len(cuts) == 1
    assert cuts[0].at == clock.start + timedelta(hours=7, minutes=30)
    loss = [e for e in safe.events if e.action is FailSafeAction.CONTROLLER_LOST]
    # Last heartbeat 17:55, timeout 10 min: the board relay falls off at 18:05, on time.
    assert [e.relay for e in loss] == [None, "c1", "c2"]
    assert loss[-1].at == clock.start + timedelta(hours=18, minutes=5)
    assert board.coil is False


class BrokenRelay(BoardRelay):
    async def read(self) -> bool:
        raise RuntimeError("driver bug")


async def test_a_faulty_driver_does_not_end_the_protection_of_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    broken = BrokenRelay("c1")
    pump = BoardRelay("c2")
    safe = FailSafeSupervisor(
        [broken, pump],
        {"c1": PUMP, "c2": RelayFailSafe(max_on=60)},
        clock=clock,
        poll_interval=10,
    )
    await safe.switch("c2", True)
    cut = asyncio.Event()
    safe.subscribe(lambda e: cut.set() if e.relay == "c2" else None)
    safe.start()
    try:
        await clock.advance_to(120)
        await asyncio.wait_for(cut.wait(), timeout=5)
    finally:
        await safe.stop()
    assert pump.coil is False
    assert "fail-safe check failed" in caplog.text
    assert "driver bug" in caplog.text


async def test_only_relays_with_an_on_time_are_read_each_pass() -> None:
    """Each read of a board relay is a bus request: none for a relay that only falls back."""
    clock = ManualClock()
    pump = BoardRelay("c1")
    fan = BoardRelay("c2")
    safe = supervisor(
        [pump, fan], {"c1": PUMP, "c2": RelayFailSafe(on_controller_loss=True)}, clock
    )
    for t in range(0, 600, 5):
        clock.set(t)
        await safe.check()
    assert pump.reads == 120
    assert fan.reads == 0
