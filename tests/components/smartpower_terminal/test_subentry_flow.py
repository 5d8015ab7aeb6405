"""Adding and changing the meters and Modbus devices of a line (config subentries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

import pytest
import voluptuous as vol
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.config_flow import SmartPowerConfigFlow
from custom_components.smartpower_terminal.const import (
    CONF_ADDRESS,
    CONF_DEVICE_ID,
    CONF_MAX_BAUD,
    CONF_NAME,
    CONF_PROFILE,
    CONF_PROFILES_DIR,
    CONF_READOUT_MODE,
    PROTOCOL_IEC,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
)
from hardware_bridge import ScanHit

from .conftest import MockEntryFactory

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

FLOW = "custom_components.smartpower_terminal.subentry_flows"


def _meter(subentry_id: str, address: str) -> dict[str, Any]:
    return {
        "data": {
            CONF_NAME: "",
            CONF_ADDRESS: address,
            CONF_READOUT_MODE: "full",
            CONF_MAX_BAUD: 9600,
        },
        "subentry_id": subentry_id,
        "subentry_type": SUBENTRY_METER,
        "title": f"Meter {address}",
        "unique_id": address,
    }


def _device(subentry_id: str, device_id: int, profile: str = "eastron_sdm630") -> dict[str, Any]:
    return {
        "data": {CONF_NAME: "", CONF_DEVICE_ID: device_id, CONF_PROFILE: profile},
        "subentry_id": subentry_id,
        "subentry_type": SUBENTRY_MODBUS_DEVICE,
        "title": f"{profile} @ {device_id}",
        "unique_id": str(device_id),
    }


async def _start(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str, subentry_id: str | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {"source": SOURCE_USER}
    if subentry_id is not None:
        context = {"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id}
    return await hass.config_entries.subentries.async_init((entry.entry_id, kind), context=context)


async def _configure(hass: HomeAssistant, flow_id: str, data: dict[str, Any] | None = None) -> Any:
    return await hass.config_entries.subentries.async_configure(flow_id, data)


def _added(entry: MockConfigEntry, kind: str) -> list[Any]:
    return [s for s in entry.subentries.values() if s.subentry_type == kind]


def test_both_kinds_offer_reconfigure(mock_config_entry: MockEntryFactory) -> None:
    types = SmartPowerConfigFlow.async_get_supported_subentry_types(mock_config_entry())
    assert set(types) == {SUBENTRY_METER, SUBENTRY_MODBUS_DEVICE}
    assert all(hasattr(flow, "async_step_reconfigure") for flow in types.values())


# -- meters ----------------------------------------------------------------------------------
METER_FORM = {CONF_READOUT_MODE: "short", CONF_MAX_BAUD: "4800"}


async def test_a_lone_meter_may_go_without_address(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry("/dev/ttyUSB1", PROTOCOL_IEC)
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await _configure(hass, result["flow_id"], {CONF_ADDRESS: "  ", **METER_FORM})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (meter,) = _added(entry, SUBENTRY_METER)
    assert meter.title == "Meter /?!"
    assert dict(meter.data) == {
        CONF_NAME: "",
        CONF_ADDRESS: "",
        CONF_READOUT_MODE: "short",
        CONF_MAX_BAUD: 4800,
    }


async def test_meter_address_from_manufacturer_code_and_serial(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry("/dev/ttyUSB1", PROTOCOL_IEC, subentries_data=[_meter("a", "LUN1")])
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER)
    result = await _configure(
        hass,
        result["flow_id"],
        {
            CONF_NAME: "Main meter",
            "manufacturer_code": "msy",
            "serial_number": "80099921",
            **METER_FORM,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    meter = next(s for s in _added(entry, SUBENTRY_METER) if s.subentry_id != "a")
    assert meter.title == "Main meter"
    assert meter.unique_id == "MSY80099921"
    assert meter.data[CONF_ADDRESS] == "MSY80099921"


@pytest.mark.parametrize(
    ("existing", "address", "error"),
    [
        ([], "MSY-800", "invalid_address"),
        ([], "x" * 33, "invalid_address"),
        (["MSY1"], "MSY1", "duplicate_address"),
        (["MSY1"], "", "address_required"),
        ([""], "MSY2", "address_required"),
    ],
)
async def test_meter_address_mistakes_are_shown(
    hass: HomeAssistant,
    mock_config_entry: MockEntryFactory,
    existing: list[str],
    address: str,
    error: str,
) -> None:
    entry = mock_config_entry(
        "/dev/ttyUSB1",
        PROTOCOL_IEC,
        subentries_data=[_meter(f"m{i}", a) for i, a in enumerate(existing)],
    )
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER)
    result = await _configure(hass, result["flow_id"], {CONF_ADDRESS: address, **METER_FORM})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ADDRESS: error}
    assert len(entry.subentries) == len(existing)


@pytest.mark.parametrize(
    ("code", "error"),
    [("", "manufacturer_code_required"), ("M1", "invalid_manufacturer_code")],
)
async def test_a_serial_number_needs_its_manufacturer_code(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory, code: str, error: str
) -> None:
    """The address is code + serial: a serial alone would be sent as the address, unanswered."""
    entry = mock_config_entry("/dev/ttyUSB1", PROTOCOL_IEC)
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER)
    result = await _configure(
        hass,
        result["flow_id"],
        {"manufacturer_code": code, "serial_number": "80099921", **METER_FORM},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"manufacturer_code": error}
    assert not entry.subentries


async def test_manufacturer_codes_are_offered_with_their_names(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry("/dev/ttyUSB1", PROTOCOL_IEC)
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER)
    options = result["data_schema"].schema["manufacturer_code"].config["options"]
    labels = {o["value"]: o["label"] for o in options}
    assert labels["MSY"] == "MSY — Makel"
    assert labels["LUN"] == "LUN — Luna Elektrik"
    assert result["data_schema"].schema["manufacturer_code"].config["custom_value"] is True


async def test_a_meter_is_refused_on_a_modbus_line(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(subentries_data=[_meter("old", "MSY1")])
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_meter_line"
    result = await _start(hass, entry, SUBENTRY_METER, "old")
    assert result["reason"] == "not_meter_line"


async def test_reconfigure_a_meter(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(
        "/dev/ttyUSB1", PROTOCOL_IEC, subentries_data=[_meter("a", "MSY1"), _meter("b", "LUN2")]
    )
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_METER, "a")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    flow_id = result["flow_id"]

    result = await _configure(hass, flow_id, {CONF_ADDRESS: "LUN2", **METER_FORM})
    assert result["errors"] == {CONF_ADDRESS: "duplicate_address"}

    result = await _configure(hass, flow_id, {CONF_ADDRESS: "MSY1", **METER_FORM})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    meter = entry.subentries["a"]
    assert meter.data[CONF_READOUT_MODE] == "short"
    assert meter.data[CONF_MAX_BAUD] == 4800
    assert meter.unique_id == "MSY1"


# -- Modbus devices: manual ------------------------------------------------------------------
async def _manual(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["manual", "scan"]
    result = await _configure(hass, result["flow_id"], {"next_step_id": "manual"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    return result["flow_id"]


async def test_add_a_modbus_device_by_hand(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    flow_id = await _manual(hass, entry)
    result = await _configure(hass, flow_id, {CONF_DEVICE_ID: 2.0, CONF_PROFILE: "kael_varkombi"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (device,) = _added(entry, SUBENTRY_MODBUS_DEVICE)
    assert device.unique_id == "2"
    assert dict(device.data) == {CONF_NAME: "", CONF_DEVICE_ID: 2, CONF_PROFILE: "kael_varkombi"}
    assert "@ 2" in device.title


async def test_the_profile_list_holds_shipped_and_broken_user_profiles(
    hass: HomeAssistant, tmp_path: Path, mock_config_entry: MockEntryFactory
) -> None:
    (tmp_path / "acme_pf1.yaml").write_text("manufacturer: Acme\nmodel: PF-1\npoints: 3\n")
    # a broken copy of a shipped profile: the shipped one stays listed, once
    (tmp_path / "eastron_sdm120.yaml").write_text("manufacturer: [\n")
    entry = mock_config_entry(options={CONF_PROFILES_DIR: str(tmp_path)})
    entry.add_to_hass(hass)
    flow_id = await _manual(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {CONF_DEVICE_ID: 3, CONF_PROFILE: "acme_pf1"}
    )
    assert result["errors"] == {CONF_PROFILE: "profile_invalid"}
    assert result["description_placeholders"]["file"] == "acme_pf1.yaml"
    assert result["description_placeholders"]["field"] == "points"
    options = result["data_schema"].schema[CONF_PROFILE].config["options"]
    values = [o["value"] for o in options]
    assert "eastron_sdm630" in values
    assert values.count("eastron_sdm120") == 1
    assert values[-1] == "acme_pf1"


@pytest.mark.parametrize(
    ("form", "field", "error"),
    [
        (
            {CONF_DEVICE_ID: 0, CONF_PROFILE: "eastron_sdm630"},
            CONF_DEVICE_ID,
            "address_out_of_range",
        ),
        (
            {CONF_DEVICE_ID: 248, CONF_PROFILE: "eastron_sdm630"},
            CONF_DEVICE_ID,
            "address_out_of_range",
        ),
        (
            {CONF_DEVICE_ID: 1.5, CONF_PROFILE: "eastron_sdm630"},
            CONF_DEVICE_ID,
            "address_out_of_range",
        ),
        ({CONF_DEVICE_ID: 1, CONF_PROFILE: "eastron_sdm630"}, CONF_DEVICE_ID, "duplicate_address"),
        ({CONF_DEVICE_ID: 5, CONF_PROFILE: "acme_unknown"}, CONF_PROFILE, "unknown_profile"),
    ],
)
async def test_modbus_device_mistakes_are_shown(
    hass: HomeAssistant,
    mock_config_entry: MockEntryFactory,
    form: dict[str, Any],
    field: str,
    error: str,
) -> None:
    entry = mock_config_entry(subentries_data=[_device("sdm", 1)])
    entry.add_to_hass(hass)
    flow_id = await _manual(hass, entry)
    result = await _configure(hass, flow_id, form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    if error == "unknown_profile":
        assert result["description_placeholders"]["profile"] == "acme_unknown"


async def test_a_modbus_device_is_refused_on_a_meter_line(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry("/dev/ttyUSB1", PROTOCOL_IEC, subentries_data=[_device("x", 1)])
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_modbus_line"
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE, "x")
    assert result["reason"] == "not_modbus_line"


async def test_reconfigure_a_modbus_device(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(
        subentries_data=[_device("sdm", 1), _device("relay", 2, "kael_varkombi")]
    )
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE, "sdm")
    assert result["step_id"] == "reconfigure"
    flow_id = result["flow_id"]
    result = await _configure(hass, flow_id, {CONF_DEVICE_ID: 2, CONF_PROFILE: "eastron_sdm630"})
    assert result["errors"] == {CONF_DEVICE_ID: "duplicate_address"}

    result = await _configure(
        hass, flow_id, {CONF_NAME: "Panel", CONF_DEVICE_ID: 1, CONF_PROFILE: "eastron_sdm120"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    device = entry.subentries["sdm"]
    assert device.title == "Panel"
    assert device.data[CONF_PROFILE] == "eastron_sdm120"


# -- Modbus devices: scan --------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fast_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{FLOW}.SCAN_TIMEOUT", 0.05)


async def _scan(hass: HomeAssistant, entry: MockConfigEntry, first: int, last: int) -> Any:
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE)
    flow_id = result["flow_id"]
    result = await _configure(hass, flow_id, {"next_step_id": "scan"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scan"
    result = await _configure(hass, flow_id, {"first_address": first, "last_address": last})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "scan"
    await hass.async_block_till_done()
    return await _configure(hass, flow_id)


async def test_scan_a_stopped_line_and_add_what_answers(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(modbus_port, subentries_data=[_device("relay", 2, "kael_varkombi")])
    entry.add_to_hass(hass)
    result = await _scan(hass, entry, 1, 3)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scan_result"
    options = result["data_schema"].schema["found"].config["options"]
    # address 2 is on the line already, 3 is silent
    assert options == [{"value": "1", "label": "1: Eastron SDM630"}]
    assert result["description_placeholders"] == {"count": "1"}

    result = await _configure(hass, result["flow_id"], {"found": "1"})
    assert result["step_id"] == "manual"
    schema = result["data_schema"].schema
    suggested = {str(k): k.description["suggested_value"] for k in schema if k.description}
    assert suggested == {CONF_DEVICE_ID: 1, CONF_PROFILE: "eastron_sdm630"}
    result = await _configure(
        hass, result["flow_id"], {CONF_DEVICE_ID: 1, CONF_PROFILE: "eastron_sdm630"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_scan_a_running_line_through_its_terminal(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    hits = [
        ScanHit(
            device_id=7, suggested_profile_id=None, candidates=("entes_mpr3x", "generic_analyzer")
        ),
        ScanHit(device_id=9, suggested_profile_id=None),
        ScanHit(device_id=11, suggested_profile_id="acme_gone"),
    ]
    entry.runtime_data = MagicMock(scan=AsyncMock(return_value=hits))

    result = await _scan(hass, entry, 5, 20)

    entry.runtime_data.scan.assert_awaited_once_with(5, 20, 0.05)
    labels = [o["label"] for o in result["data_schema"].schema["found"].config["options"]]
    assert labels == [
        "7: entes_mpr3x / generic_analyzer",
        "9: unknown type",
        "11: unknown type",
    ]
    result = await _configure(hass, result["flow_id"], {"found": "9"})
    assert result["step_id"] == "manual"
    # no profile is offered that the scan did not find: the form must not preselect one
    (profile,) = (k for k in result["data_schema"].schema if str(k) == CONF_PROFILE)
    assert isinstance(profile, vol.Optional)
    assert profile.default is vol.UNDEFINED
    assert (profile.description or {}).get("suggested_value") is None
    result = await _configure(hass, result["flow_id"], {CONF_DEVICE_ID: 9})
    assert result["errors"] == {CONF_PROFILE: "profile_required"}
    result = await _configure(
        hass, result["flow_id"], {CONF_DEVICE_ID: 9, CONF_PROFILE: "entes_mpr3x"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_an_unknown_type_reads_in_home_assistants_language(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    hass.config.language = "tr"
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    with patch(
        f"{FLOW}.scan_modbus_line",
        AsyncMock(return_value=[ScanHit(device_id=4, suggested_profile_id=None)]),
    ):
        result = await _scan(hass, entry, 1, 5)
    labels = [o["label"] for o in result["data_schema"].schema["found"].config["options"]]
    assert labels == ["4: türü bilinmiyor"]


async def test_scan_without_answers_aborts(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(modbus_port)
    entry.add_to_hass(hass)
    result = await _scan(hass, entry, 100, 101)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


async def test_scan_range_must_make_sense(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    result = await _start(hass, entry, SUBENTRY_MODBUS_DEVICE)
    result = await _configure(hass, result["flow_id"], {"next_step_id": "scan"})
    result = await _configure(hass, result["flow_id"], {"first_address": 9, "last_address": 3})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "scan_range"}


async def test_scan_of_a_missing_port_says_so_in_the_form(
    hass: HomeAssistant, tmp_path: Path, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(str(tmp_path / "ttyUSB4"))
    entry.add_to_hass(hass)
    result = await _scan(hass, entry, 1, 2)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scan"
    assert result["errors"] == {"base": "cannot_open"}
    assert "ttyUSB4" in result["description_placeholders"]["error"]


async def test_an_unexpected_scan_failure_is_logged_not_raised(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory, caplog: pytest.LogCaptureFixture
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    with patch(f"{FLOW}.scan_modbus_line", AsyncMock(side_effect=RuntimeError("boom"))):
        result = await _scan(hass, entry, 1, 2)
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while scanning" in caplog.text
