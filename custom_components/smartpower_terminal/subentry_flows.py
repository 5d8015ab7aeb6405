"""Subentry flows: the meters and Modbus devices on a line, one subentry each."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    TextSelector,
)

from hardware_bridge import (
    LineUnavailableError,
    Profile,
    ProfileCatalogue,
    ProfileError,
    ScanHit,
    SerialSettings,
    manufacturer_name,
    scan_modbus_line,
)

from .catalogue import async_get_catalogue
from .const import (
    CONF_ADDRESS,
    CONF_BAUDRATE,
    CONF_DEVICE_ID,
    CONF_GRUP_ARGE_SERIAL,
    CONF_IO,
    CONF_IO_SUPPORT,
    CONF_MAX_BAUD,
    CONF_NAME,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROFILES_DIR,
    CONF_PROTOCOL,
    CONF_READOUT_MODE,
    DEFAULT_METER_MAX_BAUD,
    INPUT_DEVICE_CLASSES,
    IO_DEVICE_CLASS,
    IO_INVERTED,
    IO_MAX_ON,
    IO_NAME,
    MAX_IO_FORM_POINTS,
    METER_MAX_BAUDS,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
    READOUT_MODES,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
)
from .flow_helpers import (
    FlowError,
    as_form_values,
    async_unknown_type_text,
    hit_label,
    int_select,
    modbus_device_data,
    modbus_device_title,
    number,
    profile_error,
    select,
)

__all__ = ["MeterSubentryFlow", "ModbusDeviceSubentryFlow"]

_LOGGER = logging.getLogger(__name__)

# Form-only fields (not stored): the vendor helper composing a meter address, the scan.
CONF_MANUFACTURER_CODE = "manufacturer_code"
CONF_SERIAL_NUMBER = "serial_number"
CONF_FIRST_ADDRESS = "first_address"
CONF_LAST_ADDRESS = "last_address"
CONF_FOUND = "found"

DEFAULT_MODBUS_BAUDRATE = 9600
SCAN_TIMEOUT = 0.1  # seconds per address while scanning
# Flag ids meters prefix to their serial number to form the address (e.g. "MSY80099921").
METER_VENDOR_CODES = ("ELS", "EMH", "ISK", "ITR", "KHL", "LGZ", "LUN", "MSY", "VIK")
# IEC 62056-21 §6.3.1: a device address is up to 32 characters of 0-9, A-Z, a-z and space.
_IEC_ADDRESS = re.compile(r"[0-9A-Za-z ]{1,32}")
# A maker's FLAG code is three letters (the first three characters of a meter's ident).
_FLAG_CODE = re.compile(r"[A-Z]{3}")
# Grup ARGE devices without a display: Modbus address = last two digits of the serial + 100.
GRUP_ARGE_ADDRESS_OFFSET = 100
MAX_ON_LIMIT_MINUTES = 1440


class _LineSubentryFlow(ConfigSubentryFlow):
    """Shared checks of the device subentry flows."""

    protocol: str
    wrong_line_reason: str

    def _line_mismatch(self) -> SubentryFlowResult | None:
        if self._get_entry().data[CONF_PROTOCOL] != self.protocol:
            return self.async_abort(reason=self.wrong_line_reason)
        return None

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        if (abort := self._line_mismatch()) is not None:
            return abort
        return await self._async_form(
            "reconfigure", user_input, self._get_reconfigure_subentry().data
        )

    async def _async_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        current: Mapping[str, Any] | None,
    ) -> SubentryFlowResult:  # pragma: no cover - each device type shows its own form
        """Show, or check and save, the device's form for ``step_id``."""
        raise NotImplementedError

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
                vol.Optional(CONF_MANUFACTURER_CODE): select(
                    [_vendor_option(code) for code in METER_VENDOR_CODES], custom_value=True
                ),
                vol.Optional(CONF_SERIAL_NUMBER): TextSelector(),
                vol.Required(CONF_READOUT_MODE, default="full"): select(
                    list(READOUT_MODES), "readout_mode"
                ),
                vol.Required(CONF_MAX_BAUD, default=str(DEFAULT_METER_MAX_BAUD)): int_select(
                    METER_MAX_BAUDS
                ),
            }
        )
        suggested = user_input or (as_form_values(current) if current else None)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    def _meter_data(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        address = (user_input.get(CONF_ADDRESS) or "").strip()
        serial = (user_input.get(CONF_SERIAL_NUMBER) or "").strip()
        if not address and serial:
            # TEDAŞ-MLZ/2017-062.B: a meter's address is its maker's flag code + its serial.
            code = (user_input.get(CONF_MANUFACTURER_CODE) or "").strip().upper()
            if not code:
                raise FlowError("manufacturer_code_required", CONF_MANUFACTURER_CODE)
            if not _FLAG_CODE.fullmatch(code):
                raise FlowError("invalid_manufacturer_code", CONF_MANUFACTURER_CODE)
            address = code + serial
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
        self._pending: tuple[str, dict[str, Any]] | None = None
        """The device's data while its relays and inputs are named: (step it came from, data)."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        if (abort := self._line_mismatch()) is not None:
            return abort
        return self.async_show_menu(menu_options=["manual", "scan"])

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        return await self._async_form("manual", user_input, self._picked or None)

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
                vol.Required(CONF_FIRST_ADDRESS, default=1): number(1, 247),
                vol.Required(CONF_LAST_ADDRESS, default=247): number(1, 247),
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
        unknown_type = await async_unknown_type_text(self.hass)
        options = [
            SelectOptionDict(value=key, label=hit_label(hit, catalogue, unknown_type))
            for key, hit in self._hits.items()
        ]
        return self.async_show_form(
            step_id="scan_result",
            data_schema=vol.Schema({vol.Required(CONF_FOUND): select(options)}),
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
                if profile.io and self._get_entry().options.get(CONF_IO_SUPPORT):
                    if current and current.get(CONF_PROFILE) == data[CONF_PROFILE]:
                        data[CONF_IO] = current.get(CONF_IO, {})
                    self._pending = (step_id, data)
                    return await self.async_step_io()
                return self._save(step_id, data, profile)
        schema = vol.Schema(
            {
                vol.Optional(CONF_NAME): TextSelector(),
                vol.Optional(CONF_DEVICE_ID): NumberSelector(
                    NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Optional(CONF_GRUP_ARGE_SERIAL): TextSelector(),
                # Optional so that the form preselects no profile the user did not pick.
                vol.Optional(CONF_PROFILE): select(_profile_options(catalogue), custom_value=True),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _save(self, step_id: str, data: dict[str, Any], profile: Profile) -> SubentryFlowResult:
        title = modbus_device_title(data[CONF_NAME], profile, data[CONF_DEVICE_ID])
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

    # -- relays and inputs ---------------------------------------------------------------
    async def async_step_io(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name the board's relays and inputs; an input's device class and inversion, a
        relay's longest on-time."""
        assert self._pending is not None
        step_id, data = self._pending
        catalogue = await self._async_catalogue()
        profile = catalogue.get(data[CONF_PROFILE])
        relays = profile.relays[:MAX_IO_FORM_POINTS]
        inputs = profile.inputs[:MAX_IO_FORM_POINTS]
        if user_input is not None:
            io: dict[str, dict[str, Any]] = {}
            for relay in relays:
                io[relay.key] = {
                    IO_NAME: (user_input.get(f"{relay.key}_{IO_NAME}") or "").strip(),
                    IO_MAX_ON: float(user_input.get(f"{relay.key}_{IO_MAX_ON}") or 0),
                }
            for point in inputs:
                io[point.key] = {
                    IO_NAME: (user_input.get(f"{point.key}_{IO_NAME}") or "").strip(),
                    IO_DEVICE_CLASS: user_input.get(f"{point.key}_{IO_DEVICE_CLASS}", "none"),
                    IO_INVERTED: bool(user_input.get(f"{point.key}_{IO_INVERTED}")),
                }
            return self._save(step_id, {**data, CONF_IO: io}, profile)
        fields: dict[vol.Marker, Any] = {}
        suggested: dict[str, Any] = {}
        stored: Mapping[str, Mapping[str, Any]] = data.get(CONF_IO) or {}
        for relay in relays:
            fields[vol.Optional(f"{relay.key}_{IO_NAME}")] = TextSelector()
            fields[vol.Optional(f"{relay.key}_{IO_MAX_ON}", default=0)] = number(
                0, MAX_ON_LIMIT_MINUTES
            )
        for point in inputs:
            fields[vol.Optional(f"{point.key}_{IO_NAME}")] = TextSelector()
            fields[vol.Optional(f"{point.key}_{IO_DEVICE_CLASS}", default="none")] = select(
                list(INPUT_DEVICE_CLASSES), "input_device_class"
            )
            fields[vol.Optional(f"{point.key}_{IO_INVERTED}", default=False)] = BooleanSelector()
        for key, settings in stored.items():
            for field, value in settings.items():
                if value not in (None, ""):
                    suggested[f"{key}_{field}"] = value
        return self.async_show_form(
            step_id="io",
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), suggested),
            description_placeholders={
                "device": modbus_device_title(data[CONF_NAME], profile, data[CONF_DEVICE_ID])
            },
        )

    def _device_data(
        self, user_input: Mapping[str, Any], catalogue: ProfileCatalogue
    ) -> dict[str, Any]:
        device_id = user_input.get(CONF_DEVICE_ID)
        serial = str(user_input.get(CONF_GRUP_ARGE_SERIAL) or "").strip()
        if device_id is None and serial:
            if len(serial) < 2 or not serial[-2:].isdigit():
                raise FlowError("invalid_grup_arge_serial", CONF_GRUP_ARGE_SERIAL)
            device_id = int(serial[-2:]) + GRUP_ARGE_ADDRESS_OFFSET
        if device_id is None:
            raise FlowError("address_required", CONF_DEVICE_ID)
        if device_id != int(device_id) or not 1 <= device_id <= 247:
            raise FlowError("address_out_of_range", CONF_DEVICE_ID)
        device_id = int(device_id)
        if any(int(d[CONF_DEVICE_ID]) == device_id for d in self._siblings(SUBENTRY_MODBUS_DEVICE)):
            raise FlowError("duplicate_address", CONF_DEVICE_ID)
        if not (profile_id := str(user_input.get(CONF_PROFILE) or "").strip()):
            raise FlowError("profile_required", CONF_PROFILE)
        try:
            catalogue.get(profile_id)
        except ProfileError as err:
            if profile_id in {Path(e.source).stem for e in catalogue.errors}:
                raise profile_error(err, CONF_PROFILE) from err
            raise FlowError("unknown_profile", CONF_PROFILE, profile=profile_id) from err
        return modbus_device_data((user_input.get(CONF_NAME) or "").strip(), device_id, profile_id)

    async def _async_catalogue(self) -> ProfileCatalogue:
        """Shipped profiles plus the user's folder (cached; reread when a file changed)."""
        if self._catalogue is None:
            folder = self._get_entry().options.get(CONF_PROFILES_DIR)
            self._catalogue = await async_get_catalogue(self.hass, folder)
        return self._catalogue


def _vendor_option(code: str) -> SelectOptionDict:
    """``MSY — Makel``; a code the bridge has no name for stays as it is."""
    name = manufacturer_name(code)
    return SelectOptionDict(value=code, label=code if name == code else f"{code} — {name}")


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
