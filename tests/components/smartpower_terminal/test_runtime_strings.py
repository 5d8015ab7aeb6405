"""Translations of the runtime's sections are complete in English and Turkish."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from hardware_bridge import load_catalogue, meter_specs, profile_specs

BASE = Path(__file__).parents[3] / "custom_components" / "smartpower_terminal"
SECTIONS = ("entity", "exceptions", "services", "issues")


def _load(name: str) -> dict:
    return json.loads((BASE / name).read_text(encoding="utf-8"))


def _paths(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        out: set[str] = set()
        for key, value in node.items():
            out |= _paths(value, f"{prefix}/{key}")
        return out
    return {prefix}


def test_english_and_turkish_cover_the_same_strings() -> None:
    strings = _load("strings.json")
    en, tr = _load("translations/en.json"), _load("translations/tr.json")
    for section in SECTIONS:
        assert strings[section] == en[section], section
        assert _paths(en[section]) == _paths(tr[section]), section
        assert all(_paths(tr[section])), section


def _placeholders(node: object) -> list[tuple[str, frozenset[str]]]:
    if isinstance(node, dict):
        return [(f"{k}/{p}", v) for k, sub in node.items() for p, v in _placeholders(sub)]
    return [("", frozenset(re.findall(r"{(\w+)}", str(node))))]


def test_turkish_uses_the_same_placeholders() -> None:
    en, tr = _load("translations/en.json"), _load("translations/tr.json")
    for section in SECTIONS:
        assert _placeholders(en[section]) == _placeholders(tr[section]), section


def test_every_measurement_key_and_code_string_is_named() -> None:
    en = _load("strings.json")
    names = set(en["entity"]["sensor"]) | set(en["entity"]["binary_sensor"])
    # relays and inputs are named "Relay N" / "Input N" (or as the user named them)
    keys = {s.key for p in load_catalogue() for s in profile_specs(p) if s.io is None}
    assert en["entity"]["switch"]["relay"]["name"] == "Relay {number}"
    assert en["entity"]["binary_sensor"]["input"]["name"] == "Input {number}"
    keys |= {s.key for s in meter_specs()}
    assert keys <= names
    for key in ("last_read", "read_errors", "round_trip", "reactive_inductive_ratio"):
        assert key in en["entity"]["sensor"]
    source = "\n".join(p.read_text(encoding="utf-8") for p in BASE.glob("*.py"))
    for key in en["exceptions"]:
        assert f'"{key}"' in source, key
    for key in en["issues"]:
        assert f'"{key}"' in source, key
    services = yaml.safe_load((BASE / "services.yaml").read_text(encoding="utf-8"))
    assert set(services) == set(en["services"])
    assert set(services["read_now"]["fields"]) == set(en["services"]["read_now"]["fields"])
    icons = json.loads((BASE / "icons.json").read_text(encoding="utf-8"))
    assert set(icons["services"]) == set(services)
