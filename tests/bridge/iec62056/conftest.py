"""Shared helpers for the IEC 62056-21 tests: sample telegrams, fast client settings."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from hardware_bridge.cli import _iec
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


@pytest.fixture(scope="session")
def iec_cli() -> ModuleType:
    return _iec
