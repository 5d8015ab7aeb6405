"""The read_now action."""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from custom_components.smartpower_terminal.const import DOMAIN, SERVICE_READ_NOW

from .runtime_helpers import (
    get_device,
    modbus_entry,
    modbus_line,
    runtime_setup,  # noqa: F401
    setup_entry,
    unload,
)


async def test_read_now_reads_the_line_and_reports_failures(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        sent = line.sim.requests_seen(1)
        await hass.services.async_call(DOMAIN, SERVICE_READ_NOW, {}, blocking=True)
        assert line.sim.requests_seen(1) > sent

        device = get_device(hass, entry, "sdm")
        sent = line.sim.requests_seen(1)
        await hass.services.async_call(
            DOMAIN, SERVICE_READ_NOW, {"device_id": device.id}, blocking=True
        )
        assert line.sim.requests_seen(1) > sent

        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, SERVICE_READ_NOW, {"device_id": "nope"}, blocking=True
            )
        assert err.value.translation_key == "device_not_found"
    # the adapter is gone
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_READ_NOW, {}, blocking=True)
    assert err.value.translation_key == "read_failed"
    await unload(hass, entry)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_READ_NOW, {}, blocking=True)
    assert err.value.translation_key == "not_loaded"


async def test_read_now_rejects_a_foreign_device(hass: HomeAssistant, tmp_path: Path) -> None:
    async with modbus_line(tmp_path / "ttyUSB0", [(1, "eastron_sdm630")]) as line:
        entry = modbus_entry(str(line.port), [("sdm", 1, "eastron_sdm630")])
        await setup_entry(hass, entry)
        from pytest_homeassistant_custom_component.common import MockConfigEntry

        foreign_entry = MockConfigEntry(domain="other")
        foreign_entry.add_to_hass(hass)
        foreign = dr.async_get(hass).async_get_or_create(
            config_entry_id=foreign_entry.entry_id, identifiers={("other", "x")}, name="Lamp"
        )
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, SERVICE_READ_NOW, {"device_id": foreign.id}, blocking=True
            )
        assert err.value.translation_key == "device_not_ours"
        await unload(hass, entry)
