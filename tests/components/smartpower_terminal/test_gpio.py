"""GPIO pins of this computer as the terminal's inputs and relays, through a fake chip that
behaves like the kernel's (debounce, active-low, edge events)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.const import DOMAIN
from custom_components.smartpower_terminal.device_trigger import async_get_triggers
from custom_components.smartpower_terminal.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.smartpower_terminal.gpio_line import gpio_unique_id
from hardware_bridge import GpiodMissingError, GpioError
from tests.bridge.io.io_fakes import FakeChip, ManualClock

from .runtime_helpers import device_with, terminal_events

IN1, IN2, C1, C2 = 17, 27, 22, 23
CHIP = "/dev/gpiochip7"
FORM = {
    "chip": CHIP,
    "input_1": IN1,
    "input_2": IN2,
    "inputs_active_low": True,
    "input_bias": "pull_up",
    "debounce_ms": 0,
    "relay_1": C1,
    "relay_2": C2,
    "relays_active_low": False,
}


@pytest.fixture
def chip(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChip]:
    fake = FakeChip(CHIP)
    monkeypatch.setattr(
        "custom_components.smartpower_terminal.gpio_line.make_chip", lambda _p: fake
    )
    monkeypatch.setattr(
        "custom_components.smartpower_terminal.gpio_flow.make_chip", lambda _p: fake
    )
    monkeypatch.setattr(
        "custom_components.smartpower_terminal.gpio_flow.list_gpio_chips", lambda: [CHIP]
    )
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    manual = ManualClock()
    monkeypatch.setattr("custom_components.smartpower_terminal.gpio_line.FAILSAFE_CLOCK", manual)
    return manual


async def _add(hass: HomeAssistant, form: dict[str, Any] | None = None) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"protocol": "gpio", "terminal_model": "ht_g24"}
    )
    assert result["step_id"] == "gpio"
    assert result["data_schema"]({"chip": CHIP})["chip"] == CHIP
    return await hass.config_entries.flow.async_configure(result["flow_id"], form or FORM)


def _entity(hass: HomeAssistant, entry_id: str, platform: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, gpio_unique_id(entry_id, key)
    )
    assert entity_id is not None
    return entity_id


async def _settle(hass: HomeAssistant) -> None:
    """Let the loop read the chip's edge events (a file descriptor) and HA write states."""
    for _ in range(20):
        await asyncio.sleep(0)
    await hass.async_block_till_done()


async def test_gpio_inputs_and_relays(
    hass: HomeAssistant, chip: FakeChip, clock: ManualClock
) -> None:
    chip.set_level(IN1, False)  # contact closed to ground: active
    result = await _add(hass)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"GPIO ({CHIP})"
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    in1 = _entity(hass, entry.entry_id, "binary_sensor", "input_1")
    in2 = _entity(hass, entry.entry_id, "binary_sensor", "input_2")
    c1 = _entity(hass, entry.entry_id, "switch", "relay_1")
    assert hass.states.get(in1).state == STATE_ON
    assert hass.states.get(in2).state == STATE_OFF
    assert hass.states.get(in1).name.endswith("Input 1")
    assert hass.states.get(c1).state == STATE_OFF
    seen = terminal_events(hass)

    chip.set_level(IN2, False)
    await _settle(hass)
    assert hass.states.get(in2).state == STATE_ON
    assert seen[-1]["type"] == "input_changed"
    assert seen[-1]["key"] == "input_2"
    assert seen[-1]["state"] is True

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: c1}, blocking=True
    )
    assert chip.lines.driven[C1] is True
    assert hass.states.get(c1).state == STATE_ON
    assert seen[-1]["type"] == "relay_changed"
    assert seen[-1]["entity_id"] == c1

    chip.stuck[C1] = True  # a driver that does not follow the line: read back on
    with pytest.raises(HomeAssistantError, match="not confirmed off"):
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: c1}, blocking=True
        )
    assert hass.states.get(c1).state == STATE_ON

    chip.fail_reads = True  # the chip is gone: inputs are unknown, not their last level
    chip.set_level(IN1, True)
    await _settle(hass)
    assert hass.states.get(in1).state == STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert chip.lines.released


async def test_a_relay_longest_on_time_is_enforced_by_the_bridge(
    hass: HomeAssistant, chip: FakeChip, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    result = await _add(hass)
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "gpio"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"relay_1_max_on": 30, "relay_2_max_on": 0}
    )
    assert entry.options == {"max_on": {"relay_1": 30.0, "relay_2": 0.0}}
    await hass.async_block_till_done()  # reloaded with the limit
    c1 = _entity(hass, entry.entry_id, "switch", "relay_1")
    seen = terminal_events(hass)
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: c1}, blocking=True
    )
    await clock.advance_to(clock.now + 29 * 60)
    assert chip.lines.driven[C1] is True
    await clock.advance_to(clock.now + 2 * 60)
    await hass.async_block_till_done()
    assert chip.lines.driven[C1] is False
    assert hass.states.get(c1).state == STATE_OFF
    assert seen[-1]["reason"] == "max_on"
    assert "switched off" in caplog.text
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"input_1": None, "input_2": None, "relay_1": None, "relay_2": None}, "gpio_no_lines"),
        ({"relay_1": IN1}, "gpio_invalid"),  # one offset used twice
        ({"input_1": 99}, "gpio_unavailable"),  # no such line on the chip
    ],
)
async def test_gpio_form_errors(
    hass: HomeAssistant, chip: FakeChip, change: dict[str, Any], error: str
) -> None:
    form = {k: v for k, v in {**FORM, **change}.items() if v is not None}
    result = await _add(hass, form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}


async def test_without_gpiod_the_form_says_how_to_install_it(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(_path: str) -> Any:
        raise GpiodMissingError("GPIO needs the 'gpiod' package")

    monkeypatch.setattr("custom_components.smartpower_terminal.gpio_flow.make_chip", missing)
    monkeypatch.setattr("custom_components.smartpower_terminal.gpio_flow.list_gpio_chips", list)
    result = await _add(hass, FORM)
    assert result["errors"] == {"base": "gpiod_missing"}
    assert "gpiod" in result["description_placeholders"]["error"]


async def test_the_same_chip_is_added_once_and_can_be_reconfigured(
    hass: HomeAssistant, chip: FakeChip
) -> None:
    result = await _add(hass)
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    await hass.async_block_till_done()
    result = await _add(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "gpio"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**FORM, "relay_2": 24}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert [r["offset"] for r in entry.data["relays"]] == [C1, 24]

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**FORM, "chip": "/dev/gpiochip0"}
    )
    assert result["reason"] == "wrong_gpio_chip"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_chip_that_cannot_be_opened_retries_setup(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def gone(_path: str) -> Any:
        raise GpioError(f"{CHIP}: no such GPIO chip")

    monkeypatch.setattr("custom_components.smartpower_terminal.gpio_line.make_chip", gone)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="GPIO",
        data={"protocol": "gpio", "chip": CHIP, "inputs": [{"key": "input_1", "offset": 1}]},
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_gpio_device_offers_input_and_relay_triggers_and_diagnostics(
    hass: HomeAssistant, chip: FakeChip
) -> None:
    result = await _add(hass)
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    await hass.async_block_till_done()
    device = device_with(hass, (DOMAIN, entry.entry_id), entry)
    triggers = await async_get_triggers(hass, device.id)
    found = {(t["type"], t.get("subtype")) for t in triggers}
    assert {("input_changed", "input_1"), ("relay_changed", "relay_2")} <= found

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["inputs"]["input_1"]["active"] is False
    assert diagnostics["relays"] == {"relay_1": False, "relay_2": False}
    assert diagnostics["entry"]["data"]["chip"] == CHIP
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_the_chips_of_this_computer_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    from custom_components.smartpower_terminal import gpio_flow

    monkeypatch.setattr(
        gpio_flow.glob, "glob", lambda pattern: ["/dev/gpiochip1", "/dev/gpiochip0"]
    )
    assert gpio_flow.list_gpio_chips() == ["/dev/gpiochip0", "/dev/gpiochip1"]
