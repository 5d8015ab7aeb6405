"""Shared helpers for the IEC 62056-21 tests: sample telegrams, fast client settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import hardware_bridge
from hardware_bridge.iec62056 import ClientSettings

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def fast_settings(port: str, **overrides: object) -> ClientSettings:
    """Client settings with test-sized timeouts (the spec's 1.5 s / 2.2 s would be slow)."""
    values: dict[str, object] = {
        "port": port,
        "switch_delay": 0.02,
        "reaction_timeout": 0.4,
        "inter_char_timeout": 0.4,
        "retry_pause": 0.05,
    }
    values.update(overrides)
    return ClientSettings(**values)  # type: ignore[arg-type]


def load_cli_module() -> ModuleType:
    """``hardware_bridge.cli._iec``, also when sibling CLI modules are not there yet."""
    try:
        from hardware_bridge.cli import _iec
    except ImportError:
        path = Path(hardware_bridge.__file__).parent / "cli" / "_iec.py"
        spec = importlib.util.spec_from_file_location("_iec_cli_under_test", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return _iec


@pytest.fixture(scope="session")
def iec_cli() -> ModuleType:
    return load_cli_module()
