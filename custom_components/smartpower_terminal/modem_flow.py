"""The config, reconfigure and options steps of a cellular modem entry (SMS alarms).

The modem is picked in the user step like a line (same port picker, same test that the port
opens); then it must answer ``AT``. Its IMEI is the entry's unique id. The SIM PIN is not
asked for: the terminal's manual says to remove it (a repair issue says so if it is set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.helpers.selector import (
    SelectOptionDict,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_RECIPIENTS,
    CONF_SCAN_INTERVAL,
    DEFAULT_MODEM_INTERVAL,
    MAX_MODEM_INTERVAL,
    MIN_MODEM_INTERVAL,
    PROTOCOL_MODEM,
)
from .flow_helpers import number, select
from .modem_hub import async_identify_modem, split_recipients
from .serial_ports import CANNOT_OPEN, check_port, list_serial_ports, serial_by_id

__all__ = ["NO_MODEM", "ModemFlowMixin", "ModemOptionsFlow"]

NO_MODEM = "no_modem"  # the port opens, but nothing answers AT on it
MODEM_TEST_BAUDRATE = 115200


def _recipients_field(default: list[str] | None = None) -> dict[vol.Marker, Any]:
    return {
        vol.Required(CONF_RECIPIENTS, default=default or []): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEL, multiple=True)
        )
    }


def _check_recipients(
    user_input: Mapping[str, Any], errors: dict[str, str], placeholders: dict[str, str]
) -> list[str]:
    """The recipients entered, in international form; an error for the form otherwise."""
    recipients, rejected = split_recipients(user_input.get(CONF_RECIPIENTS) or [])
    if rejected:
        errors[CONF_RECIPIENTS] = "invalid_recipient"
        placeholders["numbers"] = ", ".join(rejected)
    elif not recipients:
        errors[CONF_RECIPIENTS] = "recipients_required"
    return recipients


def modem_title(identity: Mapping[str, str | None]) -> str:
    model = identity.get("model") or identity.get("manufacturer") or "AT"
    return f"Cellular modem ({model})"


class ModemFlowMixin(ConfigFlow):
    """Steps of the config flow for a modem; mixed into the integration's config flow."""

    _modem_port: str
    _modem_identity: dict[str, str | None]

    async def _async_modem_problem(self, port: str) -> tuple[str, str] | None:
        """The port opens and a modem answers on it (then its identity is kept)."""
        problem = await self.hass.async_add_executor_job(check_port, port, MODEM_TEST_BAUDRATE, "N")
        if problem is not None:
            return problem
        identity = await async_identify_modem(port)
        if identity is None:
            return NO_MODEM, port
        self._modem_port, self._modem_identity = port, identity
        return None

    async def async_modem_chosen(
        self, port: str, errors: dict[str, str], placeholders: dict[str, str]
    ) -> ConfigFlowResult | None:
        """The user step picked the modem on ``port``: go on, or fill in why not."""
        if (problem := await self._async_modem_problem(port)) is not None:
            errors[CONF_PORT], placeholders["error"] = problem
            return None
        await self.async_set_unique_id(self._modem_identity.get("imei") or port)
        self._abort_if_unique_id_configured()
        return await self.async_step_modem()

    async def async_step_modem(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        identity = self._modem_identity
        placeholders = {
            "manufacturer": identity.get("manufacturer") or "-",
            "model": identity.get("model") or "-",
            "numbers": "",
        }
        if user_input is not None:
            recipients = _check_recipients(user_input, errors, placeholders)
            if not errors:
                return self.async_create_entry(
                    title=modem_title(identity),
                    data={CONF_PROTOCOL: PROTOCOL_MODEM, CONF_PORT: self._modem_port},
                    options={
                        CONF_RECIPIENTS: recipients,
                        CONF_SCAN_INTERVAL: DEFAULT_MODEM_INTERVAL,
                    },
                )
        return self.async_show_form(
            step_id="modem",
            data_schema=vol.Schema(
                _recipients_field(user_input[CONF_RECIPIENTS] if user_input else None)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_modem_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another port for the same modem (its IMEI must match)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            port = await self.hass.async_add_executor_job(serial_by_id, user_input[CONF_PORT])
            if entry.state is ConfigEntryState.LOADED and port == entry.data[CONF_PORT]:
                # the running modem holds its port: nothing changes
                return self.async_abort(reason="reconfigure_successful")
            if (problem := await self._async_modem_problem(port)) is None:
                await self.async_set_unique_id(self._modem_identity.get("imei") or port)
                self._abort_if_unique_id_mismatch(reason="wrong_modem")
                return self.async_update_reload_and_abort(entry, data_updates={CONF_PORT: port})
            errors[CONF_PORT if problem[0] != CANNOT_OPEN else "base"] = problem[0]
            placeholders["error"] = problem[1]
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        schema = vol.Schema(
            {
                vol.Required(CONF_PORT): select(
                    [SelectOptionDict(value=p.path, label=p.label) for p in ports],
                    custom_value=True,
                )
            }
        )
        return self.async_show_form(
            step_id="modem_reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or entry.data),
            errors=errors,
            description_placeholders=placeholders,
        )


class ModemOptionsFlow(OptionsFlow):
    """Who gets the SMS alarms, and how often the modem is looked at."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self.async_step_modem(user_input)

    async def async_step_modem(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"numbers": ""}
        if user_input is not None:
            recipients = _check_recipients(user_input, errors, placeholders)
            if not errors:
                return self.async_create_entry(
                    data={
                        **self.config_entry.options,
                        CONF_RECIPIENTS: recipients,
                        CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    }
                )
        options = self.config_entry.options
        schema = vol.Schema(
            {
                **_recipients_field(),
                vol.Required(CONF_SCAN_INTERVAL, default=DEFAULT_MODEM_INTERVAL): number(
                    MIN_MODEM_INTERVAL, MAX_MODEM_INTERVAL
                ),
            }
        )
        return self.async_show_form(
            step_id="modem",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or options),
            errors=errors,
            description_placeholders=placeholders,
        )
