"""One Home Assistant process with simulators and a logged-in client, shared by an end-to-end
test module: :class:`Stack` runs them on an event loop in a background thread; :func:`serve`
is the body of a module's ``home_assistant`` fixture (it also checks what Home Assistant logged
while stopping)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest_socket

from hardware_bridge.simulators.iec_meter import SimulatedMeter
from hardware_bridge.simulators.modbus_line import SimulatedDevice

from .harness import (
    DOMAIN,
    HomeAssistantClient,
    HomeAssistantError,
    HomeAssistantProcess,
    SimulatedPanel,
    free_port,
    frontend_installed,
    wait_for,
    write_config,
)

__all__ = ["USER", "Stack", "explain", "log_problems", "serve", "wait_loaded"]

USER = {"name": "Ayşe Elektrik", "username": "ayse", "password": "kompanzasyon-2025"}


class Stack:
    """Simulators + Home Assistant + a logged-in client, on a loop in a background thread."""

    def __init__(
        self,
        root: Path,
        *,
        devices: Sequence[SimulatedDevice],
        meters: Sequence[SimulatedMeter] = (),
        environment: Mapping[str, str] | None = None,
        integrations: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.integrations = tuple(integrations)
        """Loaded besides the API, config, onboarding and frontend (e.g. the recorder)."""
        self.config_dir = root / "config"
        self.port = free_port()
        # A plain asyncio loop, not the one Home Assistant's test plugin makes (that one refuses
        # to change its executor).
        self.loop = asyncio.SelectorEventLoop()
        self._executor = ThreadPoolExecutor(thread_name_prefix="e2e")
        self.loop.set_default_executor(self._executor)
        self._thread = threading.Thread(target=self.loop.run_forever, name="e2e-loop")
        self._exit = contextlib.AsyncExitStack()
        # A short folder for the serial links: their paths show in entry titles and screenshots.
        self.serial_dir = Path(tempfile.mkdtemp(prefix="smartpower-"))
        self.panel = SimulatedPanel(self.serial_dir, devices=devices, meters=meters)
        self.process = HomeAssistantProcess(self.config_dir, self.port, environment=environment)
        self.client = HomeAssistantClient(self.process.url)
        self.ids: dict[str, str] = {}
        """Config entry and subentry ids by role, filled by the flows."""
        self._log_lines_seen = 0

    @property
    def meter(self) -> SimulatedMeter:
        """The (first) meter on the optical head's line."""
        return self.panel.meter.meters[0]

    def run[T](self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
        finally:
            # Worker threads started on the loop's behalf end with each call (HA's test
            # plugin checks that a test leaves no threads behind): swap in a fresh executor.
            old, self._executor = self._executor, ThreadPoolExecutor(thread_name_prefix="e2e")
            self.loop.call_soon_threadsafe(self.loop.set_default_executor, self._executor)
            old.shutdown(wait=True)

    def start(self) -> None:
        self._thread.start()
        write_config(
            self.config_dir, self.port, frontend=frontend_installed(), extra=self.integrations
        )
        self.run(self._start())

    async def _start(self) -> None:
        await self._exit.enter_async_context(self.panel)
        self.process.start()
        self._exit.callback(self.process.stop)
        await self.process.wait_until_serving()
        await self._exit.enter_async_context(self.client)
        await self.client.onboard(**USER)
        await self.client.wait_until_running()

    async def restart(self, while_down: Callable[[], Awaitable[object]] | None = None) -> list[str]:
        """Stop Home Assistant, call ``while_down``, start it again and wait until it runs.
        Returns what it logged up to its stop that :meth:`log_problems` had not returned (its
        log file starts anew with the start)."""
        await self.client.drop_websocket()
        await asyncio.get_running_loop().run_in_executor(None, self.process.stop)
        problems = self.log_problems()
        if while_down is not None:
            await while_down()
        self._log_lines_seen = 0
        self.process.start()
        logged_in = False

        async def running() -> bool | None:
            # onboarded: no onboarding view to ask; the API answers once HTTP is up
            nonlocal logged_in
            if not self.process.running:
                raise HomeAssistantError(f"Home Assistant exited:\n{self.process.log_tail()}")
            try:
                if not logged_in:
                    # again: on a test's fake clock the access token may have expired meanwhile
                    await self.client.login(USER["username"], USER["password"])
                    logged_in = True
                config = await self.client.get("/api/config")
            except (aiohttp.ClientError, HomeAssistantError):
                return None
            return config.get("state") == "RUNNING" or None

        await wait_for(running, "Home Assistant to run again", 120)
        return problems

    def stop(self) -> None:
        try:
            self.run(self._exit.aclose(), timeout=120)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)
            self.loop.close()
            self._executor.shutdown(wait=True)
            shutil.rmtree(self.serial_dir, ignore_errors=True)

    # -- Home Assistant's log ----------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.config_dir / "home-assistant.log"

    def log_problems(self) -> list[str]:
        """ERROR/CRITICAL records and blocking-call reports in Home Assistant's log that
        :meth:`log_problems` has not returned before (first line of each, plus the line that
        names the exception of a traceback)."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        lines = text.splitlines()
        found = log_problems(lines[self._log_lines_seen :])
        self._log_lines_seen = len(lines)
        return found

    # -- helpers the tests share -------------------------------------------------------
    async def entities_of(self, subentry_id: str) -> dict[str, dict[str, Any]]:
        """Registry entries of one device (subentry), by measurement key, enabled ones only."""
        found = {}
        for entity in await self.client.entity_registry():
            unique_id = entity.get("unique_id") or ""
            if entity.get("platform") != DOMAIN or f"_{subentry_id}_" not in unique_id:
                continue
            if entity.get("disabled_by") is None:
                found[unique_id.split(f"_{subentry_id}_", 1)[1]] = entity
        return found

    async def device_of(self, subentry_id: str) -> dict[str, Any]:
        entities = await self.entities_of(subentry_id)
        device_id = next(e["device_id"] for e in entities.values() if e.get("device_id"))
        return next(d for d in await self.client.device_registry() if d["id"] == device_id)


_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?P<level>[A-Z]+) ")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def log_problems(lines: list[str]) -> list[str]:
    """Records logged at ERROR or CRITICAL, and every "Detected blocking call" report."""
    found: list[str] = []
    in_error = False
    for line in lines:
        record = _RECORD.match(line)
        if record is not None:
            in_error = record["level"] in ("ERROR", "CRITICAL")
            if in_error or "Detected blocking call" in line:
                found.append(line)
        elif in_error and _EXCEPTION.match(line):
            found.append(f"    {line}")
        elif "Detected blocking call" in line:
            found.append(line)
    return found


def explain(problems: list[str]) -> str:
    hints = []
    if any("libturbojpeg" in line for line in problems):
        hints.append(
            "libturbojpeg is missing on this machine: Home Assistant's camera helper loads it "
            "(Debian/Ubuntu: apt-get install libturbojpeg0)"
        )
    return "\n".join([*problems, *(f"hint: {hint}" for hint in hints)])


def serve(make: Callable[[], Stack]) -> Generator[Stack]:
    """Make a stack, start it, yield it, stop it; then fail if stopping logged an error."""
    pytest_socket.enable_socket()  # loopback HTTP to the Home Assistant process
    stack = make()
    try:
        stack.start()
        yield stack
    finally:
        pytest_socket.enable_socket()
        stack.stop()
    # Shutting down is part of the run: what it logs after the last test looked.
    problems = stack.log_problems()
    assert not problems, "Home Assistant logged while stopping:\n" + explain(problems)


async def wait_loaded(stack: Stack, entry_id: str, timeout: float = 60) -> dict[str, Any]:  # noqa: ASYNC109
    """Wait until the config entry is loaded (AssertionError at once if its setup failed)."""

    async def probe() -> dict[str, Any] | None:
        entry = next(e for e in await stack.client.entries() if e["entry_id"] == entry_id)
        if entry["state"] in ("setup_error", "migration_error", "failed_unload"):
            raise AssertionError(f"{entry['title']}: {entry['state']} ({entry.get('reason')})")
        return entry if entry["state"] == "loaded" else None

    return await wait_for(probe, f"config entry {entry_id} to load", timeout)
