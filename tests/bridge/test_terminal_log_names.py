"""Log lines name a device as its owner named it, and snapshots tell fresh values from carried."""

from __future__ import annotations

import logging

import pytest

from hardware_bridge.modbus import load_catalogue
from hardware_bridge.models import LineProtocol, PollGroup
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.simulators.modbus_line import Fault, ModbusLineSimulator, SimulatedDevice
from hardware_bridge.terminal import LineConfig, LineTerminal, ModbusDeviceConfig


async def test_a_silent_device_is_logged_by_its_name(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = load_catalogue()
    sims = [SimulatedDevice(device_id=9, profile=catalogue.get("eastron_sdm630"))]
    async with ModbusLineSimulator(sims) as sim:
        config = LineConfig(
            protocol=LineProtocol.MODBUS,
            serial=SerialSettings(port=sim.path),
            devices=(
                ModbusDeviceConfig(
                    key="01M8MDG5QH81GKEGFTW7GENKGN",
                    device_id=9,
                    profile_id="eastron_sdm630",
                    name="Main analyser",
                ),
            ),
            timeout=0.05,
            retries=0,
        )
        async with LineTerminal(config, catalogue) as terminal:
            fast = await terminal.poll(PollGroup.FAST)
            snapshot = fast["01M8MDG5QH81GKEGFTW7GENKGN"]
            fast_keys = {s.key for s in terminal.specs(snapshot.device_key) if s.group == "fast"}
            assert snapshot.read_keys == fast_keys
            slow = await terminal.poll(PollGroup.SLOW)
            snapshot = slow["01M8MDG5QH81GKEGFTW7GENKGN"]
            assert "energy_import_total" in snapshot.read_keys
            assert "voltage_l1" not in snapshot.read_keys  # carried from the fast poll
            assert snapshot.values["voltage_l1"] is not None
            sim.set_fault(9, Fault.SILENT)
            with caplog.at_level(logging.INFO, logger="hardware_bridge.terminal"):
                await terminal.poll(PollGroup.FAST)
                sim.set_fault(9, Fault.NONE)
                terminal._bus._health.clear()  # skip the bus's back-off for silent devices
                await terminal.poll(PollGroup.FAST)
    assert "Main analyser is not answering" in caplog.text
    assert "Main analyser answers again" in caplog.text
    assert "01M8MDG5QH81GKEGFTW7GENKGN" not in caplog.text
