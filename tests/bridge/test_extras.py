"""Each command's extra brings every package its code imports: ``pip install
'smartpower-hardware-bridge[server]'`` must give a server that starts, not an ImportError."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "hardware_bridge"

# Distribution name → the module it installs, for the project's dependencies.
MODULES = {
    "pymodbus": "pymodbus",
    "pyserial": "serial",
    "pyserial-asyncio-fast": "serial_asyncio_fast",
    "voluptuous": "voluptuous",
    "PyYAML": "yaml",
    "aiohttp": "aiohttp",
    "asyncpg": "asyncpg",
    "zeroconf": "zeroconf",
    "qrcode": "qrcode",
    "gpiod": "gpiod",
}

# What a command runs: its modules and folders inside hardware_bridge, the extras it needs,
# and the optional packages whose absence it reports (the lan, slip and gpio extras).
COMMANDS = {
    "server": (["server", "api", "cli/_server.py"], ["server"], set()),
    "daemon with an upstream": (
        ["daemon", "uplink", "api", "cli/_daemon.py"],
        ["api"],
        {"zeroconf", "qrcode", "gpiod"},
    ),
}


def _distribution(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match, requirement
    return match.group(0)


def _imports(paths: list[Path]) -> set[str]:
    """Top-level third-party modules imported in ``paths``, except under ``TYPE_CHECKING`` and
    where the code handles their absence (``except ImportError``)."""
    found: set[str] = set()
    for path in paths:
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            tree = ast.parse(file.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    node.body = []
                if isinstance(node, ast.Try) and any(
                    h.type is not None and "ImportError" in ast.unparse(h.type)
                    for h in node.handlers
                ):
                    node.body = []  # optional: the code says what is missing
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "hardware_bridge"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_commands_extra_brings_what_it_imports(command: str) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    parts, extras, optional = COMMANDS[command]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    installed = {MODULES[_distribution(r)] for r in requirements}
    imported = _imports([PACKAGE / part for part in parts]) - optional
    assert imported - installed == set(), f"{command} imports what {extras} does not install"
