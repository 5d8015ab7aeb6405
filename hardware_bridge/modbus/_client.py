"""The one place that calls pymodbus (client side).

pymodbus's API moved a lot between 3.6 and 3.16 (``slave=`` → ``device_id=``, keyword-only
``count=``, connection closing after unanswered requests, payload helpers removed). Everything
version-sensitive is kept here; the rest of the package sees :class:`RtuClient` only.
Supported: pymodbus 3.11 – 3.16.
"""

from __future__ import annotations

import logging

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from hardware_bridge.modbus._errors import (
    ModbusConnectionError,
    ModbusExceptionResponse,
    ModbusNoResponse,
)
from hardware_bridge.serial_line import SerialSettings

__all__ = ["RtuClient", "quiet_pymodbus_logging"]

_NEVER_DISCONNECT = 1_000_000_000


def quiet_pymodbus_logging(level: int = logging.CRITICAL) -> None:
    """pymodbus logs every unanswered request as an error; a CLI wants one line of its own."""
    logging.getLogger("pymodbus").setLevel(level)


class RtuClient:
    """A Modbus RTU master on one serial port: open, read registers, close.

    pymodbus retries and automatic reconnects are disabled: the bus owns both, per device.
    """

    def __init__(self, settings: SerialSettings, *, handle_local_echo: bool = False) -> None:
        self._settings = settings
        self._client = AsyncModbusSerialClient(
            settings.port,
            framer=FramerType.RTU,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            handle_local_echo=handle_local_echo,
            timeout=1.0,
            retries=0,
            reconnect_delay=0,
        )
        # Before 3.16 a run of unanswered requests (retries + 3) closes the serial port: one
        # silent device would take the whole line down. Device failures are counted per
        # device by the bus instead.
        self._client.set_max_no_responses(_NEVER_DISCONNECT)

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    async def connect(self) -> None:
        """Open the port; ModbusConnectionError if it cannot be opened."""
        try:
            ok = await self._client.connect()
        except Exception as exc:  # pyserial/termios/pymodbus raise many types when opening
            raise ModbusConnectionError(f"cannot open {self._settings.port}: {exc}") from exc
        if not ok:
            raise ModbusConnectionError(f"cannot open {self._settings.port}")

    def close(self) -> None:
        self._client.close()

    def _set_timeout(self, timeout: float) -> None:
        # The per-attempt response timeout is comm_params.timeout_connect of the transaction
        # manager (a copy of the client's, 3.11 – 3.16); set per request so each device can
        # have its own.
        for owner in (self._client, getattr(self._client, "ctx", None)):
            params = getattr(owner, "comm_params", None)
            if params is not None and hasattr(params, "timeout_connect"):
                params.timeout_connect = timeout

    async def read_registers(
        self,
        device_id: int,
        function_code: int,
        address: int,
        count: int,
        *,
        response_timeout: float,
    ) -> list[int]:
        """One FC03/FC04 transaction, no retry. Raises a typed ModbusBusError on failure."""
        if function_code not in (3, 4):
            raise ValueError(f"function code {function_code} is not a register read")
        self._set_timeout(response_timeout)
        read = (
            self._client.read_holding_registers
            if function_code == 3
            else self._client.read_input_registers
        )
        try:
            response = await read(address, count=count, device_id=device_id)
        except ConnectionException as exc:
            raise ModbusConnectionError(f"{self._settings.port}: {exc}") from exc
        except ModbusIOException as exc:
            raise ModbusNoResponse(device_id, f"no response within {response_timeout:g} s") from exc
        except ModbusException as exc:
            raise ModbusNoResponse(device_id, f"invalid response: {exc}") from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0) or 0)
            raise ModbusExceptionResponse(device_id, function_code, code)
        registers = [int(r) for r in response.registers]
        if len(registers) != count:
            # A late answer to an earlier request (a slow device, a loaded host) has the same
            # device id and function code; only its length can tell it apart. Never decode it.
            raise ModbusNoResponse(
                device_id, f"answer of {len(registers)} registers to a read of {count}"
            )
        return registers
