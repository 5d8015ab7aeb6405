"""``scripts/develop``'s configuration and printed steps (no Home Assistant process needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from custom_components.smartpower_terminal.const import (
    DEFAULT_FAST_INTERVAL,
    DEFAULT_SLOW_INTERVAL,
    MIN_SLOW_INTERVAL,
)

from .develop import MODBUS_UPDATE_INTERVAL, _instructions
from .harness import DEVELOP_INTEGRATIONS, LOCATION, write_config


def _onboarding(config_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (config_dir / ".storage" / "onboarding").read_text(encoding="utf-8")
    )
    return data


def test_onboarding_cannot_overwrite_the_location_or_start_extra_integrations(
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "config"
    write_config(config_dir, 8123, extra=DEVELOP_INTEGRATIONS)
    core = yaml.safe_load((config_dir / "configuration.yaml").read_text(encoding="utf-8"))
    assert core["homeassistant"] == LOCATION
    assert LOCATION["country"] == "TR"
    assert LOCATION["time_zone"] == "Europe/Istanbul"
    # The location step (filled from the browser's locale, and starting met, radio_browser,
    # google_translate and shopping_list) is done before Home Assistant starts; the owner
    # account is still created by the user.
    store = _onboarding(config_dir)
    assert store["key"] == "onboarding"
    assert set(store["data"]["done"]) == {"core_config", "analytics"}


def test_an_existing_onboarding_is_kept(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    store = config_dir / ".storage" / "onboarding"
    store.parent.mkdir(parents=True)
    existing = {"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": ["user"]}}
    store.write_text(json.dumps(existing), encoding="utf-8")
    write_config(config_dir, 8123)
    write_config(config_dir, 8123)
    assert _onboarding(config_dir)["data"]["done"] == ["user", "core_config", "analytics"]


def test_the_printed_steps_say_when_values_really_change() -> None:
    panel = SimpleNamespace(modbus_port=Path("/d/ttyUSB0"), meter_port=Path("/d/ttyUSB1"))
    text = _instructions("http://127.0.0.1:8123", panel, SimpleNamespace(address="MSY1"))  # type: ignore[arg-type]
    assert f"stages: read every {DEFAULT_FAST_INTERVAL} s" in text
    assert f"change them every {MODBUS_UPDATE_INTERVAL:g} s" in text
    assert f"readout: read every {DEFAULT_SLOW_INTERVAL} min" in text
    assert f'readouts every" {MIN_SLOW_INTERVAL} min' in text
    assert "every second" not in text
    assert "60×" not in text


def test_a_state_folder_outside_the_checkout_is_shown_as_it_is() -> None:
    panel = SimpleNamespace(modbus_port=Path("/d/ttyUSB0"), meter_port=Path("/d/ttyUSB1"))
    meter = SimpleNamespace(address="MSY1")
    text = _instructions("http://x", panel, meter, Path("/srv/dev/config"))  # type: ignore[arg-type]
    assert "(log: /srv/dev/config/home-assistant.log)" in text
    default = _instructions("http://x", panel, meter)  # type: ignore[arg-type]
    assert "(log: .dev/config/home-assistant.log)" in default
