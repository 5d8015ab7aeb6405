"""The bridge's public surface: every exported name resolves, and importing the package is cheap."""

from __future__ import annotations

import subprocess
import sys

import hardware_bridge


def test_every_exported_name_resolves() -> None:
    missing = [name for name in hardware_bridge.__all__ if not hasattr(hardware_bridge, name)]
    assert missing == []
    assert set(hardware_bridge.__all__) <= set(dir(hardware_bridge))


def test_importing_the_package_loads_no_protocol_stack() -> None:
    """``smartpower-bridge --help`` and tools that only need a name pay for what they use."""
    code = (
        "import sys, hardware_bridge; "
        "print(sorted(m for m in ('pymodbus', 'serial', 'yaml', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
