"""pymodbus's RTU server behind one small interface, whatever the pymodbus version.

The server's datastore API changed in pymodbus 3.13: before, a ``ModbusServerContext`` maps
device ids to device contexts whose ``async_getValues`` we can implement ourselves; from
3.13 the datastore is a list of ``SimDevice`` objects whose registers come from ``SimData``
blocks, with an ``action`` coroutine called on every access that may rewrite the registers
or return an exception code. The API is picked by feature detection, not version strings.

Either way the simulator supplies one callback, :data:`RegisterSource`, that returns the
registers for a read (or a Modbus exception code), so values are computed when asked.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer

__all__ = ["RegisterSource", "SerialRegisterServer", "uses_simdevice_api"]

type RegisterSource = Callable[[int, int, int, int], list[int] | int]
"""(device_id, function_code, address, count) → registers, or a Modbus exception code."""


def uses_simdevice_api() -> bool:
    """True on pymodbus ≥ 3.13 (SimDevice with an ``action`` hook)."""
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


def _simdevice_datastore(spans: Mapping[int, tuple[int, int]], source: RegisterSource) -> list[Any]:
    simulator: Any = importlib.import_module("pymodbus.simulator")
    data_type, sim_data, sim_device = simulator.DataType, simulator.SimData, simulator.SimDevice
    devices = []
    for device_id, (low, high) in spans.items():

        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            current_registers: list[int],
            set_values: object,
            _device_id: int = device_id,
        ) -> Any:
            if set_values:
                return ExcCodes.ILLEGAL_FUNCTION
            result = source(_device_id, function_code, address, count)
            if isinstance(result, int):
                return _exception(result)
            offset = address - start_address
            current_registers[offset : offset + count] = result
            return None

        block = sim_data(address=low, count=high - low + 1, values=0, datatype=data_type.REGISTERS)
        devices.append(sim_device(id=device_id, simdata=[block], action=action))
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
    reads outside are answered with exception 2 by pymodbus itself.
    """

    def __init__(
        self,
        port: str,
        spans: Mapping[int, tuple[int, int]],
        source: RegisterSource,
        *,
        baudrate: int = 9600,
    ) -> None:
        self._port = port
        self._spans = dict(spans)
        self._source = source
        self._baudrate = baudrate
        self._server: Any = None
        self.api = "simdevice" if uses_simdevice_api() else "context"

    async def start(self) -> None:
        if self.api == "simdevice":
            datastore = _simdevice_datastore(self._spans, self._source)
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
