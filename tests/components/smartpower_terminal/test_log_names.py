"""Log lines call a device by the name its owner gave it, never by its internal id."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from custom_components.smartpower_terminal import build_line_config
from hardware_bridge import load_catalogue
from hardware_bridge.simulators.modbus_line import Fault

from .runtime_helpers import (
    meter_entry,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)

ULID = "01M8MDG5QH81GKEGFTW7GENKGN"


def test_the_line_config_carries_the_device_names() -> None:
    modbus, _ = build_line_config(
        modbus_entry("/dev/ttyUSB0", [(ULID, 9, "eastron_sdm630")]), load_catalogue()
    )
    assert modbus.devices[0].name == "eastron_sdm630 @ 9"
    meters, _ = build_line_config(meter_entry("/dev/ttyUSB1", [(ULID, "123")]), load_catalogue())
    assert meters.meters[0].name == "Meter 123"


async def test_a_silent_device_is_logged_by_its_name(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(9, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [(ULID, 9, "eastron_sdm630")])
        await setup_entry(hass, entry)
        line.sim.set_fault(9, Fault.SILENT)
        with caplog.at_level(logging.INFO):
            await entry.runtime_data.fast.async_refresh()
        assert "eastron_sdm630 @ 9 is not answering" in caplog.text
        assert ULID not in "\n".join(
            r.getMessage() for r in caplog.records if r.name.startswith(("hardware", "custom"))
        )
        await unload(hass, entry)
