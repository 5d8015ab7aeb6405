"""pymodbus's RTU server behind one small interface, whatever the pymodbus version.

The server's datastore API changed twice. Up to 3.11 a ``ModbusServerContext`` maps device
ids to device contexts whose ``async_getValues`` we implement ourselves. From 3.12 the server
takes a list of ``SimDevice`` objects whose registers come from ``SimData`` blocks, with an
``action`` coroutine called on every access; its arguments changed in 3.13 (3.12 passes
``(fc, address, registers, values)`` without the count, 3.13+ ``(fc, start_address, address,
count, registers, values)``), so the action dispatches on the number of arguments. The API is
picked by feature detection, not version strings.

Either way the simulator supplies one callback, :data:`RegisterSource`, that returns the
registers for a read (or a Modbus exception code), so values are computed when asked.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer

__all__ = ["RegisterSource", "RequestHint", "SerialRegisterServer", "uses_simdevice_api"]

type RegisterSource = Callable[[int, int, int, int], list[int] | int]
"""(device_id, function_code, address, count) → registers, or a Modbus exception code."""

type RequestHint = Callable[[int], tuple[int, int, int] | None]
"""device_id → (function_code, address, count) of the read now being served, if known."""


def uses_simdevice_api() -> bool:
    """True on pymodbus ≥ 3.12 (SimDevice with an ``action`` hook)."""
    try:
        simulator = importlib.import_module("pymodbus.simulator")
    except ImportError:
        return False
    fields = getattr(getattr(simulator, "SimDevice", None), "__dataclass_fields__", {})
    return "action" in fields


def _exception(code: int) -> Any:
    try:
        return ExcCodes(code)
    except ValueError:
        return ExcCodes.DEVICE_FAILURE


def _segments(low: int, high: int, holes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``low..high`` minus the holes, as inclusive (start, end) pieces."""
    pieces, start = [], low
    for hole_start, hole_end in sorted(holes):
        if hole_end < start or hole_start > high:
            continue
        if hole_start > start:
            pieces.append((start, hole_start - 1))
        start = max(start, hole_end + 1)
    if start <= high:
        pieces.append((start, high))
    return pieces


def _simdevice_datastore(
    spans: Mapping[int, tuple[int, int]],
    holes: Mapping[int, Sequence[tuple[int, int]]],
    source: RegisterSource,
    request_hint: RequestHint | None,
) -> list[Any]:
    simulator: Any = importlib.import_module("pymodbus.simulator")
    pdu: Any = importlib.import_module("pymodbus.pdu")
    data_type, sim_data, sim_device = simulator.DataType, simulator.SimData, simulator.SimDevice

    devices = []
    for device_id, (low, high) in spans.items():
        pieces = _segments(low, high, holes.get(device_id, ()))

        async def action(
            *args: Any, _device_id: int = device_id, _low: int = low, _pieces: Any = pieces
        ) -> Any:
            if len(args) == 6:
                # 3.13+: (function_code, start_address, address, count, registers, set_values);
                # registers[0] is start_address; an ExcCodes result becomes an exception.
                function_code, start, address, count, registers, set_values = args
                if set_values:
                    return ExcCodes.ILLEGAL_FUNCTION
                result = source(_device_id, function_code, address, count)
                if isinstance(result, int):
                    return _exception(result)
                registers[address - start : address - start + len(result)] = result
                return None
            # 3.12: (function_code, address, registers, set_values); the count is not passed,
            # registers is the whole block (from _low) and an ExceptionResponse is returned.
            function_code, address, registers, set_values = args
            if set_values:
                return pdu.ExceptionResponse(function_code, ExcCodes.ILLEGAL_FUNCTION)
            # fill up to the end of the readable piece holding ``address``; pymodbus itself
            # refuses reads that run into a hole (INVALID registers) after this returns
            piece_end = next((b for a, b in _pieces if a <= address <= b), address)
            count = min(125, piece_end - address + 1)
            # The line's tap saw the request frame: use its count when it is this request
            # (3.12 answers a read into INVALID registers with exception 4, a bug of its own,
            # so holes are refused here with the right code 2).
            seen = request_hint(_device_id) if request_hint is not None else None
            if seen is not None and seen[:2] == (function_code, address):
                count = seen[2]
            result = source(_device_id, function_code, address, count)
            if isinstance(result, int):
                return pdu.ExceptionResponse(function_code, _exception(result))
            registers[address - _low : address - _low + len(result)] = result
            return None

        blocks = [
            sim_data(address=a, count=b - a + 1, values=0, datatype=data_type.REGISTERS)
            for a, b in pieces
        ]
        devices.append(sim_device(id=device_id, simdata=blocks, action=action))
    return devices


def _context_datastore(spans: Mapping[int, tuple[int, int]], source: RegisterSource) -> Any:
    context: Any = importlib.import_module("pymodbus.datastore.context")

    class _Device(context.ModbusBaseDeviceContext):  # type: ignore[misc]
        def __init__(self, device_id: int) -> None:
            self.device_id = device_id

        def reset(self) -> None:
            """Nothing stored: every read is computed."""

        def getValues(self, func_code: int, address: int, count: int = 1) -> Any:
            result = source(self.device_id, func_code, address, count)
            return _exception(result) if isinstance(result, int) else result

        def setValues(self, func_code: int, address: int, values: Any) -> Any:
            return ExcCodes.ILLEGAL_FUNCTION

    return context.ModbusServerContext(devices={d: _Device(d) for d in spans}, single=False)


class SerialRegisterServer:
    """A pymodbus RTU server on ``port`` answering for the device ids in ``spans``.

    ``spans`` maps each device id to the (lowest, highest) register address it may be asked;
    reads outside, or touching one of its ``holes`` (inclusive ranges), are answered with
    exception 2 — by pymodbus itself where the datastore can express it.
    """

    def __init__(
        self,
        port: str,
        spans: Mapping[int, tuple[int, int]],
        source: RegisterSource,
        *,
        holes: Mapping[int, Sequence[tuple[int, int]]] | None = None,
        request_hint: RequestHint | None = None,
        baudrate: int = 9600,
    ) -> None:
        self._request_hint = request_hint
        self._port = port
        self._spans = dict(spans)
        self._holes = dict(holes or {})
        self._source = source
        self._baudrate = baudrate
        self._server: Any = None
        self.api = "simdevice" if uses_simdevice_api() else "context"

    async def start(self) -> None:
        if self.api == "simdevice":
            datastore = _simdevice_datastore(
                self._spans, self._holes, self._source, self._request_hint
            )
        else:
            datastore = _context_datastore(self._spans, self._source)
        server: Any = ModbusSerialServer
        self._server = server(
            datastore, framer=FramerType.RTU, port=self._port, baudrate=self._baudrate
        )
        if "background" not in inspect.signature(self._server.serve_forever).parameters:
            raise RuntimeError("this pymodbus has no serve_forever(background=True)")
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
