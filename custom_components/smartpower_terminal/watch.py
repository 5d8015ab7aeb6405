"""What a line's polls mean beyond values: terminal events, mains loss, relay on-time limits.

A :class:`LineWatch` sees every device's values before and after each poll. From the changes it
fires ``smartpower_terminal_event`` (inputs and relays that changed, compensation alarms
raised, devices going offline and back, the reactive limit crossed), follows mains presence
from the chosen source, and tells the hub which relays ran longer than their limit. Only
changes between two known states count: the first reading after a start is not an event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from hardware_bridge import MainsMonitor, MainsState, MainsThresholds, MeasurementSpec, Value

from .const import (
    CONF_CAPACITIVE_LIMIT,
    CONF_INDUCTIVE_LIMIT,
    CONF_IO,
    CONF_MAINS_DETECTION,
    CONF_MAINS_SOURCE,
    DEFAULT_CAPACITIVE_LIMIT,
    DEFAULT_INDUCTIVE_LIMIT,
    DOMAIN,
    IO_INVERTED,
    IO_MAX_ON,
)
from .data import SmartPowerConfigEntry
from .events import async_fire_terminal_event
from .reactive import ReactiveRatios
from .registry_helpers import find_device

__all__ = [
    "IoSettings",
    "LineWatch",
    "MainsSource",
    "io_settings",
    "mains_source",
    "reactive_limits",
    "reactive_over_limit",
]

_LOGGER = logging.getLogger(__name__)

PHASE_VOLTAGES = ("voltage_l1", "voltage_l2", "voltage_l3")
SINGLE_PHASE_VOLTAGE = "voltage"


@dataclass(frozen=True, slots=True)
class IoSettings:
    """How the user set up one relay or input in the device's form."""

    name: str | None = None
    device_class: str | None = None
    inverted: bool = False
    max_on: timedelta | None = None


def io_settings(subentry_data: Mapping[str, Any]) -> dict[str, IoSettings]:
    """The relays' and inputs' settings stored in a device's subentry, by key."""
    out: dict[str, IoSettings] = {}
    for key, raw in (subentry_data.get(CONF_IO) or {}).items():
        minutes = float(raw.get(IO_MAX_ON) or 0)
        device_class = raw.get("device_class")
        out[key] = IoSettings(
            name=(raw.get("name") or "").strip() or None,
            device_class=None if device_class in (None, "", "none") else str(device_class),
            inverted=bool(raw.get(IO_INVERTED)),
            max_on=timedelta(minutes=minutes) if minutes > 0 else None,
        )
    return out


@dataclass(frozen=True, slots=True)
class MainsSource:
    """Where mains presence is read: a device's phase voltages, or one of its inputs."""

    device_key: str
    input_key: str | None = None


def mains_source(entry: SmartPowerConfigEntry) -> MainsSource | None:
    """The line's mains source when mains detection is on and a source is chosen."""
    if not entry.data.get(CONF_MAINS_DETECTION):
        return None
    raw = str(entry.options.get(CONF_MAINS_SOURCE) or "")
    device_key, _, input_key = raw.partition(":")
    if device_key not in entry.subentries:
        return None
    return MainsSource(device_key, input_key or None)


def reactive_limits(options: Mapping[str, Any]) -> tuple[float, float]:
    """(inductive, capacitive) limits in percent of active energy."""
    return (
        float(options.get(CONF_INDUCTIVE_LIMIT, DEFAULT_INDUCTIVE_LIMIT)),
        float(options.get(CONF_CAPACITIVE_LIMIT, DEFAULT_CAPACITIVE_LIMIT)),
    )


def reactive_over_limit(ratios: ReactiveRatios | None, options: Mapping[str, Any]) -> bool | None:
    """True while this month's inductive or capacitive share is above its limit."""
    if ratios is None or ratios.inductive is None or ratios.capacitive is None:
        return None
    inductive_limit, capacitive_limit = reactive_limits(options)
    return ratios.inductive > inductive_limit or ratios.capacitive > capacitive_limit


class LineWatch:
    """Events, mains presence and relay on-times of one line."""

    def __init__(self, hass: HomeAssistant, entry: SmartPowerConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.io: dict[str, dict[str, IoSettings]] = {
            key: io_settings(subentry.data) for key, subentry in entry.subentries.items()
        }
        self.source = mains_source(entry)
        self.names: dict[str, str] = {}
        """Names of devices that are no subentries (a remote terminal's)."""
        self.mains: MainsMonitor | None = None
        self._mains_definite: MainsState | None = None
        self._available: dict[str, bool] = {}
        self._over_limit: dict[str, bool | None] = {}
        self._on_since: dict[tuple[str, str], datetime] = {}
        self._device_ids: dict[str, str] = {}
        self.line_device_id: str | None = None

    def setup_mains(self, source_interval: timedelta) -> None:
        """Start following mains presence; a silent source turns it unknown after 3 polls."""
        if self.source is None:
            return
        unknown_after = max(60.0, 3 * source_interval.total_seconds())
        self.mains = MainsMonitor(MainsThresholds(unknown_after=unknown_after))

    # -- what a poll brought -------------------------------------------------------------
    def device_polled(
        self,
        device_key: str,
        available: bool,
        before: Mapping[str, Value],
        after: Mapping[str, Value],
        specs: Mapping[str, MeasurementSpec],
        now: datetime,
    ) -> None:
        was = self._available.get(device_key)
        self._available[device_key] = available
        if was is not None and was != available:
            self._fire(device_key, "device_online" if available else "device_offline")
        if available:
            for key, value in after.items():
                old = before.get(key)
                if not isinstance(value, bool):
                    continue
                spec = specs.get(key)
                if spec is not None and spec.io is not None:
                    self._io_seen(device_key, key, spec.io, old, value, now)
                elif key.startswith("alarm_") and value and old is False:
                    self._fire(device_key, "compensation_alarm", key, "binary_sensor", state=True)
        if self.source is not None and self.source.device_key == device_key:
            self._mains_sample(available, after, specs, now)

    def relay_written(
        self, device_key: str, key: str, old: Value, new: Value, now: datetime, reason: str
    ) -> None:
        """A relay was switched from Home Assistant (``reason``: user or max_on)."""
        if isinstance(new, bool):
            self._io_seen(device_key, key, "relay", old, new, now, reason=reason)

    def _io_seen(
        self,
        device_key: str,
        key: str,
        kind: str,
        old: Value,
        new: bool,
        now: datetime,
        *,
        reason: str | None = None,
    ) -> None:
        if kind == "relay":
            if new:
                self._on_since.setdefault((device_key, key), now)
            else:
                self._on_since.pop((device_key, key), None)
        if not isinstance(old, bool) or old == new:
            return
        if kind == "relay":
            details: dict[str, str | bool] = {"state": new}
            if reason is not None:
                details["reason"] = reason
            self._fire(device_key, "relay_changed", key, "switch", **details)
        else:
            settings = self.io.get(device_key, {}).get(key, IoSettings())
            self._fire(
                device_key,
                "input_changed",
                key,
                "binary_sensor",
                state=new != settings.inverted,
            )

    def reactive_checked(
        self, device_key: str, ratios: ReactiveRatios | None, options: Mapping[str, Any]
    ) -> None:
        over = reactive_over_limit(ratios, options)
        was = self._over_limit.get(device_key)
        self._over_limit[device_key] = over
        if over and was is False:
            self._fire(
                device_key,
                "reactive_limit_exceeded",
                "reactive_limit_exceeded",
                "binary_sensor",
                inductive=ratios.inductive if ratios else None,
                capacitive=ratios.capacitive if ratios else None,
            )

    # -- relay on-time ---------------------------------------------------------------------
    def overdue_relays(self, now: datetime) -> list[tuple[str, str, timedelta]]:
        """Relays on for longer than their limit: (device key, relay key, limit)."""
        overdue = []
        for (device_key, key), since in self._on_since.items():
            limit = self.io.get(device_key, {}).get(key, IoSettings()).max_on
            if limit is not None and now - since >= limit:
                overdue.append((device_key, key, limit))
        return overdue

    # -- mains -------------------------------------------------------------------------------
    def _mains_sample(
        self,
        available: bool,
        values: Mapping[str, Value],
        specs: Mapping[str, MeasurementSpec],
        now: datetime,
    ) -> None:
        """One sample from the source's poll: only a poll that read the source's values (or
        found the device silent) says something about mains."""
        monitor = self.mains
        if monitor is None or self.source is None:
            return
        if self.source.input_key is not None:
            if available and self.source.input_key not in values:
                return
            raw = values.get(self.source.input_key) if available else None
            settings = self.io.get(self.source.device_key, {}).get(
                self.source.input_key, IoSettings()
            )
            present = raw != settings.inverted if isinstance(raw, bool) else None
            state = monitor.update_contact(present, now)
        else:
            keys = [k for k in PHASE_VOLTAGES if k in specs] or [SINGLE_PHASE_VOLTAGE]
            if available and not any(k in values for k in keys):
                return
            voltages = [_volts(values.get(k)) if available else None for k in keys]
            state = monitor.update_voltages(voltages, now)
        if state is MainsState.UNKNOWN:
            return
        previous, self._mains_definite = self._mains_definite, state
        if previous is None or previous is state:
            if previous is None and state is MainsState.LOST:
                self._fire_line("mains_lost")
            return
        self._fire_line("mains_lost" if state is MainsState.LOST else "mains_restored")
        if state is MainsState.LOST:
            _LOGGER.warning("%s: mains lost", self.entry.title)
        else:
            _LOGGER.info("%s: mains back", self.entry.title)

    # -- firing ------------------------------------------------------------------------------
    def _device_id(self, device_key: str) -> str | None:
        if (known := self._device_ids.get(device_key)) is not None:
            return known
        identifier = (DOMAIN, f"{self.entry.entry_id}_{device_key}")
        device = find_device(dr.async_get(self.hass), identifier, self.entry)
        if device is None:
            return None
        self._device_ids[device_key] = device.id
        return device.id

    def _fire(
        self,
        device_key: str,
        event_type: str,
        key: str | None = None,
        platform: str | None = None,
        **details: str | int | float | bool | None,
    ) -> None:
        device_id = self._device_id(device_key)
        if device_id is None:
            return
        entity_id = None
        if key is not None and platform is not None:
            unique_id = f"{self.entry.entry_id}_{device_key}_{key}"
            entity_id = er.async_get(self.hass).async_get_entity_id(platform, DOMAIN, unique_id)
        subentry = self.entry.subentries.get(device_key)
        async_fire_terminal_event(
            self.hass,
            device_id=device_id,
            event_type=event_type,
            key=key,
            entity_id=entity_id,
            name=subentry.title if subentry else self.names.get(device_key, device_key),
            **details,
        )

    def _fire_line(self, event_type: str) -> None:
        if self.line_device_id is None:
            return
        device = dr.async_get(self.hass).async_get(self.line_device_id)
        name = (device.name_by_user or device.name) if device is not None else None
        async_fire_terminal_event(
            self.hass,
            device_id=self.line_device_id,
            event_type=event_type,
            key="mains_power",
            entity_id=er.async_get(self.hass).async_get_entity_id(
                "binary_sensor", DOMAIN, f"{self.entry.entry_id}_mains_power"
            ),
            name=name or self.entry.title,
        )


def _volts(value: Value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
