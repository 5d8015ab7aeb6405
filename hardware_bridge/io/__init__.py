"""Terminal I/O: dry-contact inputs, relays with a bridge-enforced fail-safe, mains loss.

* :class:`Relay` — the one relay interface (GPIO pins and Modbus I/O board relays alike);
  writes are confirmed by read-back.
* :class:`GpioBackend` — Linux GPIO (libgpiod v2, optional ``gpiod`` package) for IN1/IN2 and
  C1/C2 on a single-board computer.
* :class:`FailSafeSupervisor` — longest on-time and fall-back state on controller loss.
* :class:`MainsMonitor` — mains present / lost / unknown, and the outages, from phase voltages
  or a mains-present contact.
* :class:`InputDebouncer` — debounce and inversion for polled inputs.

Typical use::

    config = GpioConfig(
        chip="/dev/gpiochip0",
        inputs=(GpioInputConfig(name="in1", offset=17), GpioInputConfig(name="in2", offset=27)),
        relays=(GpioRelayConfig(name="c1", offset=22), GpioRelayConfig(name="c2", offset=23)),
    )
    async with GpioBackend(config) as gpio:
        supervisor = FailSafeSupervisor(
            gpio.relays.values(),
            {"c1": RelayFailSafe(max_on=1800, on_controller_loss=False)},
            controller_timeout=120,
        )
        supervisor.start()
        await supervisor.switch("c1", True)   # confirmed, or RelayError
"""

from hardware_bridge.io._clock import Clock, SystemClock
from hardware_bridge.io._failsafe import (
    FailSafeAction,
    FailSafeEvent,
    FailSafeSupervisor,
    RelayFailSafe,
)
from hardware_bridge.io._gpio import (
    GpioBackend,
    GpioConfig,
    GpioConfigError,
    GpioInput,
    GpioInputConfig,
    GpioRelay,
    GpioRelayConfig,
)
from hardware_bridge.io._gpio_chip import (
    Bias,
    Drive,
    GpioChip,
    GpioError,
    GpioLines,
    LineSetup,
    RawEdge,
)
from hardware_bridge.io._gpiod_chip import GpiodChip, GpiodMissingError, load_gpiod
from hardware_bridge.io._inputs import Edge, InputDebouncer, InputEvent, InputState
from hardware_bridge.io._mains import (
    NOMINAL_PHASE_NEUTRAL_V,
    NOMINAL_PHASE_PHASE_V,
    MainsMonitor,
    MainsRule,
    MainsState,
    MainsThresholds,
    Outage,
)
from hardware_bridge.io._relay import Relay, RelayError

__all__ = [
    "NOMINAL_PHASE_NEUTRAL_V",
    "NOMINAL_PHASE_PHASE_V",
    "Bias",
    "Clock",
    "Drive",
    "Edge",
    "FailSafeAction",
    "FailSafeEvent",
    "FailSafeSupervisor",
    "GpioBackend",
    "GpioChip",
    "GpioConfig",
    "GpioConfigError",
    "GpioError",
    "GpioInput",
    "GpioInputConfig",
    "GpioLines",
    "GpioRelay",
    "GpioRelayConfig",
    "GpiodChip",
    "GpiodMissingError",
    "InputDebouncer",
    "InputEvent",
    "InputState",
    "LineSetup",
    "MainsMonitor",
    "MainsRule",
    "MainsState",
    "MainsThresholds",
    "Outage",
    "RawEdge",
    "Relay",
    "RelayError",
    "RelayFailSafe",
    "SystemClock",
    "load_gpiod",
]
