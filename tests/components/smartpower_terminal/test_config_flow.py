"""Adding, discovering and reconfiguring a serial line; the line's options."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
import serial
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USB, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from custom_components.smartpower_terminal import serial_ports
from custom_components.smartpower_terminal.const import (
    CONF_BAUDRATE,
    CONF_CAPACITIVE_LIMIT,
    CONF_DEVICE_ID,
    CONF_FAST_INTERVAL,
    CONF_INDUCTIVE_LIMIT,
    CONF_IO_INTERVAL,
    CONF_IO_SUPPORT,
    CONF_MAINS_DETECTION,
    CONF_NAME,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROFILES_DIR,
    CONF_PROTOCOL,
    CONF_SLOW_INTERVAL,
    CONF_TERMINAL_MODEL,
    DEFAULT_IO_INTERVAL,
    DOMAIN,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
    SUBENTRY_MODBUS_DEVICE,
)
from hardware_bridge import (
    LineUnavailableError,
    ProfileCatalogue,
    ProfileError,
    ScanHit,
    scan_modbus_line,
)

from .conftest import MockEntryFactory

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

FLOW = "custom_components.smartpower_terminal.config_flow"
CATALOGUE = "custom_components.smartpower_terminal.catalogue"
MODBUS_LINE = {
    CONF_PROTOCOL: PROTOCOL_MODBUS,
    CONF_TERMINAL_MODEL: "ht_g24",
    CONF_MAINS_DETECTION: True,
}
IEC_LINE = {CONF_PROTOCOL: PROTOCOL_IEC, CONF_TERMINAL_MODEL: "ht_g21", CONF_MAINS_DETECTION: False}


@pytest.fixture
def by_id_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /dev/serial/by-id."""
    folder = tmp_path / "by-id"
    folder.mkdir()
    monkeypatch.setattr(serial_ports, "BY_ID_DIR", folder)
    return folder


async def _start_user(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result["flow_id"]


async def test_modbus_line_on_its_by_id_path(
    hass: HomeAssistant, modbus_port: str, by_id_dir: Path
) -> None:
    link = by_id_dir / "usb-FTDI_FT232R_USB_UART_A10KXYZ-if00-port0"
    link.symlink_to(modbus_port)
    flow_id = await _start_user(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: modbus_port, **MODBUS_LINE}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BAUDRATE: "9600", CONF_PARITY: "none"}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "modbus_next"
    assert result["menu_options"] == ["scan", "finish"]
    result = await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "finish"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Modbus RTU line ({link})"
    assert result["data"] == {
        CONF_PORT: str(link),
        **MODBUS_LINE,
        CONF_BAUDRATE: 9600,
        CONF_PARITY: "N",
    }
    assert result["options"][CONF_FAST_INTERVAL] == 10
    assert result["result"].unique_id == str(link)


async def test_meter_line_needs_no_serial_settings(hass: HomeAssistant, meter_port: str) -> None:
    flow_id = await _start_user(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: meter_port, **IEC_LINE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IEC 62056-21 meters ({meter_port})"
    assert result["data"] == {CONF_PORT: meter_port, **IEC_LINE, CONF_BAUDRATE: 300}


async def test_listed_ports_are_offered(hass: HomeAssistant) -> None:
    ports = [
        serial_ports.SerialPortInfo("/dev/serial/by-id/usb-x", "FT232R (/dev/serial/by-id/usb-x)")
    ]
    with patch(f"{FLOW}.list_serial_ports", return_value=ports):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    selector = result["data_schema"].schema[CONF_PORT].config
    assert selector["options"] == [
        {"value": "/dev/serial/by-id/usb-x", "label": "FT232R (/dev/serial/by-id/usb-x)"}
    ]
    assert selector["custom_value"] is True  # a path may be typed


async def test_a_missing_port_is_shown_in_the_form(
    hass: HomeAssistant, meter_port: str, tmp_path: Path
) -> None:
    flow_id = await _start_user(hass)
    missing = str(tmp_path / "ttyUSB9")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: missing, **IEC_LINE}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_missing"}
    assert result["description_placeholders"]["error"] == missing

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: meter_port, **IEC_LINE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("check", "error"),
    [
        (("port_busy", "locked"), "port_busy"),
        (("permission_denied", "/dev/x"), "permission_denied"),
        (("cannot_open", "unsupported baud rate"), "cannot_open"),
        (RuntimeError("boom"), "unknown"),
    ],
)
async def test_modbus_line_errors_then_recovers(
    hass: HomeAssistant, modbus_port: str, check: object, error: str
) -> None:
    flow_id = await _start_user(hass)
    await hass.config_entries.flow.async_configure(flow_id, {CONF_PORT: modbus_port, **MODBUS_LINE})
    check_mock = (
        patch(f"{FLOW}.check_port", side_effect=check)
        if isinstance(check, Exception)
        else patch(f"{FLOW}.check_port", return_value=check)
    )
    with check_mock as checked:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_BAUDRATE: "19200", CONF_PARITY: "even"}
        )
    checked.assert_called_once_with(modbus_port, 19200, "E")  # opened with the line's settings
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    assert result["errors"] == {"base": error}

    # (a pty refuses parity, so the simulator line runs without)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BAUDRATE: "19200", CONF_PARITY: "none"}
    )
    assert result["type"] is FlowResultType.MENU, result.get("errors")
    result = await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BAUDRATE] == 19200


async def test_no_port_is_preselected_and_one_is_required(
    hass: HomeAssistant, meter_port: str
) -> None:
    """A required select makes the frontend preselect its first option (often /dev/ttyS0)."""
    ports = [serial_ports.SerialPortInfo("/dev/ttyS0", "/dev/ttyS0")]
    with patch(f"{FLOW}.list_serial_ports", return_value=ports):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    (port,) = (k for k in result["data_schema"].schema if str(k) == CONF_PORT)
    assert isinstance(port, vol.Optional)
    assert port.default is vol.UNDEFINED
    assert (port.description or {}).get("suggested_value") is None

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {**IEC_LINE})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_required"}


async def test_a_missing_port_is_reported_before_the_modbus_settings(
    hass: HomeAssistant, modbus_port: str, tmp_path: Path
) -> None:
    flow_id = await _start_user(hass)
    missing = str(tmp_path / "ttyUSB9")
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: missing, **MODBUS_LINE}
    )
    assert result["step_id"] == "user"  # where the port can still be changed
    assert result["errors"] == {CONF_PORT: "port_missing"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: modbus_port, **MODBUS_LINE}
    )
    assert result["step_id"] == "modbus"


# -- scanning a new Modbus line --------------------------------------------------------------
@pytest.fixture
def short_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scan addresses 1-3 only, quickly (the default simulator has devices at 1 and 2)."""
    real_scan = scan_modbus_line

    async def scan(*args: Any, **kwargs: Any) -> Any:
        return await real_scan(*args, **{**kwargs, "first": 1, "last": 3, "timeout": 0.05})

    monkeypatch.setattr(f"{FLOW}.scan_modbus_line", scan)


async def _scan_new_line(hass: HomeAssistant, port: str) -> tuple[str, Any]:
    flow_id = await _start_user(hass)
    await hass.config_entries.flow.async_configure(flow_id, {CONF_PORT: port, **MODBUS_LINE})
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BAUDRATE: "9600", CONF_PARITY: "none"}
    )
    result = await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "scan"})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "scan"
    await hass.async_block_till_done()
    return flow_id, await hass.config_entries.flow.async_configure(flow_id)


@pytest.mark.usefixtures("short_scan")
async def test_a_new_modbus_line_is_scanned_and_its_devices_added(
    hass: HomeAssistant, modbus_port: str
) -> None:
    flow_id, result = await _scan_new_line(hass, modbus_port)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scan_result"
    devices = result["data_schema"].schema["devices"].config
    assert devices["multiple"] is True
    labels = {o["value"]: o["label"] for o in devices["options"]}
    assert labels == {"1": "1: Eastron SDM630", "2": "2: KAEL Mühendislik VARkombi"}
    assert result["description_placeholders"] == {"count": "2", "unknown": "-"}

    result = await hass.config_entries.flow.async_configure(flow_id, {"devices": ["1"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (device,) = result["result"].subentries.values()
    assert device.subentry_type == SUBENTRY_MODBUS_DEVICE
    assert device.title == "Eastron SDM630 @ 1"
    assert device.unique_id == "1"
    assert dict(device.data) == {CONF_NAME: "", CONF_DEVICE_ID: 1, CONF_PROFILE: "eastron_sdm630"}


async def test_devices_of_unknown_type_are_named_not_guessed(
    hass: HomeAssistant, modbus_port: str
) -> None:
    hits = [
        ScanHit(device_id=1, suggested_profile_id="eastron_sdm630"),
        ScanHit(device_id=7, suggested_profile_id=None, candidates=("entes_mpr3x",)),
        ScanHit(device_id=9, suggested_profile_id=None),
    ]
    with patch(f"{FLOW}.scan_modbus_line", AsyncMock(return_value=hits)):
        flow_id, result = await _scan_new_line(hass, modbus_port)
    options = result["data_schema"].schema["devices"].config["options"]
    assert [o["value"] for o in options] == ["1"]
    assert result["description_placeholders"] == {"count": "3", "unknown": "7, 9"}

    result = await hass.config_entries.flow.async_configure(flow_id, {"devices": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not result["result"].subentries


@pytest.mark.usefixtures("short_scan")
async def test_a_line_where_nothing_answers_shows_at_once(
    hass: HomeAssistant, meter_port: str
) -> None:
    # the meter simulator's line is silent to Modbus: as a dead or mis-set line would be
    flow_id, result = await _scan_new_line(hass, meter_port)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "nothing_found"
    assert result["menu_options"] == ["modbus", "scan", "finish"]
    assert result["description_placeholders"] == {
        "port": meter_port,
        "baudrate": "9600",
        "error": "-",
    }
    result = await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "modbus"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BAUDRATE: "19200", CONF_PARITY: "none"}
    )
    result = await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BAUDRATE] == 19200


@pytest.mark.parametrize(
    ("failure", "shown"),
    [(LineUnavailableError("port vanished"), "port vanished"), (RuntimeError(), "RuntimeError")],
)
async def test_a_failed_scan_says_why(
    hass: HomeAssistant,
    modbus_port: str,
    failure: Exception,
    shown: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with patch(f"{FLOW}.scan_modbus_line", AsyncMock(side_effect=failure)):
        _, result = await _scan_new_line(hass, modbus_port)
    assert result["step_id"] == "nothing_found"
    assert result["description_placeholders"]["error"] == shown
    assert ("Unexpected error while scanning" in caplog.text) is isinstance(failure, RuntimeError)


async def test_the_same_line_twice_is_refused(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    mock_config_entry(modbus_port).add_to_hass(hass)
    flow_id = await _start_user(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: modbus_port, **MODBUS_LINE}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_a_port_stored_under_another_id_is_refused(
    hass: HomeAssistant, meter_port: str, mock_config_entry: MockEntryFactory
) -> None:
    mock_config_entry(meter_port, PROTOCOL_IEC, unique_id="older-id").add_to_hass(hass)
    flow_id = await _start_user(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: meter_port, **IEC_LINE}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def _usb(device: str) -> UsbServiceInfo:
    return UsbServiceInfo(
        device=device,
        vid="0403",
        pid="6001",
        serial_number="A10KXYZ",
        manufacturer="FTDI",
        description="FT232R USB UART",
    )


async def test_usb_discovery_confirms_then_asks_the_line_settings(
    hass: HomeAssistant, modbus_port: str, by_id_dir: Path
) -> None:
    link = by_id_dir / "usb-FTDI_FT232R_USB_UART_A10KXYZ-if00-port0"
    link.symlink_to(modbus_port)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb(modbus_port)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "usb_confirm"
    assert result["description_placeholders"]["name"] == "FT232R USB UART"
    assert result["description_placeholders"]["port"] == str(link)
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(flow_id, MODBUS_LINE)
    assert result["step_id"] == "modbus"
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_BAUDRATE: "9600", CONF_PARITY: "none"}
    )
    result = await hass.config_entries.flow.async_configure(flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == str(link)
    assert result["result"].unique_id == str(link)


async def test_usb_discovery_of_a_meter_head(
    hass: HomeAssistant, meter_port: str, tmp_path: Path
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb(meter_port)
    )
    flow_id = result["flow_id"]
    with patch(f"{FLOW}.check_port", return_value=("port_busy", "locked")):
        result = await hass.config_entries.flow.async_configure(flow_id, IEC_LINE)
    assert result["step_id"] == "usb_confirm"
    assert result["errors"] == {"base": "port_busy"}
    result = await hass.config_entries.flow.async_configure(flow_id, IEC_LINE)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BAUDRATE] == 300


async def test_usb_discovery_of_a_configured_adapter_aborts(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    mock_config_entry(modbus_port).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb(modbus_port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_moves_the_line_and_keeps_the_entry(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert set(result["data_schema"].schema) == {CONF_PORT, CONF_BAUDRATE, CONF_PARITY}
    suggested = {str(k): k.description["suggested_value"] for k in result["data_schema"].schema}
    assert suggested == {CONF_PORT: "/dev/ttyUSB7", CONF_BAUDRATE: "9600", CONF_PARITY: "none"}

    with patch(f"{FLOW}.check_port", return_value=None):  # a pty refuses parity
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PORT: modbus_port, CONF_BAUDRATE: "19200", CONF_PARITY: "even"}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == modbus_port
    assert entry.title == f"Modbus RTU line ({modbus_port})"
    assert entry.data[CONF_PORT] == modbus_port
    assert entry.data[CONF_BAUDRATE] == 19200
    assert entry.data[CONF_PARITY] == "E"
    assert entry.data[CONF_TERMINAL_MODEL] == "ht_g24"  # untouched


async def test_reconfigure_a_meter_line_asks_only_the_port(
    hass: HomeAssistant, meter_port: str, tmp_path: Path, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry("/dev/ttyUSB3", PROTOCOL_IEC)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert set(result["data_schema"].schema) == {CONF_PORT}
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: str(tmp_path / "gone")}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_missing"}

    with patch(f"{FLOW}.check_port", return_value=("cannot_open", "not a tty")):
        result = await hass.config_entries.flow.async_configure(flow_id, {CONF_PORT: meter_port})
    assert result["errors"] == {"base": "cannot_open"}
    assert result["description_placeholders"]["error"] == "not a tty"

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_PORT: meter_port})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == meter_port
    assert entry.data[CONF_BAUDRATE] == 300


async def test_reconfigure_onto_another_lines_port_aborts(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    mock_config_entry(modbus_port).add_to_hass(hass)
    entry = mock_config_entry("/dev/ttyUSB7")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PORT: modbus_port, CONF_BAUDRATE: "9600", CONF_PARITY: "none"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == "/dev/ttyUSB7"


# -- options ---------------------------------------------------------------------------------
OPTIONS = {
    CONF_FAST_INTERVAL: 5.0,
    CONF_SLOW_INTERVAL: 60.0,
    CONF_IO_SUPPORT: True,
    CONF_INDUCTIVE_LIMIT: 20.0,
    CONF_CAPACITIVE_LIMIT: 15.0,
}


async def test_options_store_whole_intervals(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(options={CONF_PROFILES_DIR: "/old"})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, CONF_PROFILES_DIR: "  "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        **OPTIONS,
        CONF_FAST_INTERVAL: 5,
        CONF_SLOW_INTERVAL: 60,
        CONF_IO_INTERVAL: DEFAULT_IO_INTERVAL,
    }
    assert isinstance(entry.options[CONF_FAST_INTERVAL], int)


@pytest.mark.parametrize(
    ("stored", "kept"),
    [({CONF_FAST_INTERVAL: 10, CONF_PROFILES_DIR: "/x"}, {CONF_FAST_INTERVAL: 10}), ({}, {})],
)
async def test_a_meter_lines_options_show_only_what_applies_to_it(
    hass: HomeAssistant,
    mock_config_entry: MockEntryFactory,
    stored: dict[str, Any],
    kept: dict[str, Any],
) -> None:
    """Meters are read whole at the slow interval, and profiles are for Modbus devices."""
    entry = mock_config_entry("/dev/ttyUSB3", PROTOCOL_IEC, options=stored)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert set(result["data_schema"].schema) == {
        CONF_SLOW_INTERVAL,
        CONF_IO_SUPPORT,
        CONF_INDUCTIVE_LIMIT,
        CONF_CAPACITIVE_LIMIT,
    }
    shown = {k: v for k, v in OPTIONS.items() if k != CONF_FAST_INTERVAL}
    result = await hass.config_entries.options.async_configure(result["flow_id"], shown)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {**shown, CONF_SLOW_INTERVAL: 60, **kept}


async def test_interval_units_are_words_in_the_translated_labels(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    """A selector's unit is shown untranslated ("min" in Turkish): only symbols go there."""
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"].schema
    units = {str(k): v.config.get("unit_of_measurement") for k, v in schema.items()}
    assert units[CONF_FAST_INTERVAL] is None
    assert units[CONF_SLOW_INTERVAL] is None
    assert units[CONF_INDUCTIVE_LIMIT] == "%"


async def test_options_reject_a_fast_interval_below_the_minimum(
    hass: HomeAssistant, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    with pytest.raises(Exception, match="fast_interval"):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**OPTIONS, CONF_FAST_INTERVAL: 2}
        )


BROKEN_PROFILE = """\
manufacturer: Acme
model: PF-1
points:
  - key: cos_phi
    name: cos phi
    address: 0
    type: float99
"""


async def test_options_check_the_profile_folder(
    hass: HomeAssistant, tmp_path: Path, mock_config_entry: MockEntryFactory, catalogue: object
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    flow_id = result["flow_id"]

    missing = tmp_path / "nowhere"
    result = await hass.config_entries.options.async_configure(
        flow_id, {**OPTIONS, CONF_PROFILES_DIR: str(missing)}
    )
    assert result["errors"] == {CONF_PROFILES_DIR: "profiles_dir_missing"}
    assert result["description_placeholders"]["path"] == str(missing)

    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "acme_pf1.yaml").write_text(BROKEN_PROFILE)
    result = await hass.config_entries.options.async_configure(
        flow_id, {**OPTIONS, CONF_PROFILES_DIR: str(folder)}
    )
    assert result["errors"] == {CONF_PROFILES_DIR: "profile_invalid"}
    placeholders = result["description_placeholders"]
    assert placeholders["file"] == "acme_pf1.yaml"
    assert placeholders["field"].startswith("points[0]")
    assert placeholders["reason"]

    (folder / "acme_pf1.yaml").unlink()
    result = await hass.config_entries.options.async_configure(
        flow_id, {**OPTIONS, CONF_PROFILES_DIR: str(folder)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PROFILES_DIR] == str(folder)


async def test_a_shipped_profile_problem_does_not_block_the_users_folder(
    hass: HomeAssistant, tmp_path: Path, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    shipped_problem = ProfileCatalogue({}, (ProfileError("entes_mpr3x.yaml", "model", "bad"),))
    with patch(f"{CATALOGUE}.load_catalogue", return_value=shipped_problem):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**OPTIONS, CONF_PROFILES_DIR: str(tmp_path)}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_port_held_by_another_program_is_busy(hass: HomeAssistant, meter_port: str) -> None:
    flow_id = await _start_user(hass)
    with serial.Serial(meter_port, exclusive=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_PORT: meter_port, **IEC_LINE}
        )
    assert result["errors"] == {CONF_PORT: "port_busy"}


async def test_reconfigure_a_running_line_on_its_own_port(
    hass: HomeAssistant, modbus_port: str, mock_config_entry: MockEntryFactory
) -> None:
    entry = mock_config_entry(modbus_port)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await entry.start_reconfigure_flow(hass)
    # the running line holds its port exclusively, as the Modbus client does
    with serial.Serial(modbus_port, exclusive=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PORT: modbus_port, CONF_BAUDRATE: "19200", CONF_PARITY: "none"}
        )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_BAUDRATE] == 19200
