"""GPIO backend over a fake chip: active-low contacts, kernel debounce, edge events read through
the request's descriptor in the event loop, relays confirmed by read-back."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest
from io_fakes import FakeChip

from hardware_bridge.io import (
    Bias,
    GpioBackend,
    GpioConfig,
    GpioConfigError,
    GpiodChip,
    GpiodMissingError,
    GpioError,
    GpioInputConfig,
    GpioRelayConfig,
    InputEvent,
    LineSetup,
    Relay,
    RelayError,
)

IN1, IN2, C1, C2 = 17, 27, 22, 23


def terminal_config(**input_options: object) -> GpioConfig:
    return GpioConfig(
        chip="/dev/gpiochip7",
        inputs=(
            GpioInputConfig(name="in1", offset=IN1, **input_options),  # type: ignore[arg-type]
            GpioInputConfig(name="in2", offset=IN2, **input_options),  # type: ignore[arg-type]
        ),
        relays=(GpioRelayConfig(name="c1", offset=C1), GpioRelayConfig(name="c2", offset=C2)),
    )


async def next_event(queue: asyncio.Queue[InputEvent]) -> InputEvent:
    return await asyncio.wait_for(queue.get(), timeout=5)


@pytest.fixture
async def gpio() -> tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]]:
    chip = FakeChip()
    backend = GpioBackend(terminal_config(), chip, now=chip.wall)
    events: asyncio.Queue[InputEvent] = asyncio.Queue()
    backend.subscribe(events.put_nowait)
    await backend.open()
    yield chip, backend, events  # type: ignore[misc]
    await backend.close()


def test_lines_are_requested_as_configured() -> None:
    config = GpioConfig(
        inputs=(
            GpioInputConfig(
                name="in1",
                offset=5,
                active_low=True,
                bias=Bias.PULL_UP,
                debounce=timedelta(milliseconds=20),
            ),
        ),
        relays=(GpioRelayConfig(name="c1", offset=6, active_low=True, initial_on=False),),
    )
    assert config.line_setups() == [
        LineSetup(
            offset=5,
            output=False,
            active_low=True,
            bias=Bias.PULL_UP,
            debounce=timedelta(milliseconds=20),
            edges=True,
        ),
        LineSetup(offset=6, output=True, active_low=True, initial=False),
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            lambda: GpioConfig(
                inputs=(GpioInputConfig(name="in1", offset=3),),
                relays=(GpioRelayConfig(name="c1", offset=3),),
            ),
            "relay 'c1': offset 3 is already 'in1'",
        ),
        (
            lambda: GpioConfig(
                inputs=(
                    GpioInputConfig(name="in1", offset=3),
                    GpioInputConfig(name="in1", offset=4),
                )
            ),
            "input 'in1': name used twice",
        ),
        (
            lambda: GpioConfig(relays=(GpioRelayConfig(name="c1", offset=-1),)),
            "relay 'c1': offset must be >= 0, not -1",
        ),
        (
            lambda: GpioConfig(
                inputs=(GpioInputConfig(name="in1", offset=1, debounce=timedelta(seconds=30)),)
            ),
            "input 'in1': debounce must be 0..10 s, not 30 s",
        ),
        (
            lambda: GpioConfig(inputs=(GpioInputConfig(name="in 1", offset=1),)),
            "input name must be a short key like 'in1', not 'in 1'",
        ),
    ],
)
def test_bad_config_is_named(config: object, message: str) -> None:
    with pytest.raises(GpioConfigError, match=r"^/dev/gpiochip0: ") as err:
        config()  # type: ignore[operator]
    assert message in str(err.value)


async def test_active_low_contact_with_pull_up(
    gpio: tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]],
) -> None:
    chip, backend, events = gpio
    # Open contacts: the pull-up holds the lines high, which active-low reads as inactive.
    assert backend.inputs["in1"].state.active is False
    assert backend.inputs["in2"].state.active is False
    chip.set_level(IN1, high=False)  # contact closes to ground
    chip.advance(0.05)
    event = await next_event(events)
    assert (event.input, event.active, event.edge) == ("in1", True, "rising")
    assert backend.inputs["in1"].state.active is True
    assert backend.inputs["in2"].state.active is False


async def test_kernel_debounce_turns_a_bouncing_contact_into_one_edge(
    gpio: tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]],
) -> None:
    chip, backend, events = gpio
    closed_at = chip.wall()
    for _ in range(5):  # 5 bounces, 2 ms apart, then closed for good
        chip.set_level(IN2, high=False)
        chip.advance(0.001)
        chip.set_level(IN2, high=True)
        chip.advance(0.001)
    chip.set_level(IN2, high=False)
    last_change = chip.wall()
    chip.advance(0.049)
    assert backend.inputs["in2"].state.active is False  # not yet stable for 50 ms
    chip.advance(0.001)
    event = await next_event(events)
    assert event.input == "in2"
    assert event.active is True
    # The kernel reports the edge once the line was stable for the whole period.
    assert event.at == last_change + timedelta(milliseconds=50)
    assert event.at > closed_at
    chip.set_level(IN2, high=True)
    chip.advance(0.05)
    opened = await next_event(events)
    assert (opened.input, opened.active) == ("in2", False)
    assert events.empty()
    assert backend.inputs["in2"].state.since == opened.at


async def test_lost_edge_is_recovered_from_the_level() -> None:
    chip = FakeChip()
    config = terminal_config(debounce=timedelta())
    backend = GpioBackend(config, chip, now=chip.wall)
    events: asyncio.Queue[InputEvent] = asyncio.Queue()
    backend.subscribe(events.put_nowait)
    async with backend:
        chip.set_level(IN1, high=False, lose_edge=True)  # kernel event buffer overflowed
        chip.advance(1)
        chip.set_level(IN2, high=False)  # the next edge makes the descriptor readable
        got = {(await next_event(events)).input for _ in range(2)}
        assert got == {"in1", "in2"}
        assert backend.inputs["in1"].state.active is True


async def test_relay_write_is_confirmed_by_read_back(
    gpio: tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]],
) -> None:
    chip, backend, _ = gpio
    relay = backend.relays["c1"]
    assert isinstance(relay, Relay)
    assert await relay.read() is False
    await relay.write(True)
    assert await relay.read() is True
    assert chip.lines is not None
    assert chip.lines.driven[C1] is True
    assert chip.lines.driven[C2] is False
    chip.stuck[C2] = False  # driver transistor failed: the line does not follow
    with pytest.raises(RelayError, match="relay 'c2': read back off after switching on"):
        await backend.relays["c2"].write(True)
    chip.fail_writes.add(C1)
    with pytest.raises(RelayError, match=r"relay 'c1': cannot switch off: .*EIO"):
        await relay.write(False)


async def test_line_in_use_is_a_clear_error() -> None:
    chip = FakeChip()
    chip.busy[C2] = "gpio-fan"
    backend = GpioBackend(terminal_config(), chip)
    with pytest.raises(GpioError, match="line 23 is already used by 'gpio-fan'"):
        await backend.open()
    with pytest.raises(RelayError, match=r"relay .c1.: cannot read: .*not requested"):
        await backend.relays["c1"].read()


async def test_closing_stops_watching_and_forgets_levels(
    gpio: tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]],
) -> None:
    chip, backend, _ = gpio
    lines = chip.lines
    assert lines is not None
    await backend.close()
    assert lines.released
    assert backend.inputs["in1"].state.active is None
    with pytest.raises(RelayError, match="relay 'c1'"):
        await backend.relays["c1"].write(True)


async def test_edge_times_are_the_kernels_realtime_stamps(
    gpio: tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]],
) -> None:
    chip, _, events = gpio
    chip.advance(3600)
    chip.set_level(IN1, high=False)
    chip.advance(0.05)
    event = await next_event(events)
    assert event.at == datetime(2026, 1, 1, 1, 0, 0, 50_000, tzinfo=UTC)


def test_missing_gpiod_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)  # import gpiod -> ImportError
    with pytest.raises(GpiodMissingError, match=r"'gpiod' package .*pip install"):
        GpiodChip("/dev/gpiochip0").request("smartpower", [])


def test_backend_without_chip_uses_gpiod_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)
    backend = GpioBackend(terminal_config())  # constructing needs no gpiod
    with pytest.raises(GpiodMissingError):
        asyncio.run(backend.open())


async def test_a_chip_that_fails_makes_inputs_unknown_and_says_so_once(
    gpio: tuple[FakeChip, GpioBackend, asyncio.Queue[InputEvent]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    chip, backend, events = gpio
    failures: list[str] = []
    backend.subscribe_failure(lambda err: failures.append(str(err)))
    chip.fail_reads = True  # e.g. a USB GPIO expander unplugged
    chip.set_level(IN1, high=False)
    chip.advance(0.05)
    for _ in range(50):  # let the loop see the descriptor readable (it stays readable)
        await asyncio.sleep(0)
    assert backend.inputs["in1"].state.active is None
    assert backend.inputs["in2"].state.active is None
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "ENODEV; inputs are unknown" in warnings[0].getMessage()
    assert events.empty()
    assert len(failures) == 1  # the owner hears of it, to show the inputs as unknown
    assert "ENODEV" in failures[0]
