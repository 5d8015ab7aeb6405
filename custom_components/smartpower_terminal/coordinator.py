"""Polling of one serial line: a hub owning the terminal, and one coordinator per poll group.

The fast coordinator reads instantaneous values every few seconds, the slow one energy counters
and meter readouts every few minutes; both go through the same :class:`LineHub`, whose terminal
serialises the bus. Each poll asks only for what enabled entities show, so disabled entities
cost no bus time. A device that does not answer makes only its own entities unavailable; when
the line itself fails (the USB adapter was pulled) the refresh fails, and the next ones close
and reopen the port with a growing back-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import restore_state
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from hardware_bridge import (
    DeviceInfo,
    DeviceSnapshot,
    LineProtocol,
    LineTerminal,
    LineUnavailableError,
    MeasurementSpec,
    ModbusReadBackMismatch,
    ModbusWriteError,
    PollGroup,
    ProfileCatalogue,
    Value,
)

from .const import (
    CONF_IO_SUPPORT,
    DOMAIN,
    REOPEN_BACKOFF_INITIAL,
    REOPEN_BACKOFF_MAX,
    UNREACHABLE_ISSUE_HOURS,
)
from .data import SmartPowerConfigEntry
from .guard import CounterGuard
from .reactive import COUNTER_KEYS, DERIVED_ENTITY_KEYS, ReactiveTracker
from .registry_helpers import find_device
from .watch import LineWatch

__all__ = [
    "LineHub",
    "SmartPowerCoordinator",
    "entity_unique_id",
    "split_unique_id",
    "unreachable_issue_id",
]

_LOGGER = logging.getLogger(__name__)

# Entities computed here from counters: polling them means polling the counters.
DERIVED_KEYS: Mapping[str, tuple[str, ...]] = dict.fromkeys(DERIVED_ENTITY_KEYS, COUNTER_KEYS)
_METER_READOUT = "readout"  # any key: a meter readout returns everything


def entity_unique_id(entry_id: str, subentry_id: str, key: str) -> str:
    """An entity's unique id: the ids of its line's entry and its device's subentry, and the
    value key.

    Nothing a user can change (the port, a name) is in it, so a line moved to another adapter
    keeps its entities and their history. Entry ids are ULIDs: no underscore. A local line's
    subentry ids are ULIDs too, but a remote terminal's device keys are the names its config
    gives ("io_board"): see :func:`split_unique_id`.
    """
    return f"{entry_id}_{subentry_id}_{key}"


def split_unique_id(unique_id: str, device_keys: Iterable[str] = ()) -> tuple[str, str]:
    """``(device key, value key)`` of one of our entities' unique ids.

    A device key may hold underscores (a remote terminal's "io_board"), and so may a value key
    ("relay_1"): the longest of ``device_keys`` the id continues with is taken first.
    """
    _entry_id, _, rest = unique_id.partition("_")
    for device_key in sorted(device_keys, key=len, reverse=True):
        if rest.startswith(f"{device_key}_"):
            return device_key, rest[len(device_key) + 1 :]
    device_key, _, key = rest.partition("_")
    return device_key, key


def unreachable_issue_id(entry_id: str, subentry_id: str) -> str:
    return f"device_unreachable_{entry_id}_{subentry_id}"


class LineHub:
    """The one owner of a line's terminal inside Home Assistant."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SmartPowerConfigEntry,
        terminal: LineTerminal,
        reactive: ReactiveTracker,
        catalogue: ProfileCatalogue,
        devices: Mapping[str, ConfigSubentry] | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.terminal = terminal
        self.reactive = reactive
        self.catalogue = catalogue
        self.guard = CounterGuard()
        self.clock: Callable[[], datetime] = dt_util.utcnow
        """Wall clock for counters, billing months and repairs (tests move it)."""
        self.started = self.clock()
        self.line_ok = True
        self.line_error: str | None = None
        self.coordinators: list[SmartPowerCoordinator] = []
        self.line_device_id: str | None = None
        """Device registry id of the terminal (the line's device)."""
        self._reopen = False
        self._line_failures = 0
        self._retry_at: datetime | None = None
        self._values: dict[str, dict[str, Value]] = {}
        self._info: dict[str, DeviceInfo] = {}
        self._configs = {d.key: d for d in terminal.config.devices}
        self._specs: dict[str, tuple[tuple[MeasurementSpec, ...], dict[str, MeasurementSpec]]] = {}
        self.entity_device_infos: dict[str, tuple[object, Any]] = {}
        """Device info shared by a device's entities (see entity.subentry_device_info)."""
        self.specs_version = 0
        """Grows whenever a device's specs change (a meter's readout brings new keys)."""
        self._wanted: dict[PollGroup, dict[str, set[str]]] = {}
        """Keys to read per poll group and device; emptied when they may have changed."""
        self._issue_may_exist = set(terminal.device_keys)
        """Devices whose unreachable repair may exist (at start: any, from an earlier run)."""
        self.guard.names = {k: s.title for k, s in entry.subentries.items()}
        self.io_support = bool(entry.options.get(CONF_IO_SUPPORT))
        """Relays and inputs are shown (and read) only when the line's I/O support is on."""
        self.watch = LineWatch(hass, entry)
        self._switching_off: set[tuple[str, str]] = set()
        self._device_specs: dict[str, tuple[object, tuple[MeasurementSpec, ...]]] = {}
        self._own_devices = dict(devices) if devices is not None else None
        """A remote terminal's devices (from its description, not subentries)."""
        self.unreachable_after: timedelta | None = timedelta(hours=UNREACHABLE_ISSUE_HOURS)
        """How long a device may stay silent before a repair says so (None: never)."""
        self.link = "serial line"
        """What the line's log messages call the way to the terminal."""
        self.unavailable_key = "line_unavailable"
        """Translation key of the error a coordinator shows while the line is unusable."""

    # -- devices ------------------------------------------------------------------------
    @property
    def devices(self) -> dict[str, ConfigSubentry]:
        """The configured devices (subentries) by device key (= subentry id)."""
        if self._own_devices is not None:
            return self._own_devices
        keys = set(self.terminal.device_keys)
        return {k: s for k, s in self.entry.subentries.items() if k in keys}

    def specs(self, device_key: str) -> tuple[MeasurementSpec, ...]:
        """What a device offers Home Assistant (its relays and inputs with I/O support on)."""
        specs = self.terminal.specs(device_key)
        if self.io_support:
            return specs
        cached = self._device_specs.get(device_key)
        if cached is None or cached[0] is not specs:
            cached = (specs, tuple(s for s in specs if s.io is None))
            self._device_specs[device_key] = cached
        return cached[1]

    def snapshot(self, device_key: str) -> DeviceSnapshot | None:
        return self.terminal.snapshot(device_key)

    def device_info(self, device_key: str) -> DeviceInfo | None:
        """What is known of a device before it answered: its profile's maker and model."""
        if (device := self._configs.get(device_key)) is None:
            return None
        profile = self.catalogue.get(device.profile_id)
        return DeviceInfo(manufacturer=profile.manufacturer, model=profile.model)

    def profile_id(self, device_key: str) -> str | None:
        device = self._configs.get(device_key)
        return device.profile_id if device is not None else None

    def available(self, device_key: str) -> bool:
        snapshot = self.terminal.snapshot(device_key)
        return self.line_ok and snapshot is not None and snapshot.available

    def value(self, device_key: str, key: str) -> Value:
        """The latest value of one measurement, energy counters after the guard."""
        return self._values.get(device_key, {}).get(key)

    def values(self, device_key: str) -> dict[str, Value]:
        return dict(self._values.get(device_key, {}))

    # -- lifecycle ----------------------------------------------------------------------
    async def async_close(self) -> None:
        await self.terminal.close()

    # -- what to read -------------------------------------------------------------------
    @callback
    def async_start(self) -> None:
        """Follow entity registry changes of this entry: they change what is read."""
        self.entry.async_on_unload(
            self.hass.bus.async_listen(
                er.EVENT_ENTITY_REGISTRY_UPDATED,
                self._registry_updated,
                event_filter=self._is_ours,
            )
        )

    @callback
    def _is_ours(self, data: Mapping[str, object]) -> bool:
        if data.get("action") == "remove":
            return True
        entity = er.async_get(self.hass).async_get(str(data.get("entity_id")))
        return entity is None or entity.config_entry_id == self.entry.entry_id

    @callback
    def _registry_updated(self, _event: object) -> None:
        self._wanted.clear()

    @callback
    def wanted(self, group: PollGroup) -> dict[str, set[str]]:
        """Keys to read per device in ``group``: those enabled entities show.

        A device without any registered entity yet (first start, or a meter whose first
        readout failed) gets its enabled-by-default keys. Worked out again only when this
        entry's entities or a device's values changed.
        """
        if not self._wanted:
            self._wanted = self._work_out_wanted()
        return self._wanted[group]

    def _work_out_wanted(self) -> dict[PollGroup, dict[str, set[str]]]:
        registry = er.async_get(self.hass)
        device_keys = set(self.terminal.device_keys)
        enabled: dict[str, set[str]] = {}
        registered: set[str] = set()
        for reg_entry in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            device_key, key = split_unique_id(reg_entry.unique_id, device_keys)
            if device_key not in device_keys:
                continue
            registered.add(device_key)
            if reg_entry.disabled_by is None:
                enabled.setdefault(device_key, set()).update(DERIVED_KEYS.get(key, (key,)))
        out: dict[PollGroup, dict[str, set[str]]] = {group: {} for group in PollGroup}
        iec = self.terminal.config.protocol is LineProtocol.IEC62056
        for device_key in self.terminal.device_keys:
            specs = self.specs(device_key)
            if not specs:
                if iec:
                    out[PollGroup.SLOW][device_key] = {_METER_READOUT}
                continue
            if device_key in registered:
                keys = enabled.get(device_key, set())
                wanted = [s for s in specs if s.key in keys]
            else:
                wanted = [s for s in specs if s.enabled_by_default]
            for group, per_device in out.items():
                if chosen := {s.key for s in wanted if s.group is group}:
                    per_device[device_key] = chosen
        return out

    @callback
    def async_seed_counters(self) -> None:
        """Seed the energy guard with the counters shown before the restart."""
        registry = er.async_get(self.hass)
        device_keys = set(self.terminal.device_keys)
        last_states = restore_state.async_get(self.hass).last_states
        for reg_entry in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            stored = last_states.get(reg_entry.entity_id)
            if stored is None or stored.state.attributes.get("state_class") != "total_increasing":
                continue
            device_key, key = split_unique_id(reg_entry.unique_id, device_keys)
            try:
                value = float(stored.state.state)
            except ValueError:
                continue
            if device_key in device_keys:
                self.guard.seed(device_key, key, value, stored.last_seen)

    # -- polling ------------------------------------------------------------------------
    async def poll(self, group: PollGroup, wanted: Mapping[str, Collection[str]]) -> bool:
        """Poll once; True when entities of the other poll group must look again.

        That is when a device's availability changed, or a value of the other group was read
        (a meter's readout brings everything). Raises UpdateFailed (translated) when the line
        itself is unusable.
        """
        if self._reopen:
            await self._reopen_line()
        before = {k: self.available(k) for k in self.terminal.device_keys}
        snapshots = await self.terminal.poll(group, wanted)
        if self.terminal.line_error is not None:
            self._line_failed(self.terminal.line_error)
        if not self.line_ok:
            _LOGGER.info("%s: the %s works again", self.entry.title, self.link)
        self.line_ok, self.line_error, self._line_failures = True, None, 0
        others = self._process(snapshots, group)
        return others or any(self.available(k) != was for k, was in before.items())

    async def _reopen_line(self) -> None:
        now = self.clock()
        if self._retry_at is not None and now < self._retry_at:
            raise self._update_failed()
        await self.terminal.close()
        try:
            await self.terminal.open()
        except LineUnavailableError as err:
            self._line_failed(str(err))
        self._reopen = False

    def _line_failed(self, error: str) -> None:
        if self.line_ok:
            _LOGGER.warning("%s: the %s failed: %s", self.entry.title, self.link, error)
        self.line_ok = False
        self.line_error = error
        self._reopen = True
        self._line_failures += 1
        delay = (
            0
            if self._line_failures == 1
            else min(REOPEN_BACKOFF_INITIAL * 2 ** (self._line_failures - 2), REOPEN_BACKOFF_MAX)
        )
        self._retry_at = self.clock() + timedelta(seconds=delay)
        raise self._update_failed()

    def _update_failed(self) -> UpdateFailed:
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=self.unavailable_key,
            translation_placeholders={
                "port": self.terminal.config.serial.port,
                "error": self.line_error or "",
            },
        )

    def _specs_by_key(self, device_key: str) -> dict[str, MeasurementSpec]:
        specs = self.terminal.specs(device_key)
        cached = self._specs.get(device_key)
        if cached is not None and cached[0] is specs:
            return cached[1]
        by_key = {s.key: s for s in specs}
        if cached is None or cached[1] != by_key:
            self.specs_version += 1
            self._wanted.clear()
        self._specs[device_key] = (specs, by_key)
        return by_key

    def _process(self, snapshots: Mapping[str, DeviceSnapshot], group: PollGroup) -> bool:
        """Take in what the poll read; True if it read values of the other poll group.

        Only the values this poll read go through the energy guard, at the time of this
        poll: values carried along from the other group's last poll are not new readings.
        """
        now = self.clock()
        local_now = dt_util.as_local(now)
        other_group = False
        for device_key, snapshot in snapshots.items():
            specs = self._specs_by_key(device_key)
            values = self._values.setdefault(device_key, {})
            fresh = snapshot.values
            if snapshot.available and snapshot.read_keys is not None:
                fresh = {k: fresh.get(k) for k in snapshot.read_keys}
            before = {k: values.get(k) for k in fresh}
            for key, value in fresh.items():
                spec = specs.get(key)
                shown = value
                if spec is not None:
                    if snapshot.available and spec.group is not group:
                        other_group = True
                    if (
                        value is not None
                        and spec.state_class == "total_increasing"
                        and isinstance(value, int | float)
                        and not isinstance(value, bool)
                    ):
                        shown = self.guard.check(device_key, key, float(value), spec.unit, now)
                values[key] = shown
            self.watch.device_polled(
                device_key,
                snapshot.available,
                before,
                {k: values.get(k) for k in fresh},
                specs,
                now,
            )
            if snapshot.available:
                ratios = self.reactive.update(device_key, values, local_now, snapshot.history)
                if ratios is not None:
                    self.watch.reactive_checked(device_key, ratios, self.entry.options)
                self._update_device_info(device_key, snapshot.info)
            self._update_repair(device_key, snapshot, now)
        return other_group

    def _update_device_info(self, device_key: str, info: DeviceInfo) -> None:
        if self._info.get(device_key) == info:
            return
        self._info[device_key] = info
        registry = dr.async_get(self.hass)
        device = find_device(registry, device_identifier(self.entry, device_key), self.entry)
        if device is None:
            return
        registry.async_update_device(
            device.id,
            manufacturer=info.manufacturer or device.manufacturer,
            model=info.model or device.model,
            serial_number=info.serial_number or device.serial_number,
            sw_version=info.sw_version or device.sw_version,
        )

    def _update_repair(self, device_key: str, snapshot: DeviceSnapshot, now: datetime) -> None:
        issue_id = unreachable_issue_id(self.entry.entry_id, device_key)
        if snapshot.available:
            if device_key in self._issue_may_exist:  # only on the transition
                self._issue_may_exist.discard(device_key)
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        since = snapshot.last_success or self.started
        if self.unreachable_after is None or now - since < self.unreachable_after:
            return
        self._issue_may_exist.add(device_key)
        subentry = self.devices.get(device_key)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="device_unreachable",
            translation_placeholders={
                "device": subentry.title if subentry else device_key,
                "line": self.entry.title,
                "since": dt_util.as_local(since).strftime("%Y-%m-%d %H:%M"),
                "error": snapshot.last_error or "",
            },
        )

    # -- relays -------------------------------------------------------------------------
    async def async_switch(
        self, device_key: str, key: str, on: bool, *, reason: str = "user"
    ) -> None:
        """Switch a relay and show the state read back from it; raises a translated
        HomeAssistantError when the device did not confirm the new state."""
        values = self._values.setdefault(device_key, {})
        old = values.get(key)
        placeholders = {"relay": self._relay_name(device_key, key), "state": "on" if on else "off"}
        error: HomeAssistantError | None = None
        try:
            values[key] = await self.terminal.write(device_key, key, on)
        except ModbusReadBackMismatch as err:
            values[key] = err.read_back
            error = _relay_error("relay_not_confirmed", placeholders, err)
        except ModbusWriteError as err:
            values[key] = None
            translation_key = "relay_refused" if err.reason == "exception" else "relay_no_answer"
            error = _relay_error(translation_key, placeholders, err)
        except LineUnavailableError as err:
            values[key] = None
            error = _relay_error("relay_line_unavailable", placeholders, err)
        self.watch.relay_written(device_key, key, old, values[key], self.clock(), reason)
        for coordinator in self.coordinators:
            coordinator.async_update_listeners()
        if error is not None:
            raise error

    def relay_command(self, device_key: str, key: str) -> str | None:
        """A remote relay's command still on its way to the terminal (None: none, or local)."""
        command_state = getattr(self.terminal, "command_state", None)
        return command_state(device_key, key) if command_state is not None else None

    def relay_name(self, device_key: str, key: str) -> str:
        return self._relay_name(device_key, key)

    def _relay_name(self, device_key: str, key: str) -> str:
        registry = er.async_get(self.hass)
        unique_id = entity_unique_id(self.entry.entry_id, device_key, key)
        if (entity_id := registry.async_get_entity_id("switch", DOMAIN, unique_id)) is not None:
            return entity_id
        subentry = self.devices.get(device_key)
        return f"{subentry.title if subentry else device_key} {key}"

    async def async_enforce_on_time(self) -> None:
        """Switch off every relay that has been on for longer than its limit."""
        overdue = self.watch.overdue_relays(self.clock())
        self._switching_off.intersection_update((d, k) for d, k, _ in overdue)
        for device_key, key, limit in overdue:
            first = (device_key, key) not in self._switching_off
            self._switching_off.add((device_key, key))
            if first:
                _LOGGER.warning(
                    "%s: %s has been on for %s, its longest on-time: switching it off",
                    self.entry.title,
                    self._relay_name(device_key, key),
                    limit,
                )
            try:
                await self.async_switch(device_key, key, False, reason="max_on")
            except HomeAssistantError as err:
                if first:  # tried again at every poll, said once
                    _LOGGER.warning("%s: %s", self.entry.title, err)
            else:
                self._switching_off.discard((device_key, key))

    @callback
    def async_clear_repairs(self) -> None:
        for device_key in self.terminal.device_keys:
            ir.async_delete_issue(
                self.hass, DOMAIN, unreachable_issue_id(self.entry.entry_id, device_key)
            )


def device_identifier(entry: SmartPowerConfigEntry, device_key: str) -> tuple[str, str]:
    return (DOMAIN, f"{entry.entry_id}_{device_key}")


def _relay_error(key: str, placeholders: dict[str, str], err: Exception) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={**placeholders, "error": str(err)},
    )


class SmartPowerCoordinator(DataUpdateCoordinator[dict[str, DeviceSnapshot]]):
    """Polls one group of values (fast or slow) of every device on the line."""

    config_entry: SmartPowerConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SmartPowerConfigEntry,
        hub: LineHub,
        group: PollGroup,
        update_interval: timedelta,
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{entry.title} ({group.value})",
            update_interval=update_interval,
        )
        self.hub = hub
        self.group = group
        hub.coordinators.append(self)

    async def _async_update_data(self) -> dict[str, DeviceSnapshot]:
        wanted = self.hub.wanted(self.group)
        if wanted:
            was_ok = self.hub.line_ok
            try:
                others = await self.hub.poll(self.group, wanted)
            except UpdateFailed:
                if was_ok:
                    self._notify_others()
                raise
            if others or not was_ok:
                self._notify_others()
        if self.group is PollGroup.IO:
            await self.hub.async_enforce_on_time()
        return {
            k: s for k in self.hub.terminal.device_keys if (s := self.hub.snapshot(k)) is not None
        }

    def _notify_others(self) -> None:
        """Entities of the other poll group look again (availability, or values they show)."""
        for other in self.hub.coordinators:
            if other is not self:
                other.async_update_listeners()
