"""Config and options flow steps for the GPIO pins of this computer (IN1/IN2, C1/C2)."""

from __future__ import annotations

import glob
import logging
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.helpers.selector import BooleanSelector, SelectOptionDict

from hardware_bridge import Bias, GpioConfigError, GpiodMissingError, GpioError

from .const import CONF_PROTOCOL, CONF_TERMINAL_MODEL
from .flow_helpers import number, select
from .gpio_line import (
    CONF_CHIP,
    CONF_INPUTS,
    CONF_MAX_ON,
    CONF_RELAYS,
    GPIO_INPUTS,
    GPIO_RELAYS,
    PROTOCOL_GPIO,
    gpio_config,
    make_chip,
)

__all__ = ["GpioFlowMixin", "GpioOptionsFlow", "list_gpio_chips"]

_LOGGER = logging.getLogger(__name__)

CONF_INPUTS_ACTIVE_LOW = "inputs_active_low"
CONF_INPUT_BIAS = "input_bias"
CONF_DEBOUNCE_MS = "debounce_ms"
CONF_RELAYS_ACTIVE_LOW = "relays_active_low"
DEFAULT_CHIP = "/dev/gpiochip0"
DEFAULT_DEBOUNCE_MS = 50
MAX_OFFSET = 1023
MAX_ON_MINUTES = 1440
BIASES = [b.value for b in (Bias.PULL_UP, Bias.PULL_DOWN, Bias.DISABLED, Bias.AS_IS)]


def list_gpio_chips() -> list[str]:
    """The GPIO character devices of this computer (blocking: run in the executor)."""
    return sorted(glob.glob("/dev/gpiochip*"))


def _check_lines(chip_path: str, data: dict[str, Any]) -> None:
    """Request the lines once and release them (blocking); raises GpioError if the chip or a
    line cannot be had."""
    config = gpio_config(data)
    lines = make_chip(chip_path).request("smartpower-test", config.line_setups())
    lines.release()


def _entry_data(user_input: dict[str, Any]) -> dict[str, Any]:
    inputs = [
        {
            "key": key,
            "offset": int(user_input[key]),
            "active_low": bool(user_input.get(CONF_INPUTS_ACTIVE_LOW, True)),
            "bias": user_input.get(CONF_INPUT_BIAS, Bias.PULL_UP.value),
            "debounce_ms": float(user_input.get(CONF_DEBOUNCE_MS, DEFAULT_DEBOUNCE_MS)),
        }
        for key in GPIO_INPUTS
        if user_input.get(key) is not None
    ]
    relays = [
        {
            "key": key,
            "offset": int(user_input[key]),
            "active_low": bool(user_input.get(CONF_RELAYS_ACTIVE_LOW, False)),
        }
        for key in GPIO_RELAYS
        if user_input.get(key) is not None
    ]
    return {
        CONF_PROTOCOL: PROTOCOL_GPIO,
        CONF_CHIP: str(user_input[CONF_CHIP]).strip(),
        CONF_INPUTS: inputs,
        CONF_RELAYS: relays,
    }


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's data as the GPIO form shows it."""
    values: dict[str, Any] = {CONF_CHIP: data.get(CONF_CHIP)}
    for line in data.get(CONF_INPUTS, ()):
        values[line["key"]] = line["offset"]
        values[CONF_INPUTS_ACTIVE_LOW] = line.get("active_low", True)
        values[CONF_INPUT_BIAS] = line.get("bias", Bias.PULL_UP.value)
        values[CONF_DEBOUNCE_MS] = line.get("debounce_ms", DEFAULT_DEBOUNCE_MS)
    for line in data.get(CONF_RELAYS, ()):
        values[line["key"]] = line["offset"]
        values[CONF_RELAYS_ACTIVE_LOW] = line.get("active_low", False)
    return values


class GpioFlowMixin(ConfigFlow):
    """The config flow's GPIO step (mixed into the integration's config flow)."""

    _line: dict[str, Any]

    async def async_step_gpio(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        reconfigure = self.source == SOURCE_RECONFIGURE
        if user_input is not None and CONF_CHIP in user_input:
            data = _entry_data(user_input)
            await self.async_set_unique_id(f"gpio:{data[CONF_CHIP]}")
            if reconfigure:
                self._abort_if_unique_id_mismatch(reason="wrong_gpio_chip")
            else:
                self._abort_if_unique_id_configured()
            if not data[CONF_INPUTS] and not data[CONF_RELAYS]:
                errors["base"] = "gpio_no_lines"
            else:
                try:
                    await self.hass.async_add_executor_job(_check_lines, data[CONF_CHIP], data)
                except GpioConfigError as err:
                    errors["base"], placeholders["error"] = "gpio_invalid", str(err)
                except GpiodMissingError as err:
                    errors["base"], placeholders["error"] = "gpiod_missing", str(err)
                except GpioError as err:
                    errors["base"], placeholders["error"] = "gpio_unavailable", str(err)
                else:
                    if reconfigure:
                        entry = self._get_reconfigure_entry()
                        return self.async_update_reload_and_abort(
                            entry, data={**entry.data, **data}
                        )
                    model = self._line.get(CONF_TERMINAL_MODEL) or "adapter"
                    return self.async_create_entry(
                        title=f"GPIO ({data[CONF_CHIP]})",
                        data={**data, CONF_TERMINAL_MODEL: model},
                    )
        chips = await self.hass.async_add_executor_job(list_gpio_chips)
        schema = vol.Schema(
            {
                vol.Required(CONF_CHIP, default=chips[0] if chips else DEFAULT_CHIP): select(
                    [SelectOptionDict(value=c, label=c) for c in chips] or [DEFAULT_CHIP],
                    custom_value=True,
                ),
                **{vol.Optional(key): number(0, MAX_OFFSET) for key in GPIO_INPUTS},
                vol.Required(CONF_INPUTS_ACTIVE_LOW, default=True): BooleanSelector(),
                vol.Required(CONF_INPUT_BIAS, default=Bias.PULL_UP.value): select(
                    BIASES, "gpio_bias"
                ),
                vol.Required(CONF_DEBOUNCE_MS, default=DEFAULT_DEBOUNCE_MS): number(0, 10_000),
                **{vol.Optional(key): number(0, MAX_OFFSET) for key in GPIO_RELAYS},
                vol.Required(CONF_RELAYS_ACTIVE_LOW, default=False): BooleanSelector(),
            }
        )
        suggested = user_input
        if reconfigure and not suggested:
            suggested = _form_values(self._get_reconfigure_entry().data)
        return self.async_show_form(
            step_id="gpio",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )


class GpioOptionsFlow(OptionsFlow):
    """A GPIO relay's longest on-time, enforced by the bridge's fail-safe."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self.async_step_gpio(user_input)

    async def async_step_gpio(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        relays = [line["key"] for line in self.config_entry.data.get(CONF_RELAYS, ())]
        if user_input is not None:
            max_on = {key: float(user_input.get(f"{key}_max_on") or 0) for key in relays}
            return self.async_create_entry(data={CONF_MAX_ON: max_on})
        current = self.config_entry.options.get(CONF_MAX_ON) or {}
        schema = vol.Schema(
            {
                vol.Required(f"{key}_max_on", default=current.get(key, 0)): number(
                    0, MAX_ON_MINUTES
                )
                for key in relays
            }
        )
        return self.async_show_form(step_id="gpio", data_schema=schema)
