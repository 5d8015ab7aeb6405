"""Every text the flows show exists in English and Turkish, with the same placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from custom_components.smartpower_terminal.const import (
    INPUT_DEVICE_CLASSES,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
    PROTOCOL_MODEM,
    READOUT_MODES,
    TERMINAL_MODELS,
)
from custom_components.smartpower_terminal.flow_helpers import PARITY_CHOICES

FOLDER = Path(__file__).parents[3] / "custom_components" / "smartpower_terminal"
SECTIONS = ("config", "config_subentries", "options", "selector")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FOLDER / name).read_text(encoding="utf-8"))
    return data


def _leaves(tree: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(tree, dict):
        out: dict[str, str] = {}
        for key, value in tree.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: tree}


STRINGS = _load("strings.json")
ENGLISH = _leaves({k: _load("translations/en.json")[k] for k in SECTIONS})
TURKISH = _leaves({k: _load("translations/tr.json")[k] for k in SECTIONS})


def test_strings_and_english_are_the_same() -> None:
    assert _leaves({k: STRINGS[k] for k in SECTIONS}) == ENGLISH


def test_turkish_has_every_english_text() -> None:
    assert set(TURKISH) == set(ENGLISH)
    assert all(text.strip() for text in TURKISH.values())


def test_placeholders_match() -> None:
    for key, text in ENGLISH.items():
        assert set(PLACEHOLDER.findall(TURKISH[key])) == set(PLACEHOLDER.findall(text)), key


FLOW_MESSAGES = [
    *(f"config.error.{e}" for e in ("port_missing", "permission_denied", "port_busy")),
    "config.error.cannot_open",
    "config.error.unknown",
    "config.abort.already_configured",
    "config.abort.reconfigure_successful",
    *(f"config_subentries.meter.error.{e}" for e in ("invalid_address", "duplicate_address")),
    "config_subentries.meter.error.address_required",
    "config_subentries.meter.abort.not_meter_line",
    *(
        f"config_subentries.modbus_device.error.{e}"
        for e in ("address_out_of_range", "duplicate_address", "unknown_profile")
    ),
    "config_subentries.modbus_device.error.profile_invalid",
    "config_subentries.modbus_device.error.scan_range",
    "config_subentries.modbus_device.abort.not_modbus_line",
    "config_subentries.modbus_device.abort.no_devices_found",
    "config_subentries.modbus_device.progress.scan",
    "config_subentries.meter.initiate_flow.reconfigure",
    "config_subentries.modbus_device.initiate_flow.reconfigure",
    "config.error.port_required",
    "config.progress.scan",
    "config.step.modbus_next.menu_options.scan",
    "config.step.modbus_next.menu_options.finish",
    *(f"config.step.nothing_found.menu_options.{o}" for o in ("modbus", "scan", "finish")),
    "config.step.scan_result.data.devices",
    "config_subentries.meter.error.manufacturer_code_required",
    "config_subentries.meter.error.invalid_manufacturer_code",
    "config_subentries.modbus_device.error.profile_required",
    "options.error.profiles_dir_missing",
    "options.error.profile_invalid",
    *(f"config.error.{e}" for e in ("no_modem", "invalid_recipient", "recipients_required")),
    "config.abort.wrong_modem",
    "config.step.modem.data.recipients",
    "config.step.modem_reconfigure.data.port",
    *(f"options.error.{e}" for e in ("invalid_recipient", "recipients_required")),
    *(f"options.step.modem.data.{f}" for f in ("recipients", "scan_interval")),
    *(
        f"config.error.{e}"
        for e in (
            "invalid_url",
            "invalid_auth_code",
            "modem_not_found",
            "rate_limited",
            "rate_limited_no_wait",
            "invalid_token",
            "cannot_connect",
            "tls_error",
            "not_smartpower",
        )
    ),
    "config.abort.reauth_successful",
    *(f"config.step.remote_auth.data.{f}" for f in ("modem_no", "auth_code")),
    "config.step.reauth_confirm.data.auth_code",
    *(f"config.step.remote_reconfigure.data.{f}" for f in ("url", "auth_code")),
]


def test_flow_messages_exist() -> None:
    assert [key for key in FLOW_MESSAGES if key not in ENGLISH] == []


def test_every_selector_option_is_translated() -> None:
    expected = {
        "protocol": {PROTOCOL_IEC, PROTOCOL_MODBUS, PROTOCOL_MODEM, "gpio", "remote"},
        "gpio_bias": {"pull_up", "pull_down", "disabled", "as_is"},
        "terminal_model": set(TERMINAL_MODELS),
        "parity": set(PARITY_CHOICES),
        "readout_mode": set(READOUT_MODES),
        "scan_hit": {"unknown_type"},
        "input_device_class": set(INPUT_DEVICE_CLASSES),
    }
    for language in ("translations/en.json", "translations/tr.json"):
        selectors = _load(language)["selector"]
        assert {k: set(v["options"]) for k, v in selectors.items()} == expected


def test_data_descriptions_describe_form_fields() -> None:
    """Home Assistant only shows a help text for a field the step has."""
    step_groups = [STRINGS["config"]["step"], STRINGS["options"]["step"]]
    step_groups += [sub["step"] for sub in STRINGS["config_subentries"].values()]
    for steps in step_groups:
        for step in steps.values():
            assert set(step.get("data_description", {})) <= set(step.get("data", {}))


# Words a Turkish electrician reads as foreign or as the wrong thing.
TURKISH_MISWORDINGS = re.compile(r"\bslave\b|\bregister|\bmin\b", re.IGNORECASE)


def test_turkish_flow_texts_use_turkish_terms() -> None:
    assert {k: t for k, t in TURKISH.items() if TURKISH_MISWORDINGS.search(t)} == {}


def test_interval_labels_carry_their_unit() -> None:
    """The unit is in the label, translated: a number selector's unit is shown as it is."""
    labels = "options.step.init.data"
    assert TURKISH[f"{labels}.slow_interval"].endswith("(dk)")
    assert TURKISH[f"{labels}.fast_interval"].endswith("(sn)")
    assert ENGLISH[f"{labels}.slow_interval"].endswith("(minutes)")
    assert ENGLISH[f"{labels}.fast_interval"].endswith("(seconds)")
    modem = "options.step.modem.data.scan_interval"
    assert TURKISH[modem].endswith("(sn)")
    assert ENGLISH[modem].endswith("(seconds)")
