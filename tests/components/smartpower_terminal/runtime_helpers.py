"""Config entries on simulated lines for the runtime tests (setup, entities, services)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.const import (
    CONF_ADDRESS,
    CONF_BAUDRATE,
    CONF_DEVICE_ID,
    CONF_FAST_INTERVAL,
    CONF_MAX_BAUD,
    CONF_NAME,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROTOCOL,
    CONF_READOUT_MODE,
    CONF_SLOW_INTERVAL,
    CONF_TERMINAL_MODEL,
    DOMAIN,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
)
from custom_components.smartpower_terminal.coordinator import entity_unique_id
from hardware_bridge import load_catalogue
from hardware_bridge.simulators.iec_meter import MeterSimulator, SimulatedMeter
from hardware_bridge.simulators.modbus_line import ModbusLineSimulator, SimulatedDevice

CATALOGUE = load_catalogue()


def modbus_subentry(subentry_id: str, device_id: int, profile: str) -> dict[str, Any]:
    return {
        "data": {CONF_DEVICE_ID: device_id, CONF_PROFILE: profile, CONF_NAME: subentry_id},
        "subentry_id": subentry_id,
        "subentry_type": SUBENTRY_MODBUS_DEVICE,
        "title": f"{profile} @ {device_id}",
        "unique_id": str(device_id),
    }


def meter_subentry(subentry_id: str, address: str) -> dict[str, Any]:
    return {
        "data": {CONF_ADDRESS: address, CONF_READOUT_MODE: "full", CONF_MAX_BAUD: 9600},
        "subentry_id": subentry_id,
        "subentry_type": SUBENTRY_METER,
        "title": f"Meter {address}",
        "unique_id": address,
    }


def modbus_entry(
    port: str, devices: Iterable[tuple[str, int, str]], **options: Any
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Panel RS-485",
        unique_id="line-modbus",
        data={
            CONF_PORT: port,
            CONF_PROTOCOL: "modbus",
            CONF_BAUDRATE: 9600,
            CONF_PARITY: "N",
            CONF_TERMINAL_MODEL: "ht_g24",
        },
        options={CONF_FAST_INTERVAL: 5, CONF_SLOW_INTERVAL: 1, **options},
        subentries_data=[modbus_subentry(k, i, p) for k, i, p in devices],
        version=1,
    )


def meter_entry(port: str, meters: Iterable[tuple[str, str]], **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Optical head",
        unique_id="line-iec",
        data={CONF_PORT: port, CONF_PROTOCOL: "iec62056", CONF_TERMINAL_MODEL: "adapter"},
        options={CONF_FAST_INTERVAL: 5, CONF_SLOW_INTERVAL: 1, **options},
        subentries_data=[meter_subentry(k, a) for k, a in meters],
        version=1,
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


def entity_id(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    subentry_id: str,
    key: str,
    platform: str = "sensor",
) -> str:
    unique_id = entity_unique_id(entry.entry_id, subentry_id, key)
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, f"no {platform} entity for {key}"
    return found


@dataclass
class ModbusLine:
    sim: ModbusLineSimulator
    port: Path


@asynccontextmanager
async def modbus_line(link: Path, devices: Iterable[tuple[int, str]]) -> AsyncIterator[ModbusLine]:
    """A simulated Modbus line reachable at ``link`` (a symlink that can vanish)."""
    sim = ModbusLineSimulator(
        [SimulatedDevice(device_id=i, profile=CATALOGUE.get(p)) for i, p in devices]
    )
    async with sim:
        if link.is_symlink():
            link.unlink()
        link.symlink_to(sim.path)
        try:
            yield ModbusLine(sim, link)
        finally:
            if link.is_symlink():
                link.unlink()


@asynccontextmanager
async def meter_line(meters: list[SimulatedMeter]) -> AsyncIterator[MeterSimulator]:
    async with MeterSimulator(meters, reaction_time=0.0) as sim:
        yield sim


@pytest.fixture(autouse=True)
def runtime_setup(
    hass: HomeAssistant, enable_custom_integrations: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short bus timeouts; import this fixture into a test module to use it."""
    monkeypatch.setattr("custom_components.smartpower_terminal.MODBUS_TIMEOUT", 0.05)
    monkeypatch.setattr("custom_components.smartpower_terminal.METER_REACTION_TIMEOUT", 0.2)


def get_device(hass: HomeAssistant, entry: MockConfigEntry, key: str | None = None):
    """The line's device (key None) or a subentry's device."""
    from homeassistant.helpers import device_registry as dr

    from custom_components.smartpower_terminal.coordinator import find_device

    identifier = (DOMAIN, entry.entry_id if key is None else f"{entry.entry_id}_{key}")
    return find_device(dr.async_get(hass), identifier, entry)


def terminal_events(hass: HomeAssistant) -> list[dict[str, Any]]:
    """The data of every terminal event fired from now on, recorded in the event loop (a plain
    listener would run in the executor, where the order is lost)."""
    from homeassistant.core import Event, callback

    from custom_components.smartpower_terminal.events import EVENT_TERMINAL

    seen: list[dict[str, Any]] = []

    @callback
    def record(event: Event) -> None:
        seen.append(dict(event.data))

    hass.bus.async_listen(EVENT_TERMINAL, record)
    return seen


def device_with(hass: HomeAssistant, identifier: tuple[str, str], entry: Any) -> Any:
    """The entry's registered device with this identifier, or None (any release's registry)."""
    from homeassistant.helpers import device_registry as dr

    from custom_components.smartpower_terminal.registry_helpers import find_device

    return find_device(dr.async_get(hass), identifier, entry)
