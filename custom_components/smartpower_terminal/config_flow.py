"""Config flow: one entry per serial line, one subentry per meter or Modbus device on it."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from hardware_bridge import (
    LineUnavailableError,
    ProfileCatalogue,
    ScanHit,
    SerialSettings,
    scan_modbus_line,
)

from .catalogue import async_get_catalogue
from .const import (
    BAUDRATES,
    CONF_BAUDRATE,
    CONF_CAPACITIVE_LIMIT,
    CONF_FAST_INTERVAL,
    CONF_INDUCTIVE_LIMIT,
    CONF_IO_INTERVAL,
    CONF_IO_SUPPORT,
    CONF_MAINS_DETECTION,
    CONF_MAINS_SOURCE,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROFILES_DIR,
    CONF_PROTOCOL,
    CONF_SLOW_INTERVAL,
    CONF_TERMINAL_MODEL,
    DEFAULT_CAPACITIVE_LIMIT,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_INDUCTIVE_LIMIT,
    DEFAULT_IO_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    DOMAIN,
    MAX_IO_INTERVAL,
    MAX_SLOW_INTERVAL,
    MIN_FAST_INTERVAL,
    MIN_IO_INTERVAL,
    MIN_SLOW_INTERVAL,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
    PROTOCOL_MODEM,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
    TERMINAL_MODELS,
)
from .flow_helpers import (
    PARITY_CHOICES,
    FlowError,
    as_form_values,
    hit_label,
    int_select,
    modbus_device_data,
    modbus_device_title,
    number,
    parity_from_form,
    profile_error,
    select,
)
from .gpio_flow import GpioFlowMixin, GpioOptionsFlow
from .gpio_line import PROTOCOL_GPIO, is_gpio_entry
from .modem_flow import ModemFlowMixin, ModemOptionsFlow
from .modem_hub import is_modem_entry
from .remote_const import PROTOCOL_REMOTE, is_remote_entry
from .remote_flow import RemoteFlowMixin
from .serial_ports import CANNOT_OPEN, check_port, list_serial_ports, serial_by_id
from .subentry_flows import MeterSubentryFlow, ModbusDeviceSubentryFlow

__all__ = ["SmartPowerConfigFlow", "SmartPowerOptionsFlow"]

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODBUS_BAUDRATE = 9600
SCAN_TIMEOUT = 0.1  # seconds per address: a whole line (1-247) in under half a minute
CONF_DEVICES = "devices"  # form only: the scanned devices to add
IEC_START_BAUDRATE = 300  # IEC 62056-21 mode C always signs on at 300 Bd 7E1
PROTOCOL_TITLES = {PROTOCOL_IEC: "IEC 62056-21 meters", PROTOCOL_MODBUS: "Modbus RTU line"}


async def _async_port_problem(
    hass: HomeAssistant, port: str, baudrate: int = DEFAULT_MODBUS_BAUDRATE, parity: str = "N"
) -> tuple[str, str] | None:
    """Test before configure: the port opens (exclusively, with the line's settings).

    Opening a serial port blocks, so this runs in the executor.
    """
    try:
        return await hass.async_add_executor_job(check_port, port, baudrate, parity)
    except Exception:
        _LOGGER.exception("Unexpected error while testing serial port %s", port)
        return "unknown", port


def _line_title(protocol: str, port: str) -> str:
    return f"{PROTOCOL_TITLES[protocol]} ({port})"


class SmartPowerConfigFlow(
    RemoteFlowMixin, ModemFlowMixin, GpioFlowMixin, ConfigFlow, domain=DOMAIN
):
    """Add a serial line: a USB adapter or optical head standing in for an HT G2x terminal."""

    VERSION = 1
    MINOR_VERSION = 2

    def __init__(self) -> None:
        self._line: dict[str, Any] = {}
        self._usb_name = ""
        self._scan_task: asyncio.Task[list[ScanHit]] | None = None
        self._scan_error = ""
        self._hits: list[ScanHit] = []

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        if is_modem_entry(config_entry):
            return ModemOptionsFlow()
        if is_gpio_entry(config_entry):
            return GpioOptionsFlow()
        return SmartPowerOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        return not is_remote_entry(config_entry)  # a remote terminal is set up on its own

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        if is_modem_entry(config_entry) or is_gpio_entry(config_entry):
            return {}  # a modem or GPIO pins carry no meters or devices
        if is_remote_entry(config_entry):
            return {}  # a remote terminal's devices come from its own description
        # Both are offered on every line; each flow refuses a line of the other protocol
        # with a message saying why (a meter needs an IEC line, a Modbus device an RS-485 one).
        return {SUBENTRY_METER: MeterSubentryFlow, SUBENTRY_MODBUS_DEVICE: ModbusDeviceSubentryFlow}

    # -- user ------------------------------------------------------------------------------
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            user_input = parity_from_form(user_input)
            if user_input[CONF_PROTOCOL] == PROTOCOL_GPIO:  # pins of this computer: no port
                self._line = {CONF_TERMINAL_MODEL: user_input.get(CONF_TERMINAL_MODEL)}
                return await self.async_step_gpio()
            if user_input[CONF_PROTOCOL] == PROTOCOL_REMOTE:  # a server or daemon: no port
                return await self.async_step_remote()
            # Optional in the schema so that the form preselects no port: say it is needed.
            if not (entered := str(user_input.get(CONF_PORT) or "").strip()):
                errors[CONF_PORT] = "port_required"
            else:
                port = await self.hass.async_add_executor_job(serial_by_id, entered)
                await self.async_set_unique_id(port)
                self._abort_if_unique_id_configured()
                self._async_abort_entries_match({CONF_PORT: port})
                self._line = {**user_input, CONF_PORT: port}
                # The port is checked here, where it can still be changed.
                if user_input[CONF_PROTOCOL] == PROTOCOL_MODEM:
                    result = await self.async_modem_chosen(port, errors, placeholders)
                    if result is not None:
                        return result
                elif (problem := await self._async_test(port)) is not None:
                    errors[CONF_PORT], placeholders["error"] = problem
                elif user_input[CONF_PROTOCOL] == PROTOCOL_MODBUS:
                    return await self.async_step_modbus()
                else:
                    return self._create_line()
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        schema = vol.Schema(
            {
                vol.Optional(CONF_PORT): select(
                    [SelectOptionDict(value=p.path, label=p.label) for p in ports],
                    custom_value=True,
                ),
                **_line_fields(modem=True),
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or self._line),
            errors=errors,
            description_placeholders=placeholders,
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
                return await self.async_step_modbus_next()
            errors["base"], placeholders["error"] = problem
        return self.async_show_form(
            step_id="modbus",
            data_schema=self.add_suggested_values_to_schema(
                _modbus_schema(), as_form_values(user_input)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- scan a new Modbus line: a dead port or wrong settings show at once ------------
    async def async_step_modbus_next(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return self.async_show_menu(
            step_id="modbus_next",
            menu_options=["scan", "finish"],
            description_placeholders={"port": self._line[CONF_PORT]},
        )

    async def async_step_finish(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self._create_line()

    async def async_step_scan(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if self._scan_task is None:
            self._scan_task = self.hass.async_create_task(self._async_scan(), eager_start=False)
        task = self._scan_task
        if not task.done():
            return self.async_show_progress(
                step_id="scan", progress_action="scan", progress_task=task
            )
        self._scan_task = None
        self._scan_error = ""
        self._hits = []
        try:
            self._hits = task.result()
        except LineUnavailableError as err:
            self._scan_error = str(err)
        except Exception as err:
            _LOGGER.exception("Unexpected error while scanning %s", self._line[CONF_PORT])
            self._scan_error = str(err) or type(err).__name__
        return self.async_show_progress_done(
            next_step_id="scan_result" if self._hits else "nothing_found"
        )

    async def _async_scan(self) -> list[ScanHit]:
        serial = SerialSettings(
            port=self._line[CONF_PORT],
            baudrate=int(self._line[CONF_BAUDRATE]),
            parity=self._line[CONF_PARITY],
        )
        catalogue = await async_get_catalogue(self.hass, None)
        return await scan_modbus_line(serial, catalogue, timeout=SCAN_TIMEOUT)

    async def async_step_nothing_found(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return self.async_show_menu(
            step_id="nothing_found",
            menu_options=["modbus", "scan", "finish"],
            description_placeholders={
                "port": self._line[CONF_PORT],
                "baudrate": str(self._line[CONF_BAUDRATE]),
                "error": self._scan_error or "-",
            },
        )

    async def async_step_scan_result(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        catalogue = await async_get_catalogue(self.hass, None)
        known = {
            str(h.device_id): h
            for h in self._hits
            if h.suggested_profile_id is not None and h.suggested_profile_id in catalogue
        }
        if user_input is not None:
            picked = [known[key] for key in user_input.get(CONF_DEVICES, [])]
            return self._create_line(
                [
                    ConfigSubentryData(
                        data=modbus_device_data("", h.device_id, str(h.suggested_profile_id)),
                        subentry_type=SUBENTRY_MODBUS_DEVICE,
                        title=modbus_device_title(
                            "", catalogue.get(str(h.suggested_profile_id)), h.device_id
                        ),
                        unique_id=str(h.device_id),
                    )
                    for h in picked
                ]
            )
        options = [
            SelectOptionDict(value=key, label=hit_label(h, catalogue, ""))
            for key, h in known.items()
        ]
        unknown = [str(h.device_id) for h in self._hits if str(h.device_id) not in known]
        schema = vol.Schema(
            {
                vol.Optional(CONF_DEVICES, default=list(known)): SelectSelector(
                    SelectSelectorConfig(
                        options=options, multiple=True, mode=SelectSelectorMode.LIST
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="scan_result",
            data_schema=schema,
            description_placeholders={
                "count": str(len(self._hits)),
                "unknown": ", ".join(unknown) or "-",
            },
        )

    # -- reconfigure -------------------------------------------------------------------
    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        if is_modem_entry(entry):
            return await self.async_step_modem_reconfigure(user_input)
        if is_gpio_entry(entry):
            return await self.async_step_gpio(user_input)
        if is_remote_entry(entry):
            return await self.async_step_remote_reconfigure(user_input)
        protocol = entry.data[CONF_PROTOCOL]
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            user_input = parity_from_form(user_input)
            port = await self.hass.async_add_executor_job(serial_by_id, user_input[CONF_PORT])
            other = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, port)
            if other is not None and other.entry_id != entry.entry_id:
                return self.async_abort(reason="already_configured")
            baudrate = user_input.get(CONF_BAUDRATE, DEFAULT_MODBUS_BAUDRATE)
            parity = user_input.get(CONF_PARITY, "N")
            problem = None
            # A running line holds its port (exclusively, for Modbus): it proves the port is
            # there, and the reload tests the new settings before the line runs again.
            if entry.state is not ConfigEntryState.LOADED or port != entry.data[CONF_PORT]:
                problem = await self._async_test(port, baudrate, parity)
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
    ) -> tuple[str, str] | None:
        return await _async_port_problem(self.hass, port, baudrate, parity)

    def _create_line(self, devices: list[ConfigSubentryData] | None = None) -> ConfigFlowResult:
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
            subentries=devices or (),
        )


def _line_fields(*, modem: bool = False) -> dict[vol.Marker, Any]:
    """The kind of line (a cellular modem too, when the user adds one) and its terminal."""
    extra = [PROTOCOL_MODEM, PROTOCOL_GPIO, PROTOCOL_REMOTE] if modem else []
    kinds = [PROTOCOL_MODBUS, PROTOCOL_IEC, *extra]
    return {
        vol.Required(CONF_PROTOCOL, default=PROTOCOL_MODBUS): select(kinds, "protocol"),
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
            # what the form does not show for this line is kept as it is
            options = {**self.config_entry.options, **user_input}
            options.pop(CONF_PROFILES_DIR, None)
            if not user_input.get(CONF_MAINS_SOURCE):
                options.pop(CONF_MAINS_SOURCE, None)
            folder = (user_input.get(CONF_PROFILES_DIR) or "").strip()
            for key in (CONF_FAST_INTERVAL, CONF_SLOW_INTERVAL):
                if key in options:
                    options[key] = int(options[key])
            try:
                if folder:
                    await self._async_check_profiles_dir(folder)
                    options[CONF_PROFILES_DIR] = folder
            except FlowError as err:
                errors[err.field] = err.key
                placeholders.update(err.placeholders)
            else:
                return self.async_create_entry(data=options)
        modbus = self.config_entry.data[CONF_PROTOCOL] == PROTOCOL_MODBUS
        # Only what applies to the line: meters are read whole at the slow interval, and
        # profiles describe Modbus devices. Units are in the (translated) labels.
        fields: dict[vol.Marker, Any] = {}
        if modbus:
            fields[vol.Required(CONF_FAST_INTERVAL, default=DEFAULT_FAST_INTERVAL)] = number(
                MIN_FAST_INTERVAL, 3600
            )
        fields[vol.Required(CONF_SLOW_INTERVAL, default=DEFAULT_SLOW_INTERVAL)] = number(
            MIN_SLOW_INTERVAL, MAX_SLOW_INTERVAL
        )
        fields[vol.Required(CONF_IO_SUPPORT, default=False)] = BooleanSelector()
        if modbus:
            fields[vol.Required(CONF_IO_INTERVAL, default=DEFAULT_IO_INTERVAL)] = number(
                MIN_IO_INTERVAL, MAX_IO_INTERVAL, step=0.1
            )
        if self.config_entry.data.get(CONF_MAINS_DETECTION):
            fields[vol.Optional(CONF_MAINS_SOURCE)] = select(await self._async_mains_sources())
        fields[vol.Required(CONF_INDUCTIVE_LIMIT, default=DEFAULT_INDUCTIVE_LIMIT)] = number(
            0, 100, "%", step=0.1
        )
        fields[vol.Required(CONF_CAPACITIVE_LIMIT, default=DEFAULT_CAPACITIVE_LIMIT)] = number(
            0, 100, "%", step=0.1
        )
        if modbus:
            fields[vol.Optional(CONF_PROFILES_DIR)] = TextSelector()
        schema = vol.Schema(fields)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or self.config_entry.options
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_mains_sources(self) -> list[SelectOptionDict]:
        """Devices whose phase voltages can tell mains loss, and inputs wired to a
        mains-present contact."""
        entry = self.config_entry
        catalogue = await async_get_catalogue(self.hass, entry.options.get(CONF_PROFILES_DIR))
        options: list[SelectOptionDict] = []
        for subentry_id, subentry in entry.subentries.items():
            profile_id = subentry.data.get(CONF_PROFILE)
            if profile_id is None:  # a meter: its readout has the phase voltages
                options.append(SelectOptionDict(value=subentry_id, label=f"{subentry.title} (V)"))
                continue
            if profile_id not in catalogue:
                continue
            profile = catalogue.get(str(profile_id))
            if any(p.key.startswith("voltage") for p in profile.points):
                options.append(SelectOptionDict(value=subentry_id, label=f"{subentry.title} (V)"))
            options.extend(
                SelectOptionDict(
                    value=f"{subentry_id}:{point.key}", label=f"{subentry.title}: {point.name}"
                )
                for point in profile.inputs
            )
        return options

    async def _async_check_profiles_dir(self, folder: str) -> None:
        """The folder exists and every profile file in it loads."""
        if not await self.hass.async_add_executor_job(os.path.isdir, folder):
            raise FlowError("profiles_dir_missing", CONF_PROFILES_DIR, path=folder)
        catalogue: ProfileCatalogue = await async_get_catalogue(self.hass, folder)
        for error in catalogue.errors:
            if Path(error.source).parent == Path(folder):
                raise profile_error(error, CONF_PROFILES_DIR)
