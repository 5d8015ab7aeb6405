"""Shared fixtures for the integration tests: simulated lines and config entries."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant import block_async_io
from homeassistant.data_entry_flow import FlowHandler
from homeassistant.helpers import config_validation as cv
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.const import (
    CONF_BAUDRATE,
    CONF_MAINS_DETECTION,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_TERMINAL_MODEL,
    DOMAIN,
    PROTOCOL_IEC,
    PROTOCOL_MODBUS,
)
from hardware_bridge import ProfileCatalogue, load_catalogue
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

try:  # HA 2026+ sends forms with its own schema engine
    from probatio import to_field_list as serialise_schema
except ImportError:  # HA 2025.x
    from voluptuous_serialize import convert as serialise_schema

# What the default simulated Modbus line carries: (address, profile id).
MODBUS_DEVICES: tuple[tuple[int, str], ...] = ((1, "eastron_sdm630"), (2, "kael_varkombi"))
# What the default simulated meter line carries (IEC 62056-21 sample meters).
METER_SAMPLES: tuple[str, ...] = ("makel_c520_3p", "luna_1p")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/smartpower_terminal in every test."""


INTEGRATION_DIR = Path(__file__).parents[3] / "custom_components" / "smartpower_terminal"


def _integration_stack() -> str | None:
    """The calls down from the innermost integration frame, if the integration is on the stack.

    Built from frames without reading source lines (that would itself open files).
    """
    frames: list[str] = []
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        frames.append(f"{Path(name).name}:{frame.f_lineno} {frame.f_code.co_name}")
        if Path(name).is_relative_to(INTEGRATION_DIR):
            return " <- ".join(frames)
        frame = frame.f_back
    return None


@pytest.fixture(autouse=True)
def no_blocking_calls_in_the_event_loop() -> Generator[None]:
    """Fail a test in which the integration makes a blocking call in the event loop.

    Home Assistant reports these to the user with a stack trace, but its own detector skips
    file access (open, scandir, read_text, …) under pytest and only warns for them. This
    watches every call it knows of, including those, whenever the integration is on the stack.
    """
    found: list[str] = []

    def watch(call: Any) -> Callable[..., Any]:
        original = getattr(call.object, call.function)

        def watched(*args: Any, **kwargs: Any) -> Any:
            allowed = call.check_allowed is not None and call.check_allowed(
                {"args": args, "kwargs": kwargs}
            )
            in_loop = asyncio._get_running_loop() is not None
            if in_loop and not allowed and (where := _integration_stack()) is not None:
                found.append(f"{call.function}{args[:1]!r} in {where}")
            return original(*args, **kwargs)

        return watched

    with ExitStack() as stack:
        for call in block_async_io._BLOCKING_CALLS:
            stack.enter_context(patch.object(call.object, call.function, watch(call)))
        yield
    if found:
        pytest.fail(
            f"{len(found)} blocking call(s) in the event loop; first: {found[0]}", pytrace=False
        )


@pytest.fixture(autouse=True)
def forms_serialise_for_the_frontend() -> Generator[None]:
    """Every form a flow shows must serialise as HA's HTTP API sends it to the frontend.

    A schema field the frontend cannot receive answers HTTP 500 in the real UI while every
    flow test driven through the flow manager still passes.
    """
    original = FlowHandler.async_show_form

    def show_form(self: FlowHandler, **kwargs: Any) -> Any:
        result = original(self, **kwargs)
        if (schema := result.get("data_schema")) is not None:
            serialise_schema(schema, custom_serializer=cv.custom_serializer)
        return result

    with patch.object(FlowHandler, "async_show_form", show_form):
        yield


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep the runtime out of flow tests: setting up an entry just succeeds."""
    with patch(
        "custom_components.smartpower_terminal.async_setup_entry", return_value=True
    ) as mocked:
        yield mocked


@pytest.fixture(scope="session")
def catalogue() -> ProfileCatalogue:
    """The shipped Modbus profiles."""
    return load_catalogue()


@pytest.fixture
async def modbus_simulator(catalogue: ProfileCatalogue) -> AsyncIterator[ModbusLineSimulator]:
    """A Modbus RTU line with an SDM630 at address 1 and a KAEL VARkombi relay at 2."""
    devices = [SimulatedDevice(device_id=i, profile=catalogue.get(p)) for i, p in MODBUS_DEVICES]
    async with ModbusLineSimulator(devices) as sim:
        yield sim


@pytest.fixture
def modbus_port(modbus_simulator: ModbusLineSimulator) -> str:
    """The pty path of the simulated Modbus line."""
    return modbus_simulator.path


@pytest.fixture
async def meter_simulator() -> AsyncIterator[MeterSimulator]:
    """An IEC 62056-21 line with a Makel three-phase and a Luna single-phase meter."""
    meters = [SimulatedMeter(sample) for sample in METER_SAMPLES]
    async with MeterSimulator(meters, reaction_time=0.0) as sim:
        yield sim


@pytest.fixture
def meter_port(meter_simulator: MeterSimulator) -> str:
    """The pty path of the simulated meter line."""
    return meter_simulator.path


def line_data(port: str, protocol: str = PROTOCOL_MODBUS, **extra: Any) -> dict[str, Any]:
    """Config entry data of a line as the config flow stores it."""
    data: dict[str, Any] = {
        CONF_PORT: port,
        CONF_PROTOCOL: protocol,
        CONF_BAUDRATE: 9600 if protocol == PROTOCOL_MODBUS else 300,
        CONF_TERMINAL_MODEL: "ht_g24" if protocol == PROTOCOL_MODBUS else "ht_g21",
        CONF_MAINS_DETECTION: False,
    }
    if protocol == PROTOCOL_MODBUS:
        data[CONF_PARITY] = "N"
    data.update(extra)
    return data


MockEntryFactory = Callable[..., MockConfigEntry]


@pytest.fixture
def mock_config_entry() -> MockEntryFactory:
    """Build (not add) a line entry: ``mock_config_entry(port, protocol, options=..., ...)``."""

    def _build(
        port: str = "/dev/ttyUSB0",
        protocol: str = PROTOCOL_MODBUS,
        *,
        data: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        subentries_data: Iterable[Mapping[str, Any]] = (),
        unique_id: str | None = None,
        title: str | None = None,
    ) -> MockConfigEntry:
        entry_data = line_data(port, protocol)
        entry_data.update(data or {})
        return MockConfigEntry(
            domain=DOMAIN,
            title=title or ("Modbus RTU" if protocol == PROTOCOL_MODBUS else "IEC 62056-21"),
            unique_id=unique_id if unique_id is not None else port,
            data=entry_data,
            options=dict(options or {}),
            subentries_data=[dict(s) for s in subentries_data],
            version=1,
        )

    return _build


__all__ = ["METER_SAMPLES", "MODBUS_DEVICES", "PROTOCOL_IEC", "line_data"]
