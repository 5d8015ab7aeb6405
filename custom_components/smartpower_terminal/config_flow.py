"""Config flow: one entry per serial line, one subentry per meter or Modbus device on it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
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
    SubentryFlowResult,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from hardware_bridge import (
    LineConfig,
    LineProtocol,
    LineTerminal,
    LineUnavailableError,
    ProfileCatalogue,
    ProfileError,
    ScanHit,
    SerialSettings,
    load_catalogue,
    scan_modbus_line,
)

from .const import (
    BAUDRATES,
    CONF_ADDRESS,
    CONF_BAUDRATE,
    CONF_CAPACITIVE_LIMIT,
    CONF_DEVICE_ID,
    CONF_FAST_INTERVAL,
    CONF_INDUCTIVE_LIMIT,
    CONF_IO_SUPPORT,
    CONF_MAINS_DETECTION,
    CONF_MAX_BAUD,
    CONF_NAME,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROFILES_DIR,
    CONF_PROTOCOL,
    CONF_READOUT_MODE,
    CONF_SLOW_INTERVAL,
    CONF_TERMINAL_MODEL,
    DEFAULT_CAPACITIVE_LIMIT,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_INDUCTIVE_LIMIT,
    DEFAULT_METER_MAX_BAUD,
    DEFAULT_SLOW_INTERVAL,
    DOMAIN,
    MAX_SLOW_INTERVAL,
    METER_MAX_BAUDS,
    MIN_FAST_INTERVAL,
    MIN_SLOW_INTERVAL,
    PARITIES,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
    READOUT_MODES,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
    TERMINAL_MODELS,
)
from .serial_ports import CANNOT_OPEN, check_port, list_serial_ports, serial_by_id

_LOGGER = logging.getLogger(__name__)

# Form-only fields (not stored): the vendor helper composing a meter address.
CONF_MANUFACTURER_CODE = "manufacturer_code"
CONF_SERIAL_NUMBER = "serial_number"
CONF_FIRST_ADDRESS = "first_address"
CONF_LAST_ADDRESS = "last_address"
CONF_FOUND = "found"

DEFAULT_MODBUS_BAUDRATE = 9600
IEC_START_BAUDRATE = 300  # IEC 62056-21 mode C always signs on at 300 Bd 7E1
MODBUS_TEST_TIMEOUT = 0.5
SCAN_TIMEOUT = 0.1  # seconds per address while scanning
# Flag ids meters prefix to their serial number to form the address (e.g. "MSY80099921").
METER_VENDOR_CODES = ("ELS", "EMH", "ISK", "ITR", "KHL", "LGZ", "LUN", "MSY", "VIK")
# IEC 62056-21 §6.3.1: a device address is up to 32 characters of 0-9, A-Z, a-z and space.
_IEC_ADDRESS = re.compile(r"[0-9A-Za-z ]{1,32}")
# Parity as the form offers it (translation keys must be lower case) and as it is stored.
PARITY_CHOICES = dict(zip(("none", "even", "odd"), PARITIES, strict=True))
PROTOCOL_TITLES = {PROTOCOL_IEC: "IEC 62056-21 meters", PROTOCOL_MODBUS: "Modbus RTU line"}


class FlowError(Exception):
    """Input the user has to correct: an error key for the form and its placeholders."""

    def __init__(self, key: str, where: str = "base", /, **placeholders: str) -> None:
        super().__init__(key)
        self.key = key
        self.field = where
        self.placeholders = placeholders


def _select(
    options: list[str] | list[SelectOptionDict],
    translation_key: str | None = None,
    *,
    custom_value: bool = False,
) -> SelectSelector:
    config = SelectSelectorConfig(
        options=options, mode=SelectSelectorMode.DROPDOWN, custom_value=custom_value
    )
    if translation_key is not None:
        config["translation_key"] = translation_key
    return SelectSelector(config)


def _int_select(values: tuple[int, ...]) -> vol.All:
    return vol.All(_select([str(v) for v in values]), vol.Coerce(int))


async def _async_port_problem(
    hass: Any, port: str, protocol: str, baudrate: int, parity: str
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
    MINOR_VERSION = 1

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
                vol.Required(CONF_PORT): _select(
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
                _modbus_schema(), _as_form_values(user_input)
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
            vol.Required(CONF_PORT): _select(
                [SelectOptionDict(value=p.path, label=p.label) for p in ports], custom_value=True
            )
        }
        if protocol == PROTOCOL_MODBUS:
            fields.update(_modbus_schema().schema)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), _as_form_values(user_input or entry.data)
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
        vol.Required(CONF_PROTOCOL, default=PROTOCOL_MODBUS): _select(
            [PROTOCOL_MODBUS, PROTOCOL_IEC], "protocol"
        ),
        vol.Required(CONF_TERMINAL_MODEL, default="adapter"): _select(
            list(TERMINAL_MODELS), "terminal_model"
        ),
        vol.Required(CONF_MAINS_DETECTION, default=False): BooleanSelector(),
    }


def _modbus_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_BAUDRATE, default=str(DEFAULT_MODBUS_BAUDRATE)): _int_select(
                BAUDRATES
            ),
            vol.Required(CONF_PARITY, default="none"): vol.All(
                _select(list(PARITY_CHOICES), "parity"), PARITY_CHOICES.__getitem__
            ),
        }
    )


def _as_form_values(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Stored values as the select fields show them (numbers as strings, parity by name)."""
    if data is None:
        return None
    form = {
        k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in data.items()
    }
    if (parity := form.get(CONF_PARITY)) in PARITIES:
        form[CONF_PARITY] = next(name for name, code in PARITY_CHOICES.items() if code == parity)
    return form


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
                vol.Required(CONF_FAST_INTERVAL, default=DEFAULT_FAST_INTERVAL): _number(
                    MIN_FAST_INTERVAL, 3600, "s"
                ),
                vol.Required(CONF_SLOW_INTERVAL, default=DEFAULT_SLOW_INTERVAL): _number(
                    MIN_SLOW_INTERVAL, MAX_SLOW_INTERVAL, "min"
                ),
                vol.Required(CONF_IO_SUPPORT, default=False): BooleanSelector(),
                vol.Required(CONF_INDUCTIVE_LIMIT, default=DEFAULT_INDUCTIVE_LIMIT): _number(
                    0, 100, "%", step=0.1
                ),
                vol.Required(CONF_CAPACITIVE_LIMIT, default=DEFAULT_CAPACITIVE_LIMIT): _number(
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


def _number(low: float, high: float, unit: str, step: float = 1) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=low, max=high, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
        )
    )


def _check_profiles_dir(folder: str) -> None:
    """The folder exists and every profile file in it loads (blocking)."""
    if not Path(folder).is_dir():
        raise FlowError("profiles_dir_missing", CONF_PROFILES_DIR, path=folder)
    catalogue = load_catalogue(folder)
    for error in catalogue.errors:
        if Path(error.source).parent == Path(folder):
            raise _profile_error(error, CONF_PROFILES_DIR)


def _profile_error(error: ProfileError, where: str) -> FlowError:
    return FlowError(
        "profile_invalid",
        where,
        file=Path(error.source).name,
        field=error.path or "-",
        reason=error.reason,
    )


# -- subentries ------------------------------------------------------------------------------
class _LineSubentryFlow(ConfigSubentryFlow):
    """Shared checks of the device subentry flows."""

    protocol: str
    wrong_line_reason: str

    def _line_mismatch(self) -> SubentryFlowResult | None:
        if self._get_entry().data[CONF_PROTOCOL] != self.protocol:
            return self.async_abort(reason=self.wrong_line_reason)
        return None

    def _siblings(self, subentry_type: str) -> list[Mapping[str, Any]]:
        """Data of the other subentries of this type on the line (not the one reconfigured)."""
        own = self.context.get("subentry_id")
        return [
            s.data
            for s in self._get_entry().subentries.values()
            if s.subentry_type == subentry_type and s.subentry_id != own
        ]


class MeterSubentryFlow(_LineSubentryFlow):
    """An IEC 62056-21 meter on an optical head or RS-485 meter line."""

    protocol = PROTOCOL_IEC
    wrong_line_reason = "not_meter_line"

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        if (abort := self._line_mismatch()) is not None:
            return abort
        return await self._async_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        if (abort := self._line_mismatch()) is not None:
            return abort
        return await self._async_form(
            "reconfigure", user_input, self._get_reconfigure_subentry().data
        )

    async def _async_form(
        self, step_id: str, user_input: dict[str, Any] | None, current: Mapping[str, Any] | None
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                data = self._meter_data(user_input)
            except FlowError as err:
                errors[err.field] = err.key
            else:
                title = data[CONF_NAME] or f"Meter {data[CONF_ADDRESS] or '/?!'}"
                if step_id == "user":
                    return self.async_create_entry(
                        title=title, data=data, unique_id=data[CONF_ADDRESS]
                    )
                return self.async_update_and_abort(
                    self._get_entry(),
                    self._get_reconfigure_subentry(),
                    title=title,
                    data=data,
                    unique_id=data[CONF_ADDRESS],
                )
        schema = vol.Schema(
            {
                vol.Optional(CONF_NAME): TextSelector(),
                vol.Optional(CONF_ADDRESS): TextSelector(),
                vol.Optional(CONF_MANUFACTURER_CODE): _select(
                    list(METER_VENDOR_CODES), custom_value=True
                ),
                vol.Optional(CONF_SERIAL_NUMBER): TextSelector(),
                vol.Required(CONF_READOUT_MODE, default="full"): _select(
                    list(READOUT_MODES), "readout_mode"
                ),
                vol.Required(CONF_MAX_BAUD, default=str(DEFAULT_METER_MAX_BAUD)): _int_select(
                    METER_MAX_BAUDS
                ),
            }
        )
        suggested = user_input or (_as_form_values(current) if current else None)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    def _meter_data(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        address = (user_input.get(CONF_ADDRESS) or "").strip()
        serial = (user_input.get(CONF_SERIAL_NUMBER) or "").strip()
        if not address and serial:
            address = (user_input.get(CONF_MANUFACTURER_CODE) or "").strip().upper() + serial
        if address and not _IEC_ADDRESS.fullmatch(address):
            raise FlowError("invalid_address", CONF_ADDRESS)
        others = [str(d.get(CONF_ADDRESS, "")) for d in self._siblings(SUBENTRY_METER)]
        if address in others:
            raise FlowError("duplicate_address", CONF_ADDRESS)
        if others and (not address or "" in others):
            # "/?!" makes every meter on the line answer at once: only a lone meter may use it.
            raise FlowError("address_required", CONF_ADDRESS)
        return {
            CONF_NAME: (user_input.get(CONF_NAME) or "").strip(),
            CONF_ADDRESS: address,
            CONF_READOUT_MODE: user_input[CONF_READOUT_MODE],
            CONF_MAX_BAUD: int(user_input[CONF_MAX_BAUD]),
        }


class ModbusDeviceSubentryFlow(_LineSubentryFlow):
    """A Modbus RTU device (compensation relay, analyzer, meter) on an RS-485 line."""

    protocol = PROTOCOL_MODBUS
    wrong_line_reason = "not_modbus_line"

    def __init__(self) -> None:
        self._catalogue: ProfileCatalogue | None = None
        self._scan_task: asyncio.Task[list[ScanHit]] | None = None
        self._scan_error: tuple[str, str] | None = None
        self._hits: dict[str, ScanHit] = {}
        self._picked: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        if (abort := self._line_mismatch()) is not None:
            return abort
        return self.async_show_menu(menu_options=["manual", "scan"])

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        return await self._async_form("manual", user_input, self._picked or None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        if (abort := self._line_mismatch()) is not None:
            return abort
        return await self._async_form(
            "reconfigure", user_input, self._get_reconfigure_subentry().data
        )

    # -- scan ------------------------------------------------------------------------------
    async def async_step_scan(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        if self._scan_task is not None:  # called again when the scan has finished
            return self._scan_progress()
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if self._scan_error is not None:
            errors["base"], placeholders["error"] = self._scan_error
            self._scan_error = None
        elif user_input is not None:
            first = int(user_input[CONF_FIRST_ADDRESS])
            last = int(user_input[CONF_LAST_ADDRESS])
            if not 1 <= first <= last <= 247:
                errors["base"] = "scan_range"
            else:
                self._scan_task = self.hass.async_create_task(
                    self._async_scan(first, last), eager_start=False
                )
                return self._scan_progress()
        schema = vol.Schema(
            {
                vol.Required(CONF_FIRST_ADDRESS, default=1): _number(1, 247, "", 1),
                vol.Required(CONF_LAST_ADDRESS, default=247): _number(1, 247, "", 1),
            }
        )
        return self.async_show_form(
            step_id="scan",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _scan_progress(self) -> SubentryFlowResult:
        task = self._scan_task
        assert task is not None
        if not task.done():
            return self.async_show_progress(progress_action="scan", progress_task=task)
        self._scan_task = None
        try:
            hits = task.result()
        except LineUnavailableError as err:
            self._scan_error = ("cannot_open", str(err))
            return self.async_show_progress_done(next_step_id="scan")
        except Exception as err:
            _LOGGER.exception("Unexpected error while scanning the Modbus line")
            self._scan_error = ("unknown", str(err))
            return self.async_show_progress_done(next_step_id="scan")
        taken = {int(d[CONF_DEVICE_ID]) for d in self._siblings(SUBENTRY_MODBUS_DEVICE)}
        self._hits = {str(h.device_id): h for h in hits if h.device_id not in taken}
        return self.async_show_progress_done(next_step_id="scan_result")

    async def async_step_scan_result(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        if not self._hits:
            return self.async_abort(reason="no_devices_found")
        if user_input is not None:
            hit = self._hits[user_input[CONF_FOUND]]
            self._picked = {CONF_DEVICE_ID: hit.device_id}
            if hit.suggested_profile_id is not None:
                self._picked[CONF_PROFILE] = hit.suggested_profile_id
            return await self.async_step_manual()
        catalogue = await self._async_catalogue()
        options = [
            SelectOptionDict(value=key, label=_hit_label(hit, catalogue))
            for key, hit in self._hits.items()
        ]
        return self.async_show_form(
            step_id="scan_result",
            data_schema=vol.Schema({vol.Required(CONF_FOUND): _select(options)}),
            description_placeholders={"count": str(len(options))},
        )

    async def _async_scan(self, first: int, last: int) -> list[ScanHit]:
        """Ask the running line to scan between its polls; open the port only when stopped."""
        entry = self._get_entry()
        if entry.state is ConfigEntryState.LOADED:
            hits: list[ScanHit] = await entry.runtime_data.scan(first, last, SCAN_TIMEOUT)
            return hits
        serial = SerialSettings(
            port=entry.data[CONF_PORT],
            baudrate=int(entry.data.get(CONF_BAUDRATE, DEFAULT_MODBUS_BAUDRATE)),
            parity=entry.data.get(CONF_PARITY, "N"),
        )
        catalogue = await self._async_catalogue()
        return await scan_modbus_line(
            serial, catalogue, first=first, last=last, timeout=SCAN_TIMEOUT
        )

    # -- manual / reconfigure form -------------------------------------------------------
    async def _async_form(
        self, step_id: str, user_input: dict[str, Any] | None, current: Mapping[str, Any] | None
    ) -> SubentryFlowResult:
        catalogue = await self._async_catalogue()
        errors: dict[str, str] = {}
        placeholders = {"file": "", "field": "", "reason": "", "profile": ""}
        if user_input is not None:
            try:
                data = self._device_data(user_input, catalogue)
            except FlowError as err:
                errors[err.field] = err.key
                placeholders.update(err.placeholders)
            else:
                profile = catalogue.get(data[CONF_PROFILE])
                title = data[CONF_NAME] or (
                    f"{profile.manufacturer} {profile.model} @ {data[CONF_DEVICE_ID]}"
                )
                unique_id = str(data[CONF_DEVICE_ID])
                if step_id == "manual":
                    return self.async_create_entry(title=title, data=data, unique_id=unique_id)
                return self.async_update_and_abort(
                    self._get_entry(),
                    self._get_reconfigure_subentry(),
                    title=title,
                    data=data,
                    unique_id=unique_id,
                )
        schema = vol.Schema(
            {
                vol.Optional(CONF_NAME): TextSelector(),
                vol.Required(CONF_DEVICE_ID): NumberSelector(
                    NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Required(CONF_PROFILE): _select(_profile_options(catalogue), custom_value=True),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _device_data(
        self, user_input: Mapping[str, Any], catalogue: ProfileCatalogue
    ) -> dict[str, Any]:
        device_id = user_input[CONF_DEVICE_ID]
        if device_id != int(device_id) or not 1 <= device_id <= 247:
            raise FlowError("address_out_of_range", CONF_DEVICE_ID)
        device_id = int(device_id)
        if any(int(d[CONF_DEVICE_ID]) == device_id for d in self._siblings(SUBENTRY_MODBUS_DEVICE)):
            raise FlowError("duplicate_address", CONF_DEVICE_ID)
        profile_id = str(user_input[CONF_PROFILE]).strip()
        try:
            catalogue.get(profile_id)
        except ProfileError as err:
            if profile_id in {Path(e.source).stem for e in catalogue.errors}:
                raise _profile_error(err, CONF_PROFILE) from err
            raise FlowError("unknown_profile", CONF_PROFILE, profile=profile_id) from err
        return {
            CONF_NAME: (user_input.get(CONF_NAME) or "").strip(),
            CONF_DEVICE_ID: device_id,
            CONF_PROFILE: profile_id,
        }

    async def _async_catalogue(self) -> ProfileCatalogue:
        """Shipped profiles plus the user's folder (read fresh: files may have been added)."""
        if self._catalogue is None:
            folder = self._get_entry().options.get(CONF_PROFILES_DIR) or None
            self._catalogue = await self.hass.async_add_executor_job(load_catalogue, folder)
        return self._catalogue


def _profile_options(catalogue: ProfileCatalogue) -> list[SelectOptionDict]:
    """Every loadable profile, then the user's broken files (picking one says what is wrong)."""
    options = [
        SelectOptionDict(value=p.id, label=f"{p.manufacturer} {p.model} ({p.id})")
        for p in catalogue
    ]
    for error in catalogue.errors:
        stem = Path(error.source).stem
        if stem not in catalogue:
            options.append(SelectOptionDict(value=stem, label=f"{Path(error.source).name} ⚠"))
    return options


def _hit_label(hit: ScanHit, catalogue: ProfileCatalogue) -> str:
    if hit.suggested_profile_id is not None and hit.suggested_profile_id in catalogue:
        profile = catalogue.get(hit.suggested_profile_id)
        return f"{hit.device_id}: {profile.manufacturer} {profile.model}"
    if hit.candidates:
        return f"{hit.device_id}: {' / '.join(hit.candidates)}"
    return f"{hit.device_id}: ?"
