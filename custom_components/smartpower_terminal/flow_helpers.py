"""Pieces the config, options and subentry flows share: form fields and form errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.helpers.translation import async_get_translations

from hardware_bridge import Profile, ProfileCatalogue, ProfileError, ScanHit

from .const import CONF_DEVICE_ID, CONF_NAME, CONF_PARITY, CONF_PROFILE, DOMAIN, PARITIES

__all__ = [
    "PARITY_CHOICES",
    "FlowError",
    "as_form_values",
    "async_unknown_type_text",
    "hit_label",
    "int_select",
    "modbus_device_data",
    "modbus_device_title",
    "number",
    "parity_from_form",
    "profile_error",
    "select",
]

# Parity as the form offers it (translation keys must be lower case) and as it is stored.
PARITY_CHOICES = dict(zip(("none", "even", "odd"), PARITIES, strict=True))


class FlowError(Exception):
    """Input the user has to correct: an error key for the form and its placeholders."""

    def __init__(self, key: str, where: str = "base", /, **placeholders: str) -> None:
        super().__init__(key)
        self.key = key
        self.field = where
        self.placeholders = placeholders


def select(
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


def int_select(values: tuple[int, ...]) -> vol.All:
    return vol.All(select([str(v) for v in values]), vol.Coerce(int))


def number(low: float, high: float, unit: str | None = None, step: float = 1) -> NumberSelector:
    """A number box. A unit given here is shown untranslated: put words ("min") in the label."""
    config = NumberSelectorConfig(min=low, max=high, step=step, mode=NumberSelectorMode.BOX)
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def parity_from_form(data: Mapping[str, Any]) -> dict[str, Any]:
    """Submitted values with the parity's name (none/even/odd) turned into its code (N/E/O).

    Done in the step, not in the schema: the frontend needs every schema field serialisable.
    """
    out = dict(data)
    if (name := out.get(CONF_PARITY)) in PARITY_CHOICES:
        out[CONF_PARITY] = PARITY_CHOICES[name]
    return out


def as_form_values(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Stored values as the select fields show them (numbers as strings, parity by name)."""
    if data is None:
        return None
    form = {
        k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in data.items()
    }
    if (parity := form.get(CONF_PARITY)) in PARITIES:
        form[CONF_PARITY] = next(name for name, code in PARITY_CHOICES.items() if code == parity)
    return form


def profile_error(error: ProfileError, where: str) -> FlowError:
    return FlowError(
        "profile_invalid",
        where,
        file=Path(error.source).name,
        field=error.path or "-",
        reason=error.reason,
    )


def modbus_device_data(name: str, device_id: int, profile_id: str) -> dict[str, Any]:
    """A Modbus device subentry's data, as the device form and the line scan store it."""
    return {CONF_NAME: name, CONF_DEVICE_ID: device_id, CONF_PROFILE: profile_id}


def modbus_device_title(name: str, profile: Profile, device_id: int) -> str:
    return name or f"{profile.manufacturer} {profile.model} @ {device_id}"


def hit_label(hit: ScanHit, catalogue: ProfileCatalogue, unknown_type: str) -> str:
    """``"2: KAEL VARkombi"``; the models it may be; or that its type is unknown."""
    if hit.suggested_profile_id is not None and hit.suggested_profile_id in catalogue:
        profile = catalogue.get(hit.suggested_profile_id)
        return f"{hit.device_id}: {profile.manufacturer} {profile.model}"
    if hit.candidates:
        return f"{hit.device_id}: {' / '.join(hit.candidates)}"
    return f"{hit.device_id}: {unknown_type}"


UNKNOWN_TYPE_KEY = f"component.{DOMAIN}.selector.scan_hit.options.unknown_type"


async def async_unknown_type_text(hass: HomeAssistant) -> str:
    """'unknown type' in Home Assistant's language (a select option's label is not translated)."""
    # Home Assistant fills what a language lacks from English.
    texts = await async_get_translations(hass, hass.config.language, "selector", [DOMAIN])
    return texts.get(UNKNOWN_TYPE_KEY, "unknown type")
