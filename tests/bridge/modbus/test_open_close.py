"""Opening a line and closing it at once (a port test, a reload) leaves nothing running.

pymodbus 3.16 finishes setting a serial port up in loop callbacks scheduled after ``connect()``
returns; closing before they ran made one of them fail on the closed port ("Exception in
callback SerialTransport.setup()", logged by asyncio). Run this file with each pymodbus release
the package admits (CI runs the Modbus tests with the newest one as well).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from hardware_bridge import SerialSettings
from hardware_bridge.modbus import ModbusBus
from hardware_bridge.simulators.virtual_serial import VirtualSerialPort


async def test_open_then_close_at_once_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async with VirtualSerialPort() as port:
        with caplog.at_level(logging.WARNING):
            for _ in range(5):
                bus = ModbusBus(SerialSettings(port=port.path, baudrate=9600))
                await bus.open()
                await bus.close()
            await asyncio.sleep(0.05)  # anything still queued runs now
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
