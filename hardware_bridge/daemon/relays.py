"""Relay commands from a controller, executed through the running daemon's engines.

A command names a device and a relay key as the terminal's records name them: the GPIO relays
under :data:`~hardware_bridge.daemon.runner.GPIO_DEVICE` (switched through the runner's
fail-safe supervisor), a Modbus board's relays under the device's name (switched with
:meth:`~hardware_bridge.terminal.LineTerminal.write`, which reads the state back). Either way
the outcome says what was *read back*, never what was asked for: a write that was not confirmed
is a failure with the reason, and the relay's recorded state follows the read-back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hardware_bridge.io import RelayError
from hardware_bridge.modbus import ModbusWriteError
from hardware_bridge.terminal import LineUnavailableError

if TYPE_CHECKING:
    from hardware_bridge.daemon.runner import Runner

__all__ = ["RelayResult", "UnknownRelay", "has_relays", "switch_relay"]

_LOGGER = logging.getLogger(__name__)


class UnknownRelay(LookupError):
    """The terminal has no relay ``device``/``key``."""

    def __init__(self, device: str, key: str) -> None:
        self.device = device
        self.key = key
        super().__init__(f"no relay {key!r} on device {device!r}")


@dataclass(frozen=True, slots=True)
class RelayResult:
    """``confirmed`` is the state read back (None: unknown); ``error`` why it failed."""

    ok: bool
    confirmed: bool | None
    error: str | None = None


def relay_exists(runner: Runner, device: str, key: str) -> bool:
    """Whether the running terminal has relay ``key`` on ``device``."""
    from hardware_bridge.daemon.runner import GPIO_DEVICE  # noqa: PLC0415 - import cycle

    if device == GPIO_DEVICE:
        return runner.gpio is not None and key in runner.gpio.relays
    for poller in runner.pollers:
        if device in poller.terminal.device_keys:
            return any(s.key == key and s.io == "relay" for s in poller.terminal.specs(device))
    return False


def has_relays(runner: Runner) -> bool:
    """Whether the running terminal has any relay a command could switch (GPIO or a board)."""
    if runner.gpio is not None and runner.gpio.relays:
        return True
    return any(
        spec.io == "relay"
        for poller in runner.pollers
        for device in poller.terminal.device_keys
        for spec in poller.terminal.specs(device)
    )


async def switch_relay(runner: Runner, device: str, key: str, state: bool) -> RelayResult:
    """Switch one relay now; UnknownRelay when the terminal has no such relay."""
    from hardware_bridge.daemon.runner import GPIO_DEVICE  # noqa: PLC0415 - import cycle

    if not relay_exists(runner, device, key):
        raise UnknownRelay(device, key)
    if device == GPIO_DEVICE:
        try:
            await runner.switch_relay(key, state)
        except RelayError as err:
            _LOGGER.warning("Relay %s/%s not switched: %s", device, key, err)
            return RelayResult(False, None, str(err)[:300])
        return RelayResult(True, state)
    poller = next(p for p in runner.pollers if device in p.terminal.device_keys)
    try:
        confirmed = await poller.terminal.write(device, key, state)
    except ModbusWriteError as err:
        _LOGGER.warning("Relay %s/%s not switched: %s", device, key, err)
        read_back = getattr(err, "read_back", None)
        return RelayResult(False, read_back, f"{err.reason}: {err}"[:300])
    except LineUnavailableError as err:
        _LOGGER.warning("Relay %s/%s not switched: %s", device, key, err)
        return RelayResult(False, None, f"line unavailable: {err}"[:300])
    return RelayResult(confirmed == state, confirmed, None if confirmed == state else "mismatch")
