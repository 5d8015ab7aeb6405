"""Event-loop cost of the integration inside Home Assistant (run by ``benchmarks.bench_ha``).

A real (test-harness) Home Assistant sets up one line entry with 1, 32 and 247 Modbus devices
(one subentry each, shipped profiles in turn). The terminal is an in-process stand-in that
answers every poll at once, so what is measured is Home Assistant's side alone: the two
coordinators' refresh, the energy guard, the listeners and the state writes. The CPU time of
the event-loop thread is taken around one full update (fast + slow refresh, then until HA is
idle), values unchanged and every value changed. Memory per entity is traced over the setup.

Not collected by the test run (``testpaths = tests``); results go to $BENCH_HA_OUT as JSON.
"""

from __future__ import annotations

import cProfile
import gc
import json
import logging
import os
import pstats
import statistics
import time
import tracemalloc
from collections.abc import Collection, Mapping
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.const import (
    CONF_BAUDRATE,
    CONF_DEVICE_ID,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROTOCOL,
    CONF_TERMINAL_MODEL,
    DOMAIN,
    SUBENTRY_MODBUS_DEVICE,
)
from hardware_bridge import (
    DeviceInfo,
    DeviceSnapshot,
    LineConfig,
    MeasurementSpec,
    PollGroup,
    ProfileCatalogue,
    load_catalogue,
    profile_specs,
)

PROFILES = ("eastron_sdm630", "generic_analyzer", "kael_varkombi", "janitza_umg96rme")
SIZES = (1, 32, 247)
ROUNDS = 5
# so that the same bench runs against releases from before snapshots said what a poll read
_HAS_READ_KEYS = "read_keys" in {f.name for f in fields(DeviceSnapshot)}


class InstantTerminal:
    """Stands in for LineTerminal: every device answers at once with generated values."""

    generation = 0
    """Raise it to change every value at the next poll."""

    def __init__(self, config: LineConfig, catalogue: ProfileCatalogue | None = None) -> None:
        catalogue = catalogue or load_catalogue()
        self.config = config
        self.line_error: str | None = None
        shared = {
            p: profile_specs(catalogue.get(p)) for p in {d.profile_id for d in config.devices}
        }
        self._specs = {d.key: shared[d.profile_id] for d in config.devices}
        self._info = {
            d.key: DeviceInfo(
                manufacturer=catalogue.get(d.profile_id).manufacturer,
                model=catalogue.get(d.profile_id).model,
            )
            for d in config.devices
        }
        self._snapshots: dict[str, DeviceSnapshot] = {}

    @property
    def device_keys(self) -> list[str]:
        return list(self._specs)

    def specs(self, device_key: str) -> tuple[MeasurementSpec, ...]:
        return self._specs[device_key]

    def snapshot(self, device_key: str) -> DeviceSnapshot | None:
        return self._snapshots.get(device_key)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _value(self, index: int, spec: MeasurementSpec) -> Any:
        g = InstantTerminal.generation
        if spec.kind == "bool":
            return (index + g) % 2 == 0
        if spec.state_class == "total_increasing":
            return 1000.0 + index + g * 10.0
        return 100.0 + index + g * 0.5

    async def poll(
        self, group: PollGroup | None = None, wanted: Mapping[str, Collection[str]] | None = None
    ) -> dict[str, DeviceSnapshot]:
        now = datetime.now(UTC)
        out: dict[str, DeviceSnapshot] = {}
        for key, specs in self._specs.items():
            keys = (wanted or {}).get(key)
            if not keys:
                continue
            previous = self._snapshots.get(key)
            values = dict(previous.values) if previous else {}
            read = {
                s.key: self._value(i, s)
                for i, s in enumerate(specs)
                if s.key in keys and (group is None or s.group is group)
            }
            values.update(read)
            fresh = {"read_keys": frozenset(read)} if _HAS_READ_KEYS else {}
            out[key] = self._snapshots[key] = DeviceSnapshot(
                device_key=key,
                available=True,
                values=values,
                info=self._info[key],
                last_success=now,
                requests=2,
                round_trip=0.02,
                **fresh,
            )
        return out


@pytest.fixture(autouse=True)
def _custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/smartpower_terminal."""


def _entry(devices: int) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Bench line",
        unique_id="bench",
        data={
            CONF_PORT: "/dev/ttyBENCH",
            CONF_PROTOCOL: "modbus",
            CONF_BAUDRATE: 9600,
            CONF_PARITY: "N",
            CONF_TERMINAL_MODEL: "ht_g24",
        },
        subentries_data=[
            {
                "data": {CONF_DEVICE_ID: i, CONF_PROFILE: PROFILES[i % len(PROFILES)]},
                "subentry_id": f"01BENCH{i:03d}",
                "subentry_type": SUBENTRY_MODBUS_DEVICE,
                "title": f"Device {i}",
                "unique_id": str(i),
            }
            for i in range(1, devices + 1)
        ],
        version=1,
        minor_version=2,
    )


def _record(result: dict[str, Any]) -> None:
    out = os.environ.get("BENCH_HA_OUT")
    if not out:
        print(json.dumps(result))
        return
    with open(out, "a", encoding="utf-8") as file:
        file.write(json.dumps(result) + "\n")


@pytest.mark.parametrize("devices", SIZES)
async def test_event_loop_cost_per_update(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, devices: int
) -> None:
    monkeypatch.setattr("custom_components.smartpower_terminal.LineTerminal", InstantTerminal)
    InstantTerminal.generation = 0
    # as Home Assistant runs: no asyncio debug mode (it keeps a traceback per task)
    hass.loop.set_debug(False)
    entry = _entry(devices)
    entry.add_to_hass(hass)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    if os.environ.get("BENCH_HA_MEMORY"):
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:30]:
            print(stat)
    tracemalloc.stop()
    data = entry.runtime_data
    entities = len(er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id))
    enabled = len(hass.states.async_entity_ids())
    # time moves on a quarter of an hour per update: counters rise at a plausible rate
    now = datetime.now(UTC)

    def clock() -> datetime:
        return now

    data.hub.clock = clock
    # as Home Assistant runs: no debug or info log records
    logging.disable(logging.INFO)
    profile = cProfile.Profile() if os.environ.get("BENCH_HA_PROFILE") else None

    async def update() -> float:
        nonlocal now
        now += timedelta(minutes=15)
        started = time.thread_time()
        if profile is not None:
            profile.enable()
        await data.fast.async_refresh()
        await data.slow.async_refresh()
        await hass.async_block_till_done()
        if profile is not None:
            profile.disable()
        return (time.thread_time() - started) * 1000

    for _ in range(2):  # the reactive ratios need two counter readings
        InstantTerminal.generation += 1
        await update()
    unchanged = [await update() for _ in range(ROUNDS)]
    changed = []
    for _ in range(ROUNDS):
        InstantTerminal.generation += 1
        changed.append(await update())
    # Of an all-changed update, what is Home Assistant's own work of writing the states: the
    # same update with the writes held back, then those writes alone.
    held: list[Entity] = []
    real_write = Entity.async_write_ha_state

    def hold(entity: Entity) -> None:
        held.append(entity)

    split_ours, split_writes = [], []
    for _ in range(ROUNDS):
        InstantTerminal.generation += 1
        held.clear()
        monkeypatch.setattr(Entity, "async_write_ha_state", hold)
        ours = await update()
        monkeypatch.setattr(Entity, "async_write_ha_state", real_write)
        started = time.thread_time()
        for entity in held:
            entity.async_write_ha_state()
        await hass.async_block_till_done()
        split_writes.append((time.thread_time() - started) * 1000)
        split_ours.append(ours)
    logging.disable(logging.NOTSET)
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    assert data.fast.last_update_success
    assert data.slow.last_update_success
    _record(
        {
            "devices": devices,
            "entities": entities,
            "enabled": enabled,
            "unchanged_ms": statistics.median(unchanged),
            "changed_ms": statistics.median(changed),
            "changed_writes": len(held),
            "changed_ours_ms": statistics.median(split_ours),
            "changed_ha_writes_ms": statistics.median(split_writes),
            "bytes": grown,
        }
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
