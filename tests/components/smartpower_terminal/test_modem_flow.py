"""Adding a cellular modem for SMS alarms, moving it to another port, and its options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest.mock import AsyncMock, patch

import pytest
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USB, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from custom_components.smartpower_terminal import modem_flow
from custom_components.smartpower_terminal.config_flow import SmartPowerConfigFlow
from custom_components.smartpower_terminal.const import (
    CONF_MAINS_DETECTION,
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_RECIPIENTS,
    CONF_SCAN_INTERVAL,
    CONF_TERMINAL_MODEL,
    DOMAIN,
    PROTOCOL_MODEM,
)
from hardware_bridge.simulators.at_modem import PROFILES, ModemSimulator, ModemState

from . import modem_helpers
from .conftest import MockEntryFactory
from .modem_helpers import IMEI, modem_entry

modem_sim = modem_helpers.modem_sim
short_modem_timeouts = modem_helpers.short_modem_timeouts

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

OTHER_IMEI = "356938035643809"


def _user_input(port: str) -> dict[str, object]:
    return {
        CONF_PORT: port,
        CONF_PROTOCOL: PROTOCOL_MODEM,
        CONF_TERMINAL_MODEL: "adapter",
        CONF_MAINS_DETECTION: False,
    }


async def _pick_modem(hass: HomeAssistant, port: str) -> dict:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    return await hass.config_entries.flow.async_configure(result["flow_id"], _user_input(port))


def _protocols(result: dict) -> list[str]:
    selector = result["data_schema"].schema[CONF_PROTOCOL]
    return [o if isinstance(o, str) else o["value"] for o in selector.config["options"]]


async def test_a_modem_is_added_with_its_recipients(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert PROTOCOL_MODEM in _protocols(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(modem_sim.path)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modem"
    assert result["description_placeholders"]["model"] == PROFILES["quectel_ec25"].model
    assert "AT" in modem_sim.commands  # it was asked, and answered

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_RECIPIENTS: ["+90 532 123 45 67", "+905321234567", "", "+49-151-1234-5678"]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Cellular modem (EC25)"
    assert result["data"] == {CONF_PROTOCOL: PROTOCOL_MODEM, CONF_PORT: modem_sim.path}
    assert result["options"] == {
        CONF_RECIPIENTS: ["+905321234567", "+4915112345678"],
        CONF_SCAN_INTERVAL: 60,
    }
    assert result["result"].unique_id == IMEI


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        (["+90532"], "invalid_recipient"),  # too short
        (["05321234567"], "invalid_recipient"),  # national form
        (["+9053212345671234"], "invalid_recipient"),  # 16 digits
        (["+90532123456x"], "invalid_recipient"),
        ([], "recipients_required"),
        (["  "], "recipients_required"),
    ],
)
async def test_bad_recipients_are_named(
    hass: HomeAssistant, modem_sim: ModemSimulator, typed: list[str], error: str
) -> None:
    result = await _pick_modem(hass, modem_sim.path)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_RECIPIENTS: ["+905321234567", *typed]}
        if error == "invalid_recipient"
        else {CONF_RECIPIENTS: typed},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_RECIPIENTS: error}
    if error == "invalid_recipient":
        assert result["description_placeholders"]["numbers"] == typed[0].strip()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RECIPIENTS: ["+905321234567"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_port_without_a_modem_is_its_own_error(hass: HomeAssistant) -> None:
    async with ModemSimulator(state=ModemState(silent=True)) as sim:
        result = await _pick_modem(hass, sim.path)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "user"
        assert result["errors"] == {CONF_PORT: "no_modem"}
        # the user fixes it (powers the modem): the same form goes on
        sim.state.silent = False
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _user_input(sim.path)
        )
        assert result["step_id"] == "modem"


async def test_a_missing_port_is_reported_before_asking_for_a_modem(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    result = await _pick_modem(hass, str(tmp_path / "ttyUSB9"))
    assert result["errors"] == {CONF_PORT: "port_missing"}


async def test_the_same_modem_is_not_added_twice(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    modem_entry("/dev/ttyUSB7").add_to_hass(hass)
    result = await _pick_modem(hass, modem_sim.path)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_a_port_in_use_by_a_line_is_refused(
    hass: HomeAssistant, modem_sim: ModemSimulator, mock_config_entry: MockEntryFactory
) -> None:
    mock_config_entry(modem_sim.path).add_to_hass(hass)
    result = await _pick_modem(hass, modem_sim.path)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_usb_discovery_offers_only_lines(hass: HomeAssistant, tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    info = UsbServiceInfo(
        device=str(device),
        vid="0403",
        pid="6001",
        serial_number="A1",
        manufacturer="FTDI",
        description="FT232R",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=info
    )
    assert result["step_id"] == "usb_confirm"
    assert PROTOCOL_MODEM not in _protocols(result)


def test_a_modem_entry_takes_no_subentries(modem_sim: ModemSimulator) -> None:
    entry = modem_entry(modem_sim.path)
    assert SmartPowerConfigFlow.async_get_supported_subentry_types(entry) == {}


# -- options ---------------------------------------------------------------------------------
async def test_options_change_recipients_and_interval(hass: HomeAssistant) -> None:
    entry = modem_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "modem"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_RECIPIENTS: ["+90532"], CONF_SCAN_INTERVAL: 120}
    )
    assert result["errors"] == {CONF_RECIPIENTS: "invalid_recipient"}
    assert result["description_placeholders"] == {"numbers": "+90532"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_RECIPIENTS: [], CONF_SCAN_INTERVAL: 120}
    )
    assert result["errors"] == {CONF_RECIPIENTS: "recipients_required"}
    for bad in (29, 3601):
        with pytest.raises(InvalidData):
            await hass.config_entries.options.async_configure(
                result["flow_id"], {CONF_RECIPIENTS: ["+905321234567"], CONF_SCAN_INTERVAL: bad}
            )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_RECIPIENTS: ["+44 7700 900123"], CONF_SCAN_INTERVAL: 120}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_RECIPIENTS: ["+447700900123"], CONF_SCAN_INTERVAL: 120}


# -- reconfigure -------------------------------------------------------------------------------
async def _reconfigure(hass: HomeAssistant, entry, port: str) -> dict:
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "modem_reconfigure"
    return await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_PORT: port})


async def test_the_modem_moves_to_another_port(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)
    result = await _reconfigure(hass, entry, modem_sim.path)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == modem_sim.path


async def test_another_modem_on_the_new_port_is_refused(hass: HomeAssistant) -> None:
    profile = dataclasses.replace(PROFILES["quectel_ec25"], imei=OTHER_IMEI)
    async with ModemSimulator(profile) as sim:
        entry = modem_entry("/dev/ttyUSB7")
        entry.add_to_hass(hass)
        result = await _reconfigure(hass, entry, sim.path)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_modem"
        assert entry.data[CONF_PORT] == "/dev/ttyUSB7"


async def test_a_running_modem_on_its_own_port_is_left_alone(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    before = len(modem_sim.commands)
    result = await _reconfigure(hass, entry, modem_sim.path)
    assert result["reason"] == "reconfigure_successful"
    assert len(modem_sim.commands) == before  # nothing said on the port it owns


async def test_reconfigure_names_what_is_wrong_with_the_port(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = modem_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)
    result = await _reconfigure(hass, entry, str(tmp_path / "ttyUSB9"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_missing"}
    with patch.object(modem_flow, "check_port", return_value=("cannot_open", "bad settings")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PORT: str(tmp_path / "ttyUSB9")}
        )
    assert result["errors"] == {"base": "cannot_open"}
    assert result["description_placeholders"] == {"error": "bad settings"}


async def test_a_modem_that_gives_no_identity_is_keyed_by_its_port(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    """A modem that answers AT but none of the identity queries is still a modem."""
    with patch.object(
        modem_flow,
        "async_identify_modem",
        AsyncMock(return_value={"manufacturer": None, "model": None, "imei": None}),
    ):
        result = await _pick_modem(hass, modem_sim.path)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RECIPIENTS: ["+905321234567"]}
    )
    assert result["title"] == "Cellular modem (AT)"
    assert result["result"].unique_id == modem_sim.path


def test_recipient_field_is_a_list_of_phone_numbers() -> None:
    field = modem_flow._recipients_field()
    (marker,) = field
    assert isinstance(marker, vol.Required)
    assert field[marker].config["type"] == "tel"
    assert field[marker].config["multiple"] is True
