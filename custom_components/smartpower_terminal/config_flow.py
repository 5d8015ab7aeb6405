"""Config flow: one entry per serial line, one subentry per meter or Modbus device on it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from hardware_bridge import (
    LineConfig,
    LineProtocol,
    LineTerminal,
    LineUnavailableError,
    ProfileCatalogue,
    SerialSettings,
    load_catalogue,
)

from .const import (
    BAUDRATES,
    CONF_BAUDRATE,
    CONF_CAPACITIVE_LIMIT,
    CONF_FAST_INTERVAL,
    CONF_INDUCTIVE_LIMIT,
    CONF_IO_SUPPORT,
    CONF_MAINS_DETECTION,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILES_DIR,
    CONF_PROTOCOL,
    CONF_SLOW_INTERVAL,
    CONF_TERMINAL_MODEL,
    DEFAULT_CAPACITIVE_LIMIT,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_INDUCTIVE_LIMIT,
    DEFAULT_SLOW_INTERVAL,
    DOMAIN,
    MAX_SLOW_INTERVAL,
    MIN_FAST_INTERVAL,
    MIN_SLOW_INTERVAL,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
    TERMINAL_MODELS,
)
from .flow_helpers import (
    PARITY_CHOICES,
    FlowError,
    as_form_values,
    int_select,
    number,
    parity_from_form,
    profile_error,
    select,
)
from .serial_ports import CANNOT_OPEN, check_port, list_serial_ports, serial_by_id
from .subentry_flows import MeterSubentryFlow, ModbusDeviceSubentryFlow

__all__ = ["SmartPowerConfigFlow", "SmartPowerOptionsFlow"]

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODBUS_BAUDRATE = 9600
IEC_START_BAUDRATE = 300  # IEC 62056-21 mode C always signs on at 300 Bd 7E1
MODBUS_TEST_TIMEOUT = 0.5
PROTOCOL_TITLES = {PROTOCOL_IEC: "IEC 62056-21 meters", PROTOCOL_MODBUS: "Modbus RTU line"}


async def _async_port_problem(
    hass: HomeAssistant, port: str, protocol: str, baudrate: int, parity: str
) -> tuple[str, str] | None:
    """Test before configure: the port opens, and a Modbus line opens through the bridge."""
    try:
        problem = await hass.async_add_executor_job(check_port, port)
        if problem is not None or protocol != PROTOCOL_MODBUS:
            return problem
        terminal = LineTerminal(
            LineConfig(
                protocol=LineProtocol.MODBUS,
                serial=SerialSettings(port=port, baudrate=baudrate, parity=parity),  # type: ignore[arg-type]
                timeout=MODBUS_TEST_TIMEOUT,
            ),
            ProfileCatalogue(profiles={}),
        )
        try:
            await terminal.open()
        finally:
            await terminal.close()
    except LineUnavailableError as err:
        return CANNOT_OPEN, str(err)
    except Exception:
        _LOGGER.exception("Unexpected error while testing serial port %s", port)
        return "unknown", port
    return None


def _line_title(protocol: str, port: str) -> str:
    return f"{PROTOCOL_TITLES[protocol]} ({port})"


class SmartPowerConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a serial line: a USB adapter or optical head standing in for an HT G2x terminal."""

    VERSION = 1
    MINOR_VERSION = 2

    def __init__(self) -> None:
        self._line: dict[str, Any] = {}
        self._usb_name = ""

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> SmartPowerOptionsFlow:
        return SmartPowerOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        # Both are offered on every line; each flow refuses a line of the other protocol
        # with a message saying why (a meter needs an IEC line, a Modbus device an RS-485 one).
        return {SUBENTRY_METER: MeterSubentryFlow, SUBENTRY_MODBUS_DEVICE: ModbusDeviceSubentryFlow}

    # -- user ------------------------------------------------------------------------------
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            user_input = parity_from_form(user_input)
            port = await self.hass.async_add_executor_job(serial_by_id, user_input[CONF_PORT])
            await self.async_set_unique_id(port)
            self._abort_if_unique_id_configured()
            self._async_abort_entries_match({CONF_PORT: port})
            self._line = {**user_input, CONF_PORT: port}
            if user_input[CONF_PROTOCOL] == PROTOCOL_MODBUS:
                return await self.async_step_modbus()
            if (problem := await self._async_test(port)) is None:
                return self._create_line()
            errors[CONF_PORT], placeholders["error"] = problem
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        schema = vol.Schema(
            {
                vol.Required(CONF_PORT): select(
                    [SelectOptionDict(value=p.path, label=p.label) for p in ports],
                    custom_value=True,
                ),
                **_line_fields(),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or self._line),
            errors=errors,
            description_placeholders=placeholders or {"error": ""},
        )

    # -- USB discovery -----------------------------------------------------------------
    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        port = await self.hass.async_add_executor_job(serial_by_id, discovery_info.device)
        await self.async_set_unique_id(port)
        self._abort_if_unique_id_configured()
        self._async_abort_entries_match({CONF_PORT: port})
        self._async_abort_entries_match({CONF_PORT: discovery_info.device})
        self._line = {CONF_PORT: port}
        self._usb_name = discovery_info.description or Path(port).name
        self.context["title_placeholders"] = {"name": self._usb_name}
        return await self.async_step_usb_confirm()

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"name": self._usb_name, "port": self._line[CONF_PORT], "error": ""}
        if user_input is not None:
            user_input = parity_from_form(user_input)
            self._line.update(user_input)
            if user_input[CONF_PROTOCOL] == PROTOCOL_MODBUS:
                return await self.async_step_modbus()
            if (problem := await self._async_test(self._line[CONF_PORT])) is None:
                return self._create_line()
            errors["base"], placeholders["error"] = problem
        schema = vol.Schema(_line_fields())
        return self.async_show_form(
            step_id="usb_confirm",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- Modbus line settings (after user or USB) ---------------------------------------
    async def async_step_modbus(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"port": self._line[CONF_PORT], "error": ""}
        if user_input is not None:
            user_input = parity_from_form(user_input)
            self._line.update(user_input)
            problem = await self._async_test(
                self._line[CONF_PORT], user_input[CONF_BAUDRATE], user_input[CONF_PARITY]
            )
            if problem is None:
                return self._create_line()
            errors["base"], placeholders["error"] = problem
        return self.async_show_form(
            step_id="modbus",
            data_schema=self.add_suggested_values_to_schema(
                _modbus_schema(), as_form_values(user_input)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- reconfigure -------------------------------------------------------------------
    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        protocol = entry.data[CONF_PROTOCOL]
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            user_input = parity_from_form(user_input)
            port = await self.hass.async_add_executor_job(serial_by_id, user_input[CONF_PORT])
            other = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, port)
            if other is not None and other.entry_id != entry.entry_id:
                return self.async_abort(reason="already_configured")
            baudrate = user_input.get(CONF_BAUDRATE, IEC_START_BAUDRATE)
            parity = user_input.get(CONF_PARITY, "N")
            problem = None
            # A running line holds its port (exclusively, for Modbus): it proves the port is
            # there, and the reload tests the new settings before the line runs again.
            if entry.state is not ConfigEntryState.LOADED or port != entry.data[CONF_PORT]:
                problem = await self._async_test(port, baudrate, parity, protocol)
            if problem is None:
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=port,
                    title=_line_title(protocol, port),
                    data_updates={**user_input, CONF_PORT: port},
                )
            errors[CONF_PORT if problem[0] != CANNOT_OPEN else "base"] = problem[0]
            placeholders["error"] = problem[1]
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_PORT): select(
                [SelectOptionDict(value=p.path, label=p.label) for p in ports], custom_value=True
            )
        }
        if protocol == PROTOCOL_MODBUS:
            fields.update(_modbus_schema().schema)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), as_form_values(user_input or entry.data)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- helpers -----------------------------------------------------------------------
    async def _async_test(
        self,
        port: str,
        baudrate: int = DEFAULT_MODBUS_BAUDRATE,
        parity: str = "N",
        protocol: str | None = None,
    ) -> tuple[str, str] | None:
        protocol = protocol or self._line[CONF_PROTOCOL]
        return await _async_port_problem(self.hass, port, protocol, baudrate, parity)

    def _create_line(self) -> ConfigFlowResult:
        line = dict(self._line)
        if line[CONF_PROTOCOL] == PROTOCOL_IEC:
            line[CONF_BAUDRATE] = IEC_START_BAUDRATE
            line.pop(CONF_PARITY, None)
        return self.async_create_entry(
            title=_line_title(line[CONF_PROTOCOL], line[CONF_PORT]),
            data=line,
            options={
                CONF_FAST_INTERVAL: DEFAULT_FAST_INTERVAL,
                CONF_SLOW_INTERVAL: DEFAULT_SLOW_INTERVAL,
                CONF_IO_SUPPORT: False,
                CONF_INDUCTIVE_LIMIT: DEFAULT_INDUCTIVE_LIMIT,
                CONF_CAPACITIVE_LIMIT: DEFAULT_CAPACITIVE_LIMIT,
            },
        )


def _line_fields() -> dict[vol.Marker, Any]:
    return {
        vol.Required(CONF_PROTOCOL, default=PROTOCOL_MODBUS): select(
            [PROTOCOL_MODBUS, PROTOCOL_IEC], "protocol"
        ),
        vol.Required(CONF_TERMINAL_MODEL, default="adapter"): select(
            list(TERMINAL_MODELS), "terminal_model"
        ),
        vol.Required(CONF_MAINS_DETECTION, default=False): BooleanSelector(),
    }


def _modbus_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_BAUDRATE, default=str(DEFAULT_MODBUS_BAUDRATE)): int_select(
                BAUDRATES
            ),
            vol.Required(CONF_PARITY, default="none"): select(list(PARITY_CHOICES), "parity"),
        }
    )


# -- options -------------------------------------------------------------------------------
class SmartPowerOptionsFlow(OptionsFlow):
    """How often to read, the terminal's I/O, reactive limits and the user's own profiles."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"file": "", "field": "", "reason": "", "path": ""}
        if user_input is not None:
            options = dict(user_input)
            for key in (CONF_FAST_INTERVAL, CONF_SLOW_INTERVAL):
                options[key] = int(options[key])
            folder = (options.pop(CONF_PROFILES_DIR, None) or "").strip()
            try:
                if folder:
                    await self.hass.async_add_executor_job(_check_profiles_dir, folder)
                    options[CONF_PROFILES_DIR] = folder
            except FlowError as err:
                errors[err.field] = err.key
                placeholders.update(err.placeholders)
            else:
                return self.async_create_entry(data=options)
        schema = vol.Schema(
            {
                vol.Required(CONF_FAST_INTERVAL, default=DEFAULT_FAST_INTERVAL): number(
                    MIN_FAST_INTERVAL, 3600, "s"
                ),
                vol.Required(CONF_SLOW_INTERVAL, default=DEFAULT_SLOW_INTERVAL): number(
                    MIN_SLOW_INTERVAL, MAX_SLOW_INTERVAL, "min"
                ),
                vol.Required(CONF_IO_SUPPORT, default=False): BooleanSelector(),
                vol.Required(CONF_INDUCTIVE_LIMIT, default=DEFAULT_INDUCTIVE_LIMIT): number(
                    0, 100, "%", step=0.1
                ),
                vol.Required(CONF_CAPACITIVE_LIMIT, default=DEFAULT_CAPACITIVE_LIMIT): number(
                    0, 100, "%", step=0.1
                ),
                vol.Optional(CONF_PROFILES_DIR): TextSelector(),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or self.config_entry.options
            ),
            errors=errors,
            description_placeholders=placeholders,
        )


def _check_profiles_dir(folder: str) -> None:
    """The folder exists and every profile file in it loads (blocking)."""
    if not Path(folder).is_dir():
        raise FlowError("profiles_dir_missing", CONF_PROFILES_DIR, path=folder)
    catalogue = load_catalogue(folder)
    for error in catalogue.errors:
        if Path(error.source).parent == Path(folder):
            raise profile_error(error, CONF_PROFILES_DIR)
