"""Install the integration the way HACS users do, and set up a line with it.

A user's Home Assistant has none of this project installed: HACS copies
``custom_components/smartpower_terminal/`` into the configuration folder, and Home Assistant
installs the manifest's requirements (``smartpower-hardware-bridge==X``, pymodbus) itself with
``uv pip install`` when the integration is first used. The rest of the suite runs in a venv with
the project installed editable, so it cannot see a requirement that does not install, a file
missing from the wheel, or a dependency the wheel does not declare. This test can:

1. builds the project's sdist and wheel from a copy of the checkout, as the release workflow
   does (the wheel from the sdist);
2. makes a fresh venv with only ``homeassistant`` — the version of the test venv;
3. makes a fresh configuration folder with the integration folder copied in;
4. starts ``hass`` *without* ``--skip-pip``, with ``UV_FIND_LINKS`` pointing at the wheel: the
   stand-in for the package index, where the release workflow publishes it;
5. creates the owner account, adds a Modbus line and an SDM630 through the config flows against
   the simulator (which runs in this process, on a pty), and checks that the entry loads, that
   Home Assistant installed the bridge from the wheel (not from anywhere else), that an entity
   shows what the device sends, and that Home Assistant logged no ERROR.

Caches: uv's (``~/.cache/uv``) makes repeats fast; nothing is written into the checkout.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hardware_bridge import load_catalogue
from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import SimulatedDevice
from tests.e2e.harness import (
    DOMAIN,
    REPO,
    HomeAssistantClient,
    HomeAssistantError,
    HomeAssistantProcess,
    SimulatedPanel,
    add_modbus_line,
    free_port,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.install

DISTRIBUTION = "smartpower-hardware-bridge"
USER = {"name": "Ayşe Elektrik", "username": "ayse", "password": "kompanzasyon-2025"}
METER_ID = 1
# Bounds (seconds). The first run downloads Home Assistant and, on its first start, the packages
# of the integrations it always loads (frontend, backup, ...); repeats take a fraction of this.
BUILD_TIMEOUT = 300
VENV_TIMEOUT = 600
START_TIMEOUT = 600
SETUP_TIMEOUT = 180
# What is copied to build from: the checkout without its venvs, caches and build output.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".dev", ".cache", "build", "dist", "*.egg-info", "__pycache__",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", "node_modules",
)  # fmt: skip
# Home Assistant's log line: "2025-11-29 21:00:00.123 ERROR (MainThread) [logger] message".
LOG_LEVEL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?P<level>[A-Z]+) ")


def _run(args: list[str], what: str, timeout: float, **kwargs: Any) -> None:
    """Run a command; fail the test with its output if it fails or overruns."""
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} took over {timeout:.0f} s: {' '.join(args)}", pytrace=False)
    if done.returncode != 0:
        output = f"{done.stdout}\n{done.stderr}".strip()
        pytest.fail(
            f"{what} failed (exit {done.returncode}): {' '.join(args)}\n{output}", pytrace=False
        )


def _uv(*args: str) -> list[str]:
    """uv from the test venv (Home Assistant depends on it, so it is there)."""
    return [sys.executable, "-m", "uv", *args]


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that points into the test venv or the checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX")
        and key not in ("UV_PYTHON", "UV_SYSTEM_PYTHON", "UV_FIND_LINKS", "PIP_FIND_LINKS")
    }
    return {**env, **extra}


def build_distributions(dist: Path) -> Path:
    """sdist and wheel of the checkout (wheel built from the sdist); the wheel's path."""
    with tempfile.TemporaryDirectory(prefix="smartpower-src-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(REPO, source, ignore=NOT_SOURCE, symlinks=True)
        # Without --sdist/--wheel uv builds the sdist, then the wheel from the sdist (as
        # `python -m build` does in the release workflow): a file left out of the sdist is
        # missing from the wheel too.
        _run(
            _uv("build", "--quiet", "--out-dir", str(dist), str(source)),
            "building the sdist and wheel",
            BUILD_TIMEOUT,
            env=_clean_env(),
        )
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}: {wheels}"
    return wheels[0]


def fresh_home_assistant_venv(venv: Path, version: str) -> Path:
    """A venv with ``homeassistant==version`` and what it depends on, nothing else; its python."""
    # The interpreter this test venv was made from, not the test venv itself.
    base = getattr(sys, "_base_executable", sys.executable)
    env = _clean_env()
    _run(_uv("venv", "--quiet", "--python", base, str(venv)), "creating the venv", 120, env=env)
    python = venv / "bin" / "python"
    install = _uv("pip", "install", "--quiet", "--python", str(python), f"homeassistant=={version}")
    # From uv's cache alone when it has everything (a repeat: ~2 s instead of ~30 s spent
    # revalidating a hundred index pages; Home Assistant pins its dependencies exactly), else
    # from the package index. Home Assistant's own installs in the test always use the index.
    offline = subprocess.run(
        [*install, "--offline"],
        capture_output=True,
        timeout=VENV_TIMEOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    if offline.returncode != 0:
        _run(
            install, f"installing homeassistant=={version} into a fresh venv", VENV_TIMEOUT, env=env
        )
    return python


def installed_version(python: Path, distribution: str) -> str | None:
    script = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
    # Clean environment, run from the venv: neither PYTHONPATH nor the working directory may
    # show the checkout (an editable install leaves its metadata there).
    done = subprocess.run(
        [str(python), "-c", script, distribution],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=python.parent,
        env=_clean_env(),
    )
    return done.stdout.strip() if done.returncode == 0 else None


class InstalledHomeAssistant(HomeAssistantProcess):
    """``hass`` from the fresh venv, installing requirements itself (no ``--skip-pip``), with
    ``UV_FIND_LINKS`` as the stand-in for the package index."""

    def __init__(self, config_dir: Path, http_port: int, *, venv: Path, links: Path) -> None:
        super().__init__(config_dir, http_port, python=str(venv / "bin" / "python"))
        self.venv = venv
        self.links = links

    def environment(self) -> dict[str, str]:
        # VIRTUAL_ENV: Home Assistant runs `python -m uv pip install`, and uv installs into the
        # venv that VIRTUAL_ENV names before the one it was started from.
        return _clean_env(
            PYTHONUNBUFFERED="1",
            VIRTUAL_ENV=str(self.venv),
            PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            UV_FIND_LINKS=str(self.links),
        )

    def arguments(self) -> list[str]:
        return [a for a in super().arguments() if a != "--skip-pip"]


def hacs_copy(config_dir: Path) -> None:
    """Put the integration folder into ``custom_components/`` the way HACS does: a copy."""
    target = config_dir / "custom_components" / DOMAIN
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        REPO / "custom_components" / DOMAIN,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


async def add_modbus_line_with_meter(client: HomeAssistantClient, port: Path) -> tuple[str, str]:
    """Add integration → Modbus line on ``port``, then the SDM630 by hand; (entry, subentry)."""
    entry_id = await add_modbus_line(client, port)

    menu = await client.start_subentry_flow(entry_id, "modbus_device")
    form = await client.subentry_flow_step(menu["flow_id"], {"next_step_id": "manual"})
    done = await client.subentry_flow_step(
        form["flow_id"], {"name": "Main meter", "device_id": METER_ID, "profile": "eastron_sdm630"}
    )
    assert done.get("type") == "create_entry", done
    subentry = next(s for s in await client.subentries(entry_id) if s["title"] == "Main meter")
    return entry_id, subentry["subentry_id"]


async def wait_loaded(client: HomeAssistantClient, entry_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        entry = next(e for e in await client.entries() if e["entry_id"] == entry_id)
        if entry["state"] in ("setup_error", "setup_retry", "migration_error", "failed_unload"):
            raise AssertionError(f"{entry['title']}: {entry['state']} ({entry.get('reason')})")
        return entry if entry["state"] == "loaded" else None

    return await wait_for(probe, f"config entry {entry_id} to load", SETUP_TIMEOUT)


def log_lines(config_dir: Path, level: str) -> list[str]:
    path = config_dir / "home-assistant.log"
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return [
        line
        for line in text.splitlines()
        if (match := LOG_LEVEL.match(line)) and match.group("level") == level
    ]


@contextlib.asynccontextmanager
async def started(process: InstalledHomeAssistant) -> AsyncIterator[None]:
    process.start()
    try:
        await process.wait_until_serving(START_TIMEOUT)
        yield
    finally:
        await asyncio.get_running_loop().run_in_executor(None, process.stop)


def test_hacs_install_sets_up_a_line_with_the_released_requirements(
    tmp_path: Path, socket_enabled: None, record_property: Any
) -> None:
    timings: dict[str, float] = {}
    clock = time.monotonic()
    ha_version = importlib.metadata.version("homeassistant")
    project_version = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"][
        "version"
    ]
    manifest = json.loads(
        (REPO / "custom_components" / DOMAIN / "manifest.json").read_text("utf-8")
    )
    assert f"{DISTRIBUTION}=={project_version}" in manifest["requirements"], (
        "the manifest must require the version this checkout builds",
        manifest["requirements"],
        project_version,
    )

    links = tmp_path / "index"  # the stand-in for the package index: only the wheel
    links.mkdir()
    wheel = build_distributions(tmp_path / "dist")
    shutil.copy2(wheel, links)
    timings["build"] = time.monotonic() - clock

    clock = time.monotonic()
    venv = tmp_path / "venv"
    python = fresh_home_assistant_venv(venv, ha_version)
    assert installed_version(python, DISTRIBUTION) is None, "the fresh venv must not have it"
    timings["venv"] = time.monotonic() - clock

    config_dir = tmp_path / "config"
    port = free_port()
    write_config(
        config_dir,
        port,
        frontend=False,
        log_levels={"homeassistant.util.package": "info"},
    )
    hacs_copy(config_dir)
    # The simulators' ptys get short paths: they show in the entry title.
    serial_dir = Path(tempfile.mkdtemp(prefix="smartpower-"))
    profile = load_catalogue().get("eastron_sdm630")
    panel = SimulatedPanel(
        serial_dir,
        devices=[SimulatedDevice(device_id=METER_ID, profile=profile)],
        meters=[SimulatedMeter("makel_c520_3p")],
    )
    process = InstalledHomeAssistant(config_dir, port, venv=venv, links=links)

    async def scenario() -> None:
        nonlocal clock
        clock = time.monotonic()
        async with panel, started(process), HomeAssistantClient(process.url) as client:
            # The owner account; write_config marked the location and analytics steps done
            # (the location step would start flows that reach the Internet).
            await client.onboard(USER["name"], USER["username"], USER["password"])
            await client.wait_until_running(START_TIMEOUT)
            timings["start"] = time.monotonic() - clock

            clock = time.monotonic()
            entry_id, subentry_id = await add_modbus_line_with_meter(client, panel.modbus_port)
            entry = await wait_loaded(client, entry_id)
            assert entry["title"], entry
            timings["setup"] = time.monotonic() - clock

            voltage = next(
                e["entity_id"]
                for e in await client.entity_registry()
                if e.get("platform") == DOMAIN
                and e.get("unique_id", "").endswith(f"_{subentry_id}_voltage_l1")
            )

            def shows_device_value(state: dict[str, Any]) -> bool:
                try:
                    shown = float(state["state"])
                except ValueError:
                    return False
                sent = float(panel.modbus.values(METER_ID)["voltage_l1"])  # type: ignore[arg-type]
                return math.isclose(shown, sent, rel_tol=1e-4, abs_tol=1e-3)

            await client.wait_for_state(
                voltage, shows_device_value, "to show the simulator's voltage", SETUP_TIMEOUT
            )

    try:
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            runner.run(scenario())
    except (HomeAssistantError, TimeoutError, AssertionError) as err:
        pytest.fail(f"{err}\n--- Home Assistant log (end) ---\n{process.log_tail(80)}")
    finally:
        shutil.rmtree(serial_dir, ignore_errors=True)

    # Home Assistant installed the bridge itself, from the wheel built here.
    assert installed_version(python, DISTRIBUTION) == project_version
    errors = log_lines(config_dir, "ERROR")
    assert not errors, "Home Assistant logged errors:\n" + "\n".join(errors)

    for phase, seconds in timings.items():
        record_property(f"{phase}_seconds", round(seconds, 1))
    print(  # shown with -s / -rA: how long each part took
        f"install test (Python {sys.version.split()[0]}, Home Assistant {ha_version}): "
        + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in timings.items())
    )
