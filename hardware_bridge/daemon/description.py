"""The running terminal described for clients: devices, their points, relays and inputs.

Built from the specs the engines use (a meter's points are known after its first readout, so
the description grows then; the uploader sends it again whenever it changed). Relays and
inputs (``MeasurementSpec.io``) are listed as I/O, not as points; the terminal's own GPIO
relays and inputs form the device :data:`~hardware_bridge.daemon.runner.GPIO_DEVICE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardware_bridge.api import (
    DeviceDescription,
    DeviceProtocol,
    IoDescription,
    IoKind,
    PointDescription,
    TerminalDescription,
)
from hardware_bridge.models import LineProtocol, MeasurementSpec

if TYPE_CHECKING:
    from hardware_bridge.daemon.runner import Runner

__all__ = ["describe_terminal"]

_MIN_PERIOD, _MAX_PERIOD = 60, 14_400
"""The contract's bounds of ``send_period`` (a shorter test period is reported as one minute)."""


def _split(
    specs: tuple[MeasurementSpec, ...],
) -> tuple[list[PointDescription], list[IoDescription]]:
    points: list[PointDescription] = []
    io: list[IoDescription] = []
    for spec in specs:
        if spec.io is None:
            points.append(PointDescription.from_spec(spec))
        else:
            io.append(IoDescription(key=spec.key, name=spec.name, kind=IoKind(spec.io)))
    return points, io


def describe_terminal(runner: Runner) -> TerminalDescription:
    """What ``runner`` has now (call it in the event loop: it reads the engines' state)."""
    from hardware_bridge import __version__  # noqa: PLC0415 - the package imports this one
    from hardware_bridge.daemon.runner import GPIO_DEVICE  # noqa: PLC0415 - import cycle

    devices: list[DeviceDescription] = []
    for poller in runner.pollers:
        terminal = poller.terminal
        config = terminal.config
        modbus = config.protocol is LineProtocol.MODBUS
        for meter in config.meters:
            points, io = _split(terminal.specs(meter.key))
            devices.append(
                DeviceDescription(
                    key=meter.key,
                    name=meter.name or meter.key,
                    protocol=DeviceProtocol.IEC62056,
                    points=tuple(points),
                    io=tuple(io),
                )
            )
        for device in config.devices:
            points, io = _split(terminal.specs(device.key))
            devices.append(
                DeviceDescription(
                    key=device.key,
                    name=device.name or device.key,
                    protocol=DeviceProtocol.MODBUS if modbus else DeviceProtocol.IEC62056,
                    profile=device.profile_id,
                    address=device.device_id,
                    points=tuple(points),
                    io=tuple(io),
                )
            )
    gpio = runner.gpio
    if gpio is not None and (gpio.relays or gpio.inputs):
        io = [IoDescription(key=name, name=name, kind=IoKind.RELAY) for name in gpio.relays]
        io += [IoDescription(key=name, name=name, kind=IoKind.INPUT) for name in gpio.inputs]
        devices.append(
            DeviceDescription(
                key=GPIO_DEVICE, name="Terminal I/O", protocol=DeviceProtocol.TERMINAL, io=tuple(io)
            )
        )
    period = int(runner.config.send_period.total_seconds())
    return TerminalDescription(
        modem_no=runner.identity.modem_no,
        name=f"SmartPower terminal {runner.identity.modem_no}",
        send_period=min(_MAX_PERIOD, max(_MIN_PERIOD, period)),
        devices=tuple(devices),
        firmware=f"smartpower-bridge {__version__}",
    )
