"""Relays and inputs of Modbus I/O boards: names, device classes and inversion from the form."""

from __future__ import annotations

import re
from collections.abc import Mapping

from homeassistant.config_entries import ConfigSubentry

from hardware_bridge import MeasurementSpec

from .watch import IoSettings, io_settings

__all__ = ["io_description_fields", "io_entity_names"]

_NUMBERED = re.compile(r"(relay|input)_(\d+)")


def io_entity_names(spec: MeasurementSpec, settings: IoSettings) -> tuple[str | None, str | None]:
    """``(name, number)``: the user's name, else a translated "Relay N"/"Input N" (number set),
    else the profile's name."""
    if settings.name:
        return settings.name, None
    if match := _NUMBERED.fullmatch(spec.key):
        return None, match.group(2)
    return spec.name, None


def io_description_fields(
    spec: MeasurementSpec, subentry: ConfigSubentry
) -> tuple[IoSettings, Mapping[str, object]]:
    """The point's settings and the EntityDescription fields naming it."""
    settings = io_settings(subentry.data).get(spec.key, IoSettings())
    name, number = io_entity_names(spec, settings)
    fields: dict[str, object] = {"key": spec.key}
    if number is not None:
        fields["translation_key"] = spec.io
        fields["translation_placeholders"] = {"number": number}
    else:
        fields["name"] = name
    return settings, fields
