"""A real Home Assistant process with this integration, fed by simulators on virtual serial lines.

Used by the end-to-end test and by ``scripts/develop``:

* :class:`SimulatedPanel` — a Modbus RTU line and an IEC 62056-21 meter line (ptys) served by the
  bridge's simulators in this process, reachable at stable symlinks (``<dir>/ttyUSB0``,
  ``<dir>/ttyUSB1``) so a config entry keeps its port across runs.
* :func:`write_config` — a configuration directory: ``configuration.yaml`` with only what the
  frontend and this integration need (nothing that reaches the network), the integration
  linked into ``custom_components/``, and onboarding's location and analytics steps marked
  done (see :func:`skip_onboarding_defaults`).
* :class:`HomeAssistantProcess` — ``python -m homeassistant --config DIR --skip-pip`` from this
  interpreter (the project's venv); stopped with SIGTERM, killed only if it does not stop.
* :class:`HomeAssistantClient` — onboarding, config and subentry flows, states and registries
  through HA's HTTP and websocket APIs, the way the frontend calls them.

Everything waits on Home Assistant's state with a deadline, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import aiohttp

import hardware_bridge
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

__all__ = [
    "DEVELOP_INTEGRATIONS",
    "DOMAIN",
    "LOCATION",
    "REPO",
    "HomeAssistantClient",
    "HomeAssistantError",
    "HomeAssistantProcess",
    "SimulatedPanel",
    "add_modbus_line",
    "free_port",
    "frontend_installed",
    "relink",
    "running_home_assistant",
    "skip_onboarding_defaults",
    "wait_for",
    "write_config",
]

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "smartpower_terminal"

# Integrations loaded besides ours. `default_config` is not used: it pulls in cloud, discovery
# (zeroconf, ssdp, dhcp, bluetooth) and media integrations that need the network or packages
# the test pins do not install (HA runs with --skip-pip).
BASE_INTEGRATIONS = ("api", "config", "onboarding")
FRONTEND_INTEGRATIONS = ("frontend",)
# Only for scripts/develop: history graphs and the logbook on device pages, the energy
# dashboard and automations (all local; the recorder writes SQLite in the config directory).
DEVELOP_INTEGRATIONS = ("history", "logbook", "energy", "automation", "script", "person")

# Where the simulated panel stands: a Turkish site, as the terminals and meters are.
LOCATION = {
    "name": "SmartPower panel (simulated)",
    "latitude": 39.92,
    "longitude": 32.85,
    "elevation": 900,
    "unit_system": "metric",
    "currency": "TRY",
    "country": "TR",
    "time_zone": "Europe/Istanbul",
}

# Onboarding steps a development configuration has no use for. "core_config" is the location
# form: the frontend fills it from the browser's locale (United States, USD, °F) and saves it
# over the configuration above; finishing it also starts config flows for google_translate,
# met, radio_browser and shopping_list, whose packages --skip-pip does not install. "analytics"
# asks whether to send usage data; a development instance sends none.
ONBOARDING_STEPS_SKIPPED = ("core_config", "analytics")
_ONBOARDING_STORE_VERSION = 4  # homeassistant.components.onboarding STORAGE_VERSION since 2023


class HomeAssistantError(RuntimeError):
    """Home Assistant did not do what was asked (with the end of its log where that helps)."""


def frontend_installed() -> bool:
    """True if the frontend's files (the ``home-assistant-frontend`` package) are installed."""
    return importlib.util.find_spec("hass_frontend") is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for[T](
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout: float,  # noqa: ASYNC109
    interval: float = 0.25,
) -> T:
    """Call ``probe`` until it returns something other than None or False; fail after
    ``timeout`` seconds saying what was awaited and what the last probe saw."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        last = result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what} (last probe: {last!r})")
        await asyncio.sleep(interval)


# -- simulators ------------------------------------------------------------------------------
class SimulatedPanel:
    """A Modbus line and a meter line on ptys, with stable symlinks in ``link_dir``.

    ``async with SimulatedPanel(dir, devices=[...], meters=[...]) as panel:`` then give Home
    Assistant ``panel.modbus_port`` and ``panel.meter_port``.
    """

    def __init__(
        self,
        link_dir: Path,
        *,
        devices: Sequence[SimulatedDevice],
        meters: Sequence[SimulatedMeter],
        update_interval: float | None = None,
        meter_reaction_time: float = 0.05,
    ) -> None:
        self.link_dir = link_dir
        self.modbus = ModbusLineSimulator(devices, update_interval=update_interval)
        self.meter = MeterSimulator(list(meters), reaction_time=meter_reaction_time)
        self.modbus_port = link_dir / "ttyUSB0"  # the RS-485 adapter
        self.meter_port = link_dir / "ttyUSB1"  # the optical head

    async def __aenter__(self) -> Self:
        self.link_dir.mkdir(parents=True, exist_ok=True)
        await self.modbus.start()
        try:
            await self.meter.__aenter__()
        except BaseException:
            await self.modbus.stop()
            raise
        relink(self.modbus_port, self.modbus.path)
        relink(self.meter_port, self.meter.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for link in (self.modbus_port, self.meter_port):
            if link.is_symlink():
                link.unlink()
        try:
            await self.meter.__aexit__(None, None, None)
        finally:
            await self.modbus.stop()


def relink(link: Path, target: str) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


# -- configuration directory -------------------------------------------------------------------
def write_config(
    config_dir: Path,
    http_port: int,
    *,
    frontend: bool = True,
    extra: Sequence[str] = (),
    log_levels: dict[str, str] | None = None,
) -> None:
    """Write ``configuration.yaml`` and link the integration into ``custom_components/``.

    Existing files (``.storage`` with users, entries and devices) are kept, so a development
    configuration survives restarts.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    # SMARTPOWER_E2E_INTEGRATION: run another copy of the integration (e.g. one HACS installed).
    source = os.environ.get("SMARTPOWER_E2E_INTEGRATION") or REPO / "custom_components" / DOMAIN
    relink(custom / DOMAIN, str(Path(source).resolve()))
    integrations = [*BASE_INTEGRATIONS, *(FRONTEND_INTEGRATIONS if frontend else ()), *extra]
    levels = {
        "custom_components.smartpower_terminal": "debug",
        "hardware_bridge": "info",
        **(log_levels or {}),
    }
    lines = [
        "# Written by tests/e2e/harness.py; rewritten on every start.",
        "homeassistant:",
        *(f"  {key}: {value}" for key, value in LOCATION.items()),
        "http:",
        "  server_host: 127.0.0.1",
        f"  server_port: {http_port}",
        "logger:",
        "  default: warning",
        "  logs:",
        *(f"    {name}: {level}" for name, level in levels.items()),
        *(f"{domain}:" for domain in integrations),
    ]
    (config_dir / "configuration.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    skip_onboarding_defaults(config_dir)


def skip_onboarding_defaults(config_dir: Path) -> None:
    """Mark :data:`ONBOARDING_STEPS_SKIPPED` done in onboarding's store, keeping what is there.

    The owner account is still created in onboarding (browser or API); the location and units
    stay the configuration's.
    """
    store = config_dir / ".storage" / "onboarding"
    data: dict[str, Any] = {
        "version": _ONBOARDING_STORE_VERSION,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": []},
    }
    if store.exists():
        data = json.loads(store.read_text(encoding="utf-8"))
    done: list[str] = data["data"]["done"]
    missing = [step for step in ONBOARDING_STEPS_SKIPPED if step not in done]
    if not missing and store.exists():
        return
    done.extend(missing)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(data, indent=2), encoding="utf-8")


# -- the Home Assistant process -------------------------------------------------------------------
class HomeAssistantProcess:
    """``python -m homeassistant`` on a configuration directory, output to ``hass.log`` there."""

    def __init__(
        self,
        config_dir: Path,
        http_port: int,
        *,
        python: str = sys.executable,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.config_dir = config_dir
        self.extra_environment = dict(environment or {})
        """Added to the process's environment (a test's fake clock)."""
        self.url = f"http://127.0.0.1:{http_port}"
        self.python = python
        self.log_path = config_dir / "hass.log"
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        """The process's environment: ours, with the tests' ``hardware_bridge`` on the path."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_environment}
        env.pop("PYTHONPATH", None)
        if not os.environ.get("SMARTPOWER_E2E_INTEGRATION"):
            env["PYTHONPATH"] = str(self._bridge_path())
        return env

    def arguments(self) -> list[str]:
        """``hass``'s command line; ``--skip-pip``: the venv holds what the tests installed."""
        return [
            self.python,
            "-m",
            "homeassistant",
            "--config",
            str(self.config_dir),
            "--skip-pip",
            "--log-no-color",
            "--log-file",
            str(self.config_dir / "home-assistant.log"),
        ]

    def start(self) -> None:
        log = self.log_path.open("wb")
        try:
            # cwd = the config directory: the checkout's own custom_components/ must not shadow
            # the config directory's (python -m puts the working directory first on sys.path).
            self._process = subprocess.Popen(
                self.arguments(),
                cwd=self.config_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,
            )
        finally:
            log.close()

    def _bridge_path(self) -> Path:
        """A folder holding only a link to the ``hardware_bridge`` this process imported.

        Home Assistant then runs the same bridge as the tests (the checkout's), even when the
        venv's editable install points at another checkout; nothing else of the checkout
        lands on its import path.
        """
        folder = self.config_dir.parent / "pythonpath"
        folder.mkdir(parents=True, exist_ok=True)
        relink(folder / "hardware_bridge", str(Path(hardware_bridge.__file__).parent))
        return folder

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of Home Assistant's output, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        # pymodbus traces frames without a timestamp: leave them out
        kept = [line for line in text.splitlines() if not line.startswith(">>>>>")]
        return "\n".join(kept[-lines:])

    async def wait_until_serving(self, timeout: float = 90.0) -> None:  # noqa: ASYNC109
        """Wait until the HTTP server answers (onboarding's status view needs no login; once
        onboarding is done Home Assistant no longer registers it, and answers 404)."""

        async def probe(session: aiohttp.ClientSession) -> bool | None:
            if not self.running:
                raise HomeAssistantError(
                    f"Home Assistant exited with code {self.returncode}:\n{self.log_tail()}"
                )
            try:
                async with session.get(f"{self.url}/api/onboarding") as response:
                    return response.status in (200, 404) or None
            except aiohttp.ClientError:
                return None

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            try:
                await wait_for(lambda: probe(session), f"{self.url} to answer", timeout)
            except TimeoutError as err:
                raise HomeAssistantError(f"{err}\n{self.log_tail()}") from err

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (Home Assistant shuts down cleanly), SIGKILL if it is still up after
        ``timeout`` seconds. Returns the exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode


# -- talking to Home Assistant like the frontend does ------------------------------------
class HomeAssistantClient:
    """HTTP + websocket client of one Home Assistant instance (``async with``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client_id = f"{url}/"
        self.token: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def drop_websocket(self) -> None:
        """Close the websocket (Home Assistant restarts): the next call opens a new one."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use the client as an async context manager"
        return self._session

    # -- raw calls ------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=self._headers()
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise HomeAssistantError(f"{method} {path} → {response.status}: {text}")
            return await response.json() if text else None

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body if body is not None else {})

    async def ws(self, message: dict[str, Any]) -> Any:
        """One websocket command; its ``result`` (HomeAssistantError if it failed)."""
        if self._ws is None:
            self._ws = await self.session.ws_connect(f"{self.url}/api/websocket")
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            reply = await self._ws.receive_json()
            if reply.get("type") != "auth_ok":
                raise HomeAssistantError(f"websocket login refused: {reply}")
        message_id = next(self._ids)
        await self._ws.send_json({**message, "id": message_id})
        while True:
            reply = await self._ws.receive_json()
            if reply.get("id") == message_id and reply.get("type") == "result":
                break
        if not reply.get("success"):
            raise HomeAssistantError(f"{message['type']} failed: {reply.get('error')}")
        return reply.get("result")

    # -- onboarding -----------------------------------------------------------------------
    async def onboard(self, name: str, username: str, password: str, language: str = "en") -> None:
        """The onboarding wizard's calls: owner account, location, analytics, integrations."""
        steps = {s["step"]: s["done"] for s in await self.get("/api/onboarding")}
        if steps.get("user"):
            await self.login(username, password)
        else:
            created = await self.post(
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": name,
                    "username": username,
                    "password": password,
                    "language": language,
                },
            )
            await self._exchange_code(created["auth_code"])
        if not steps.get("core_config"):
            await self.post("/api/onboarding/core_config")
        if not steps.get("analytics"):
            await self.post("/api/onboarding/analytics")
        if not steps.get("integration"):
            await self.post(
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.url}/?auth_callback=1"},
            )

    async def login(self, username: str, password: str) -> None:
        """The login page's calls: a login flow with the local provider, then a token."""
        flow = await self.post(
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        done = await self.post(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if done.get("type") != "create_entry":
            raise HomeAssistantError(f"login refused: {done}")
        await self._exchange_code(done["result"])

    async def _exchange_code(self, code: str) -> None:
        async with self.session.post(
            f"{self.url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as response:
            body = await response.json()
            if response.status != 200:
                raise HomeAssistantError(f"token exchange failed: {body}")
        self.token = body["access_token"]

    async def wait_until_running(self, timeout: float = 90.0) -> None:  # noqa: ASYNC109
        async def probe() -> bool:
            return bool((await self.get("/api/config")).get("state") == "RUNNING")

        await wait_for(probe, "Home Assistant to finish starting", timeout)

    # -- flows ----------------------------------------------------------------------------
    async def start_flow(self, handler: str) -> dict[str, Any]:
        """Settings → Devices & services → Add integration → ``handler``."""
        result: dict[str, Any] = await self.post(
            "/api/config/config_entries/flow", {"handler": handler, "show_advanced_options": False}
        )
        return result

    async def flow_step(self, flow_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Submit a form or pick a menu item (``{"next_step_id": ...}``)."""
        result: dict[str, Any] = await self.post(
            f"/api/config/config_entries/flow/{flow_id}", data or {}
        )
        return result

    async def start_subentry_flow(self, entry_id: str, subentry_type: str) -> dict[str, Any]:
        """The integration page's "Add <subentry type>" button."""
        result: dict[str, Any] = await self.post(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type], "show_advanced_options": False},
        )
        return result

    async def subentry_flow_step(
        self, flow_id: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            f"/api/config/config_entries/subentries/flow/{flow_id}", data or {}
        )
        return result

    async def start_options_flow(self, entry_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        return result

    async def options_flow_step(self, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            f"/api/config/config_entries/options/flow/{flow_id}", data
        )
        return result

    async def wait_for_progress(self, flow_id: str, path: str, timeout: float = 30.0) -> Any:  # noqa: ASYNC109
        """A progress step (bus scan): fetch the flow until it moves on."""

        async def probe() -> dict[str, Any] | None:
            result: dict[str, Any] = await self.get(f"{path}/{flow_id}")
            return None if result.get("type") == "progress" else result

        return await wait_for(probe, f"flow {flow_id} to finish its progress step", timeout)

    # -- entries, registries, states ------------------------------------------------------
    async def entries(self, domain: str = DOMAIN) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.get(
            f"/api/config/config_entries/entry?domain={domain}"
        )
        return result

    async def subentries(self, entry_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.ws(
            {"type": "config_entries/subentries/list", "entry_id": entry_id}
        )
        return result

    async def entity_registry(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.ws({"type": "config/entity_registry/list"})
        return result

    async def device_registry(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.ws({"type": "config/device_registry/list"})
        return result

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.get(f"/api/states/{entity_id}")
        except HomeAssistantError as err:
            if "404" in str(err):
                return None
            raise
        return result

    async def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in await self.get("/api/states")}

    async def call_service(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        return await self.post(f"/api/services/{domain}/{service}", data)

    @contextlib.asynccontextmanager
    async def events(self, event_type: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Events of ``event_type`` fired while the block runs, as they arrive (their data), on
        a websocket of their own (the frontend's ``subscribe_events``)."""
        seen: list[dict[str, Any]] = []
        ws = await self.session.ws_connect(f"{self.url}/api/websocket")
        try:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (await ws.receive_json()).get("type") != "auth_ok":
                raise HomeAssistantError("websocket login refused")
            await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": event_type})
            reply = await ws.receive_json()
            if not reply.get("success"):
                raise HomeAssistantError(f"subscribe_events failed: {reply}")

            async def collect() -> None:
                async for message in ws:
                    data = message.json()
                    if data.get("type") == "event":
                        seen.append(data["event"]["data"])

            task = asyncio.create_task(collect())
            try:
                yield seen
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await ws.close()

    async def wait_for_state(
        self,
        entity_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 60.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            state = await self.state(entity_id)
            return state if state is not None and predicate(state) else None

        return await wait_for(probe, f"{entity_id} {what}", timeout)


@contextlib.asynccontextmanager
async def running_home_assistant(config_dir: Path, http_port: int) -> Any:
    """Start Home Assistant, yield the process once it serves HTTP, always stop it."""
    process = HomeAssistantProcess(config_dir, http_port)
    process.start()
    try:
        await process.wait_until_serving()
        yield process
    finally:
        process.stop()


async def add_modbus_line(
    client: HomeAssistantClient, port: Path | str, *, mains_detection: bool = False
) -> str:
    """Add integration → a Modbus RTU line on ``port`` at 9600 8N1, as the frontend does; the
    bus scan the form then offers is declined (tests add their devices themselves)."""
    form = await client.start_flow(DOMAIN)
    assert (form.get("type"), form.get("step_id")) == ("form", "user"), form
    form = await client.flow_step(
        form["flow_id"],
        {
            "port": str(port),
            "protocol": "modbus",
            "terminal_model": "ht_g24",
            "mains_detection": mains_detection,
        },
    )
    assert form.get("step_id") == "modbus", form
    fields = {f["name"]: f for f in form["data_schema"]}
    parity_options = fields["parity"]["selector"]["select"]["options"]
    parity = next(o for o in ("none", "N") if o in parity_options)
    done = await client.flow_step(form["flow_id"], {"baudrate": "9600", "parity": parity})
    # The line's port answered: the form offers a bus scan.
    assert (done.get("type"), done.get("step_id")) == ("menu", "modbus_next"), done
    done = await client.flow_step(form["flow_id"], {"next_step_id": "finish"})
    assert done.get("type") == "create_entry", done
    return str(done["result"]["entry_id"])
