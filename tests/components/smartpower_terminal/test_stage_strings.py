"""Compensation stages read as switched in or out, in stage order, each with its icon."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge import load_catalogue, profile_specs

BASE = Path(__file__).parents[3] / "custom_components" / "smartpower_terminal"
STAGE = re.compile(r"stage_k(\d+)")
STAGE_KEYS = sorted(
    {s.key for p in load_catalogue() for s in profile_specs(p) if STAGE.fullmatch(s.key)},
    key=lambda k: int(STAGE.fullmatch(k)[1]),  # type: ignore[index]
)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BASE / name).read_text(encoding="utf-8"))
    return data


def test_the_profiles_have_twelve_stages() -> None:
    assert [f"stage_k{n}" for n in range(1, 13)] == STAGE_KEYS


@pytest.mark.parametrize("language", ["en", "tr"])
def test_stage_names_sort_in_stage_order(language: str) -> None:
    """The device page sorts entities by name as text: K10 must not come before K2."""
    texts = _load(f"translations/{language}.json")["entity"]["binary_sensor"]
    names = [texts[key]["name"] for key in STAGE_KEYS]
    assert sorted(names, key=str.casefold) == names
    assert all(f"(K{n})" in name for n, name in enumerate(names, start=1))  # the panel's label


def test_a_stage_in_turkish_is_switched_in_not_open() -> None:
    """'Açık' (open) reads as an open contact, i.e. a stage that is out."""
    texts = _load("translations/tr.json")["entity"]["binary_sensor"]
    for key in STAGE_KEYS:
        assert texts[key]["state"] == {"on": "Devrede", "off": "Devre dışı"}, key


def test_every_stage_has_an_icon_per_state() -> None:
    icons = _load("icons.json")["entity"]["binary_sensor"]
    for key in STAGE_KEYS:
        assert icons[key]["default"].startswith("mdi:"), key
        states = icons[key]["state"]
        assert set(states) == {"on", "off"}, key
        assert states["on"] != states["off"], key
