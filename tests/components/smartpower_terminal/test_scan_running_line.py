"""The bus scan of a running line goes through the line's own terminal, between its polls."""

from __future__ import annotations

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.smartpower_terminal.const import (
    CONF_DEVICE_ID,
    CONF_NAME,
    CONF_PROFILE,
    SUBENTRY_MODBUS_DEVICE,
)

from .conftest import MockEntryFactory


@pytest.fixture(autouse=True)
def _short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 0.05)
    monkeypatch.setattr("custom_components.smartpower_terminal.subentry_flows.SCAN_TIMEOUT", 0.05)


async def test_scan_while_the_line_polls(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(
        modbus_port,
        subentries_data=[
            {
                "data": {CONF_NAME: "", CONF_DEVICE_ID: 1, CONF_PROFILE: "eastron_sdm630"},
                "subentry_id": "sdm",
                "subentry_type": SUBENTRY_MODBUS_DEVICE,
                "title": "SDM630",
                "unique_id": "1",
            }
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    flows = hass.config_entries.subentries
    result = await flows.async_init(
        (entry.entry_id, SUBENTRY_MODBUS_DEVICE), context={"source": SOURCE_USER}
    )
    result = await flows.async_configure(result["flow_id"], {"next_step_id": "scan"})
    result = await flows.async_configure(result["flow_id"], {"first_address": 1, "last_address": 3})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    # the coordinator keeps polling meanwhile: the terminal's lock keeps one user on the bus
    hass.async_create_task(entry.runtime_data.fast.async_refresh())
    await hass.async_block_till_done()
    assert entry.runtime_data.hub.available("sdm")
    result = await flows.async_configure(result["flow_id"])

    assert result["step_id"] == "scan_result"
    options = result["data_schema"].schema["found"].config["options"]
    assert [o["value"] for o in options] == ["2"]  # 1 is on the line already
    result = await flows.async_configure(result["flow_id"], {"found": "2"})
    result = await flows.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: 2, CONF_PROFILE: "kael_varkombi"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert {s.data[CONF_DEVICE_ID] for s in entry.subentries.values()} == {1, 2}

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
