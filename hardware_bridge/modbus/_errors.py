"""Typed errors of the Modbus package: bad profile files and failed bus transactions."""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "ModbusBusError",
    "ModbusConnectionError",
    "ModbusDeviceError",
    "ModbusExceptionResponse",
    "ModbusNoResponse",
    "ModbusReadBackMismatch",
    "ModbusWriteError",
    "ProfileError",
]


class ProfileError(ValueError):
    """A profile file is unreadable or invalid.

    The message always starts with the file name and the field path, e.g.
    ``entes_mpr3x.yaml: points[3].type: expected one of int16, uint16, ...``.
    """

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source = source
        self.path = path
        self.reason = reason
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(f"{where}{reason}")


class ModbusBusError(Exception):
    """Base of everything that can go wrong talking on a Modbus RTU line."""


class ModbusConnectionError(ModbusBusError):
    """The serial port could not be opened or vanished (unplugged adapter)."""


class ModbusDeviceError(ModbusBusError):
    """One device failed one request; other devices on the line are unaffected."""

    def __init__(self, device_id: int, message: str) -> None:
        self.device_id = device_id
        super().__init__(f"device {device_id}: {message}")


class ModbusNoResponse(ModbusDeviceError):
    """No valid answer in time (silent device, or a frame with a bad CRC that was discarded)."""


class ModbusExceptionResponse(ModbusDeviceError):
    """The device answered with a Modbus exception (e.g. 2 = illegal data address)."""

    NAMES: ClassVar[dict[int, str]] = {
        1: "illegal function",
        2: "illegal data address",
        3: "illegal data value",
        4: "server device failure",
        5: "acknowledge",
        6: "server device busy",
        10: "gateway path unavailable",
        11: "gateway target device failed to respond",
    }

    def __init__(self, device_id: int, function_code: int, exception_code: int) -> None:
        self.function_code = function_code
        self.exception_code = exception_code
        name = self.NAMES.get(exception_code, "unknown exception")
        super().__init__(
            device_id, f"exception {exception_code} ({name}) to function {function_code}"
        )


class ModbusWriteError(ModbusDeviceError):
    """A relay write was not confirmed: ``reason`` says why.

    ``no_response``: no (matching) answer — the board may also stay silent on a command it
    does not accept; ``exception``: the device refused; ``mismatch``: the state read back
    differs from the one written (see :class:`ModbusReadBackMismatch`).
    """

    def __init__(
        self,
        device_id: int,
        key: str,
        reason: Literal["no_response", "exception", "mismatch"],
        message: str,
    ) -> None:
        self.key = key
        self.reason = reason
        super().__init__(device_id, f"{key} not confirmed: {message}")


class ModbusReadBackMismatch(ModbusWriteError):
    """The device accepted the write but reads back another state (or none it can name)."""

    def __init__(self, device_id: int, key: str, wanted: bool, read_back: bool | None) -> None:
        self.wanted = wanted
        self.read_back = read_back
        shown = {True: "on", False: "off", None: "an unknown value"}
        super().__init__(
            device_id,
            key,
            "mismatch",
            f"wrote {shown[wanted]}, read back {shown[read_back]}",
        )
