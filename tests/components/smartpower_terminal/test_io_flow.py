"""The device form's relays-and-inputs step, the Grup ARGE address helper, and the line options
for I/O and mains loss."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.smartpower_terminal.const import (
    CONF_DEVICE_ID,
    CONF_GRUP_ARGE_SERIAL,
    CONF_IO,
    CONF_IO_INTERVAL,
    CONF_IO_SUPPORT,
    CONF_MAINS_DETECTION,
    CONF_MAINS_SOURCE,
    CONF_NAME,
    CONF_PROFILE,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
)

from .conftest import PROTOCOL_IEC, MockEntryFactory
from .test_subentry_flow import _added, _configure, _device, _manual, _meter, _start

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

BOARD = "waveshare_relay_8ch_d"


async def test_a_board_with_io_support_asks_for_its_relays_and_inputs(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(options={CONF_IO_SUPPORT: True})
    entry.add_to_hass(hass)
    flow_id = await _manual(hass, entry)
    result = await _configure(hass, flow_id, {CONF_DEVICE_ID: 3, CONF_PROFILE: BOARD})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "io"
    fields = {str(k) for k in result["data_schema"].schema}
    assert {"relay_1_name", "relay_8_max_on", "input_8_device_class", "input_8_inverted"} <= fields
    assert "Waveshare" in result["description_placeholders"]["device"]

    result = await _configure(
        hass,
        flow_id,
        {
            "relay_1_name": " Pump ",
            "relay_1_max_on": 90,
            "input_1_name": "Tank low",
            "input_1_device_class": "moisture",
            "input_1_inverted": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (device,) = _added(entry, SUBENTRY_MODBUS_DEVICE)
    io = device.data[CONF_IO]
    assert io["relay_1"] == {"name": "Pump", "max_on": 90.0}
    assert io["relay_2"] == {"name": "", "max_on": 0.0}
    assert io["input_1"] == {"name": "Tank low", "device_class": "moisture", "inverted": True}
    assert io["input_2"] == {"name": "", "device_class": "none", "inverted": False}


async def test_reconfigure_keeps_and_shows_the_io_settings(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    board = _device("board", 3, BOARD)
    board["data"] = {
        **board["data"],
        CONF_IO: {
            "input_2": {"name": "Door", "device_class": "door", "inverted": False},
            "relay_1": {"name": "", "max_on": 0},  # an empty name is no suggestion
        },
    }
    entry = mock_config_entry(options={CONF_IO_SUPPORT: True}, subentries_data=[board])
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE, "board")
    result = await _configure(
        hass, result["flow_id"], {CONF_NAME: "Board", CONF_DEVICE_ID: 3, CONF_PROFILE: BOARD}
    )
    assert result["step_id"] == "io"
    suggested = {
        str(k): k.description["suggested_value"]
        for k in result["data_schema"].schema
        if k.description and "suggested_value" in k.description
    }
    assert suggested["input_2_name"] == "Door"
    assert suggested["input_2_device_class"] == "door"
    assert "relay_1_name" not in suggested
    result = await _configure(hass, result["flow_id"], {"input_2_name": "Back door"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries["board"].data[CONF_IO]["input_2"]["name"] == "Back door"


async def test_without_io_support_a_board_is_added_at_once(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    flow_id = await _manual(hass, entry)
    result = await _configure(hass, flow_id, {CONF_DEVICE_ID: 3, CONF_PROFILE: BOARD})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({CONF_GRUP_ARGE_SERIAL: "GA2023000147"}, {"device_id": 147}),
        ({CONF_GRUP_ARGE_SERIAL: "1005"}, {"device_id": 105}),
        ({CONF_GRUP_ARGE_SERIAL: "GA-12X"}, {"error": "invalid_grup_arge_serial"}),
        ({CONF_GRUP_ARGE_SERIAL: "7"}, {"error": "invalid_grup_arge_serial"}),
        ({}, {"error": "address_required"}),
        # an address given wins over the helper
        ({CONF_DEVICE_ID: 9, CONF_GRUP_ARGE_SERIAL: "GA2023000147"}, {"device_id": 9}),
    ],
)
async def test_grup_arge_address_from_the_serial_number(
    hass: HomeAssistant,
    mock_config_entry: MockEntryFactory,
    form: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    flow_id = await _manual(hass, entry)
    result = await _configure(hass, flow_id, {CONF_PROFILE: "kael_varkombi", **form})
    if "error" in expected:
        field = CONF_DEVICE_ID if expected["error"] == "address_required" else CONF_GRUP_ARGE_SERIAL
        assert result["errors"] == {field: expected["error"]}
        return
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (device,) = _added(entry, SUBENTRY_MODBUS_DEVICE)
    assert device.data[CONF_DEVICE_ID] == expected["device_id"]


async def test_options_offer_io_interval_and_mains_sources(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(
        data={CONF_MAINS_DETECTION: True},
        options={CONF_IO_SUPPORT: True, CONF_MAINS_SOURCE: "sdm"},
        subentries_data=[
            _device("sdm", 1),
            _device("board", 3, BOARD),
            _device("gone", 4, "acme_missing"),
        ],
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = {str(k): v for k, v in result["data_schema"].schema.items()}
    sources = [o["value"] for o in schema[CONF_MAINS_SOURCE].config["options"]]
    assert sources[0] == "sdm"
    assert "board" not in sources  # a relay board has no voltages
    assert sources[1:] == [f"board:input_{n}" for n in range(1, 9)]
    assert CONF_IO_INTERVAL in schema

    form = {
        "fast_interval": 10,
        "slow_interval": 15,
        CONF_IO_SUPPORT: True,
        CONF_IO_INTERVAL: 0.5,
        "inductive_limit": 20,
        "capacitive_limit": 15,
        CONF_MAINS_SOURCE: "board:input_8",
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_MAINS_SOURCE] == "board:input_8"
    assert entry.options[CONF_IO_INTERVAL] == 0.5

    result = await hass.config_entries.options.async_init(entry.entry_id)
    cleared = {k: v for k, v in form.items() if k != CONF_MAINS_SOURCE}  # field emptied
    result = await hass.config_entries.options.async_configure(result["flow_id"], cleared)
    assert CONF_MAINS_SOURCE not in entry.options


async def test_a_meter_line_offers_its_meters_as_mains_source(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(
        "/dev/ttyUSB1",
        PROTOCOL_IEC,
        data={CONF_MAINS_DETECTION: True},
        subentries_data=[_meter("main", "MSY80099921")],
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = {str(k): v for k, v in result["data_schema"].schema.items()}
    options = schema[CONF_MAINS_SOURCE].config["options"]
    assert [o["value"] for o in options] == ["main"]
    assert CONF_IO_INTERVAL not in schema
    assert _added(entry, SUBENTRY_METER)
