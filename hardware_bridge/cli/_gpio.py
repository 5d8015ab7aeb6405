"""``gpio``: read the terminal's GPIO inputs and relays, switch relays, watch input edges.

For commissioning a panel computer: check the wiring of IN1/IN2 and C1/C2 before the daemon
runs. A relay switched here is read back (exit 1 if it does not follow) and held while the
command runs; the kernel may let the line fall back to its default when the command ends.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hardware_bridge.cli._args import number, text
from hardware_bridge.io import (
    Bias,
    GpioBackend,
    GpioChip,
    GpioConfig,
    GpioConfigError,
    GpiodChip,
    GpioError,
    GpioInputConfig,
    GpioRelayConfig,
    InputEvent,
    RelayError,
)

__all__ = ["register", "run_gpio"]

EXIT_OK, EXIT_DEVICE, EXIT_INPUT = 0, 1, 2
MAX_OFFSET = 1023
_LINE = re.compile(r"([a-z][a-z0-9_]{0,31})=([0-9]{1,4})")
_SWITCH = re.compile(r"([a-z][a-z0-9_]{0,31})=(on|off)")

chip_factory: Callable[[str], GpioChip] = GpiodChip
"""Makes the chip for a path (tests put an in-memory chip here)."""


def _line(value: str) -> tuple[str, int]:
    match = _LINE.fullmatch(value)
    if match is None or int(match[2]) > MAX_OFFSET:
        raise argparse.ArgumentTypeError(
            f"expected NAME=OFFSET such as in1=17 (offset 0..{MAX_OFFSET}), not {value[:40]!r}"
        )
    return match[1], int(match[2])


def _switch(value: str) -> tuple[str, bool]:
    match = _SWITCH.fullmatch(value)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected NAME=on or NAME=off, not {value[:40]!r}")
    return match[1], match[2] == "on"


def register(subparsers: Any) -> None:
    """Add ``gpio`` to the ``smartpower-bridge`` parser."""
    gpio = subparsers.add_parser(
        "gpio",
        help="read GPIO inputs and relays, switch relays, watch inputs",
        description=(
            "Request the given lines on a GPIO chip (libgpiod v2; needs the 'gpio' extra), "
            "print the inputs' and relays' states, switch relays (confirmed by read-back) "
            "and, with --watch or --set, keep the lines and print input changes until "
            "interrupted."
        ),
    )
    gpio.add_argument("--chip", default="/dev/gpiochip0", type=text("a GPIO chip path"))
    gpio.add_argument("--input", action="append", default=[], type=_line, metavar="NAME=OFFSET")
    gpio.add_argument("--relay", action="append", default=[], type=_line, metavar="NAME=OFFSET")
    gpio.add_argument(
        "--inputs-active-high",
        action="store_true",
        help="inputs are active when high (default: active-low, contacts to ground)",
    )
    gpio.add_argument(
        "--bias",
        choices=[bias.value for bias in Bias],
        default=Bias.PULL_UP.value,
        help="input pull resistor (default: pull_up)",
    )
    gpio.add_argument(
        "--debounce",
        type=number(10.0, zero=True, what="seconds"),
        default=0.05,
        help="kernel debounce of inputs, s (default 0.05)",
    )
    gpio.add_argument("--relays-active-low", action="store_true")
    gpio.add_argument("--set", action="append", default=[], type=_switch, metavar="NAME=on|off")
    gpio.add_argument("--watch", action="store_true", help="print input changes until Ctrl-C")
    gpio.set_defaults(handler=run_gpio)


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return code


def _config(args: argparse.Namespace) -> GpioConfig:
    return GpioConfig(
        chip=args.chip,
        inputs=tuple(
            GpioInputConfig(
                name=name,
                offset=offset,
                active_low=not args.inputs_active_high,
                bias=Bias(args.bias),
                debounce=timedelta(seconds=args.debounce),
            )
            for name, offset in args.input
        ),
        relays=tuple(
            GpioRelayConfig(name=name, offset=offset, active_low=args.relays_active_low)
            for name, offset in args.relay
        ),
    )


def run_gpio(args: argparse.Namespace) -> int:
    if not args.input and not args.relay:
        return _fail(EXIT_INPUT, "gpio: give at least one --input or --relay")
    try:
        config = _config(args)
    except GpioConfigError as err:
        return _fail(EXIT_INPUT, str(err))
    unknown = sorted({name for name, _ in args.set} - {r.name for r in config.relays})
    if unknown:
        return _fail(EXIT_INPUT, f"gpio: --set names no --relay: {', '.join(unknown)}")
    return asyncio.run(_run(config, args.set, hold=args.watch or bool(args.set)))


async def _run(config: GpioConfig, switches: list[tuple[str, bool]], *, hold: bool) -> int:
    backend = GpioBackend(config, chip_factory(config.chip))
    backend.subscribe(_print_event)
    try:
        async with backend:
            for name, on in switches:
                await backend.relays[name].write(on)
            for gpio_input in backend.inputs.values():
                print(f"{gpio_input.name}: {_level(gpio_input.state.active)}")
            for relay in backend.relays.values():
                print(f"{relay.name}: {_level(await relay.read())}")
            sys.stdout.flush()
            if hold:
                await asyncio.Event().wait()  # until Ctrl-C
    except (GpioError, RelayError) as err:
        return _fail(EXIT_DEVICE, str(err))
    return EXIT_OK


def _level(active: bool | None) -> str:
    return "unknown" if active is None else "on" if active else "off"


def _print_event(event: InputEvent) -> None:
    print(f"{event.at.isoformat()} {event.input}: {_level(event.active)}", flush=True)
