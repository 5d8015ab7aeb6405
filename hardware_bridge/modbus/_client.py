"""The one place that calls pymodbus (client side).

pymodbus opens and owns the serial port (its non-blocking serial transport); this module owns
the frames. A read request is built here, sent through pymodbus's transport, and the bytes
that come back are judged by :class:`~hardware_bridge.modbus._rtu.ResponseMatcher` instead of
pymodbus's framer: pymodbus (3.11 – 3.16) takes any CRC-valid frame from the addressed
device as the answer — whatever its function code or length — and logs an ERROR for every
unanswered request. Received bytes reach us through the transport's ``callback_data`` hook,
which has the same shape in every supported version; we consume them all, so pymodbus's own
receive buffer and framer never see a byte. Every byte that arrives while no request is
waiting, or after its answer, is counted as stray input: the bus uses it (and the time of the
last byte) to keep the line quiet before the next request.

Supported: pymodbus 3.11 – 3.16.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient

from hardware_bridge.modbus._errors import (
    ModbusConnectionError,
    ModbusExceptionResponse,
    ModbusNoResponse,
)
from hardware_bridge.modbus._rtu import (
    Bits,
    Foreign,
    Outcome,
    Refusal,
    Registers,
    ResponseMatcher,
    bit_read_request,
    expected_write_answer,
    read_request,
)
from hardware_bridge.serial_line import SerialSettings

__all__ = ["RtuClient", "quiet_pymodbus_logging"]


def quiet_pymodbus_logging(level: int = logging.CRITICAL) -> None:
    """Silence pymodbus's own logger (a CLI prints one line of its own per failure)."""
    logging.getLogger("pymodbus").setLevel(level)


class RtuClient:
    """A Modbus RTU master on one serial port: open, read registers, close.

    No retries and no automatic reconnects here: the bus owns both, per device.
    """

    def __init__(self, settings: SerialSettings, *, handle_local_echo: bool = False) -> None:
        self._settings = settings
        self._echo = handle_local_echo
        self._client = AsyncModbusSerialClient(
            settings.port,
            framer=FramerType.RTU,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            timeout=1.0,
            retries=0,
            reconnect_delay=0,
        )
        self._protocol = self._client.ctx
        self._protocol.callback_data = self._on_data  # type: ignore[method-assign]
        self._matcher: ResponseMatcher | None = None
        self._answer: asyncio.Future[Outcome] | None = None
        self.last_input_at = 0.0
        """time.monotonic() of the last byte received."""
        self.stray_bytes = 0
        """Bytes received that answered no request (late answers, duplicates, noise)."""

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
        # pymodbus 3.16 finishes setting the port up in callbacks scheduled after connect()
        # returns (the reader, then connection_made); a close before they ran fails inside
        # the event loop. Let them run first.
        for _ in range(2):
            await asyncio.sleep(0)

    def close(self) -> None:
        self._client.close()

    # -- receive side ------------------------------------------------------------------
    def _on_data(self, data: bytes, addr: object = None) -> int:
        """pymodbus's transport hands us what it received; we take all of it."""
        self.last_input_at = time.monotonic()
        matcher, answer = self._matcher, self._answer
        if matcher is None or answer is None or answer.done():
            self.stray_bytes += len(data)
            return len(data)
        outcome = matcher.feed(data)
        if outcome is not None:
            self.stray_bytes += matcher.trailing
            answer.set_result(outcome)
        return len(data)

    def discard_input(self) -> None:
        """Drop whatever the OS holds for us that has not been delivered yet."""
        transport = getattr(self._protocol, "transport", None)
        port = getattr(transport, "sync_serial", None)
        reset = getattr(port, "reset_input_buffer", None)
        if reset is not None:
            with contextlib.suppress(Exception):  # a vanishing port shows on the next send
                reset()

    # -- transactions ------------------------------------------------------------------
    async def read_registers(
        self,
        device_id: int,
        function_code: int,
        address: int,
        count: int,
        *,
        response_timeout: float,
    ) -> list[int]:
        """One FC03/FC04 transaction, no retry. Raises a typed ModbusBusError on failure.

        Input is discarded before the request is sent; the answer must match the request's
        device id, function code and byte count (see ``_rtu``).
        """
        request = read_request(device_id, function_code, address, count)
        outcome = await self._exchange(
            request, ResponseMatcher(device_id, function_code, count), response_timeout
        )
        assert isinstance(outcome, Registers)
        return list(outcome.values)

    async def read_bits(
        self,
        device_id: int,
        function_code: int,
        address: int,
        count: int,
        *,
        response_timeout: float,
    ) -> list[bool]:
        """One FC01/FC02 transaction (coils / discrete inputs), no retry."""
        request = bit_read_request(device_id, function_code, address, count)
        outcome = await self._exchange(
            request, ResponseMatcher(device_id, function_code, count), response_timeout
        )
        assert isinstance(outcome, Bits)
        return list(outcome.values)

    async def write(self, request: bytes, *, response_timeout: float) -> None:
        """One FC05/06/0F/10 request (built by ``_rtu``); returns once its echo arrived."""
        matcher = ResponseMatcher(request[0], request[1], 0, reply=expected_write_answer(request))
        await self._exchange(request, matcher, response_timeout)

    async def _exchange(
        self, request: bytes, matcher: ResponseMatcher, response_timeout: float
    ) -> Outcome:
        device_id, function_code = request[0], request[1]
        if not self.connected or getattr(self._protocol, "transport", None) is None:
            raise ModbusConnectionError(f"{self._settings.port} is not open")
        self.discard_input()
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self._echo:
            matcher.set_echo(request)
        self._matcher = matcher
        self._answer = answer
        try:
            self._protocol.send(request)
            outcome = await asyncio.wait_for(answer, response_timeout)
        except TimeoutError:
            raise ModbusNoResponse(
                device_id, f"no response within {response_timeout:g} s"
            ) from None
        except OSError as exc:
            raise ModbusConnectionError(f"{self._settings.port}: {exc}") from exc
        finally:
            self._matcher = self._answer = None
        if isinstance(outcome, Refusal):
            raise ModbusExceptionResponse(device_id, function_code, outcome.exception_code)
        if isinstance(outcome, Foreign):
            raise ModbusNoResponse(
                device_id, f"not the answer to this request: {outcome.describe()}"
            )
        return outcome
