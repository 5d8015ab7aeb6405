"""Pieces the config, options and subentry flows share: form fields and form errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from hardware_bridge import ProfileError

from .const import CONF_PARITY, PARITIES

__all__ = [
    "PARITY_CHOICES",
    "FlowError",
    "as_form_values",
    "int_select",
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


def number(low: float, high: float, unit: str, step: float = 1) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=low, max=high, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
        )
    )


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
