"""GPIO pins of this computer as the terminal's IN1/IN2 inputs and C1/C2 relays.

One config entry per GPIO chip. Inputs are pushed by the kernel's edge events (debounced by
the kernel), so a binary sensor follows a contact within its debounce time without polling.
Relay writes are confirmed by reading the line back, and a relay's longest on-time is
enforced by the bridge's fail-safe supervisor, not by an automation that may never run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady, HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo

from hardware_bridge import (
    Bias,
    Clock,
    FailSafeAction,
    FailSafeEvent,
    FailSafeSupervisor,
    GpioBackend,
    GpioChip,
    GpioConfig,
    GpioError,
    GpioInputConfig,
    GpioRelayConfig,
    InputEvent,
    RelayError,
    RelayFailSafe,
)

from .const import DOMAIN, MANUFACTURER_ADAPTER
from .events import async_fire_terminal_event

__all__ = [
    "CONF_CHIP",
    "CONF_INPUTS",
    "CONF_RELAYS",
    "GPIO_INPUTS",
    "GPIO_PLATFORMS",
    "GPIO_RELAYS",
    "PROTOCOL_GPIO",
    "GpioData",
    "async_setup_gpio_entry",
    "async_unload_gpio_entry",
    "gpio_config",
    "gpio_diagnostics",
    "gpio_unique_id",
    "is_gpio_entry",
    "make_chip",
]

_LOGGER = logging.getLogger(__name__)

PROTOCOL_GPIO = "gpio"
CONF_CHIP = "chip"
CONF_INPUTS = "inputs"  # [{key, offset, active_low, bias, debounce_ms}]
CONF_RELAYS = "relays"  # [{key, offset, active_low}]
CONF_MAX_ON = "max_on"  # options: {relay key: minutes}
GPIO_INPUTS = ("input_1", "input_2")  # IN1, IN2 on the terminal
GPIO_RELAYS = ("relay_1", "relay_2")  # C1, C2
GPIO_PLATFORMS = [Platform.BINARY_SENSOR, Platform.SWITCH]
SUPERVISOR_INTERVAL = 5.0  # seconds between the fail-safe's checks of the relays
FAILSAFE_CLOCK: Clock | None = None
"""The fail-safe's clock: the system's (tests move their own)."""


def is_gpio_entry(entry: ConfigEntry[Any]) -> bool:
    return bool(entry.data.get("protocol") == PROTOCOL_GPIO)


def gpio_unique_id(entry_id: str, key: str) -> str:
    """``{entry}_gpio_{key}``: the same shape as a line's entities (device key ``gpio``)."""
    return f"{entry_id}_gpio_{key}"


def gpio_config(data: Mapping[str, Any]) -> GpioConfig:
    """The bridge's GPIO configuration from an entry's data; GpioConfigError if invalid."""
    return GpioConfig(
        chip=str(data[CONF_CHIP]),
        consumer="smartpower",
        inputs=tuple(
            GpioInputConfig(
                name=str(line["key"]),
                offset=int(line["offset"]),
                active_low=bool(line.get("active_low", True)),
                bias=Bias(line.get("bias", Bias.PULL_UP.value)),
                debounce=timedelta(milliseconds=float(line.get("debounce_ms", 50))),
            )
            for line in data.get(CONF_INPUTS, ())
        ),
        relays=tuple(
            GpioRelayConfig(
                name=str(line["key"]),
                offset=int(line["offset"]),
                active_low=bool(line.get("active_low", False)),
            )
            for line in data.get(CONF_RELAYS, ())
        ),
    )


def make_chip(path: str) -> GpioChip:
    """The real chip (libgpiod v2); tests replace this factory with a fake chip."""
    from hardware_bridge import GpiodChip  # noqa: PLC0415 - gpiod is optional

    return GpiodChip(path)


@dataclass(slots=True)
class GpioData:
    """Runtime data of a GPIO entry."""

    backend: GpioBackend
    supervisor: FailSafeSupervisor
    device_id: str | None = None
    listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def coordinators(self) -> tuple[()]:
        """Nothing to poll: inputs are pushed by the kernel, relays read back on writes."""
        return ()

    @callback
    def async_update_entities(self) -> None:
        for listener in list(self.listeners):
            listener()

    def relay_state(self, key: str) -> bool | None:
        relay = self.backend.relays[key]
        try:
            return self.backend.lines.get(relay.config.offset)
        except GpioError:
            return None

    async def async_switch(self, hass: HomeAssistant, entry_id: str, key: str, on: bool) -> None:
        """Switch a relay; a translated error when the line did not take the state."""
        before = self.relay_state(key)
        try:
            await self.supervisor.switch(key, on)
        except RelayError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="relay_not_confirmed",
                translation_placeholders={
                    "relay": key,
                    "state": "on" if on else "off",
                    "error": str(err),
                },
            ) from err
        finally:
            self.async_update_entities()
        if before is not None and before != on:
            self.fire(hass, entry_id, "relay_changed", key, "switch", state=on)

    def fire(
        self,
        hass: HomeAssistant,
        entry_id: str,
        event_type: str,
        key: str,
        platform: str,
        **details: str | bool,
    ) -> None:
        if self.device_id is None:
            return
        async_fire_terminal_event(
            hass,
            device_id=self.device_id,
            event_type=event_type,
            key=key,
            entity_id=er.async_get(hass).async_get_entity_id(
                platform, DOMAIN, gpio_unique_id(entry_id, key)
            ),
            **details,
        )


def gpio_device_info(entry: ConfigEntry[Any]) -> DeviceInfo:
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer=MANUFACTURER_ADAPTER,
        model="GPIO pins",
        model_id=PROTOCOL_GPIO,
    )


async def async_setup_gpio_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> GpioData:
    """Request the chip's lines, start the fail-safe; ConfigEntryNotReady if the chip fails."""
    config = gpio_config(entry.data)
    try:
        backend = GpioBackend(config, make_chip(config.chip))
        await backend.open()
    except GpioError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="gpio_unavailable",
            translation_placeholders={"chip": config.chip, "error": str(err)},
        ) from err
    policies = {
        key: RelayFailSafe(max_on=float(minutes) * 60)
        for key, minutes in (entry.options.get(CONF_MAX_ON) or {}).items()
        if key in backend.relays and minutes
    }
    supervisor = FailSafeSupervisor(
        backend.relays.values(), policies, clock=FAILSAFE_CLOCK, poll_interval=SUPERVISOR_INTERVAL
    )
    data = GpioData(backend=backend, supervisor=supervisor)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **gpio_device_info(entry)
    )
    data.device_id = device.id

    @callback
    def input_changed(event: InputEvent) -> None:
        data.async_update_entities()
        data.fire(hass, entry.entry_id, "input_changed", event.input, "binary_sensor",
                  state=event.active)  # fmt: skip

    @callback
    def fail_safe(event: FailSafeEvent) -> None:
        if event.relay is None or event.action is not FailSafeAction.MAX_ON_TIME:
            if event.action is FailSafeAction.WRITE_FAILED and event.attempt == 1:
                _LOGGER.warning("%s: %s", entry.title, event.reason)
            return
        _LOGGER.warning("%s: %s switched off: %s", entry.title, event.relay, event.reason)
        data.async_update_entities()
        data.fire(
            hass, entry.entry_id, "relay_changed", event.relay, "switch", state=False,
            reason="max_on",
        )  # fmt: skip

    @callback
    def inputs_lost(err: GpioError) -> None:
        data.async_update_entities()

    entry.async_on_unload(backend.subscribe(input_changed))
    entry.async_on_unload(backend.subscribe_failure(inputs_lost))
    entry.async_on_unload(supervisor.subscribe(fail_safe))
    task = entry.async_create_background_task(
        hass, supervisor.run(), f"{DOMAIN} fail-safe {config.chip}"
    )

    @callback
    def stop_supervising() -> None:
        task.cancel()

    entry.async_on_unload(stop_supervising)
    return data


def gpio_diagnostics(entry: ConfigEntry[GpioData]) -> dict[str, Any]:
    """The chip's configuration, the lines' states and the fail-safe's recent events."""
    data = entry.runtime_data
    return {
        "entry": {"data": dict(entry.data), "options": dict(entry.options)},
        "inputs": {
            key: {"active": gpio_input.state.active, "since": _iso(gpio_input.state.since)}
            for key, gpio_input in data.backend.inputs.items()
        },
        "relays": {key: data.relay_state(key) for key in data.backend.relays},
        "fail_safe": [
            {
                "action": event.action.value,
                "relay": event.relay,
                "reason": event.reason,
                "at": event.at.isoformat(),
            }
            for event in list(data.supervisor.events)[-20:]
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def async_unload_gpio_entry(data: GpioData) -> None:
    await data.supervisor.stop()
    await data.backend.close()
