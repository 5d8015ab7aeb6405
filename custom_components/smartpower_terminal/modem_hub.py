"""A cellular modem for SMS alarms: one config entry per modem, polled by one coordinator.

The modem is its own kind of entry (``protocol: at_modem``): no subentries, no meters. One
lock serialises everything said on its port: the status poll and each SMS take turns.

A modem that stops answering is a state, not an error: its entities become unavailable, the
log says so once (warning) and once when it answers again (info). A missing SIM or no
registration are values the entities show. A SIM that asks for a PIN raises a repair issue,
because the terminal's manual says to remove the PIN (the SIM is then usable after a power cut
without anyone typing it in).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from hardware_bridge import CellularError, Modem, ModemSettings, ModemStatus

from .const import (
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_RECIPIENTS,
    CONF_SCAN_INTERVAL,
    DEFAULT_MODEM_INTERVAL,
    DOMAIN,
    MODEM_BAUDRATE,
    PROTOCOL_MODEM,
)

__all__ = [
    "MODEM_PLATFORMS",
    "ModemConfigEntry",
    "ModemCoordinator",
    "ModemData",
    "ModemReading",
    "async_identify_modem",
    "async_setup_modem_entry",
    "async_unload_modem_entry",
    "is_modem_entry",
    "modem_device_info",
    "sim_pin_issue_id",
    "split_recipients",
]

_LOGGER = logging.getLogger(__name__)

MODEM_PLATFORMS: list[Platform] = [Platform.NOTIFY, Platform.SENSOR]

# Seconds one AT command may take (the bridge's default; tests shorten it).
COMMAND_TIMEOUT = 3.0
PROBE_TIMEOUT = 1.0

# An international number: "+", then the country code and the subscriber number (E.164).
_RECIPIENT = re.compile(r"\+[0-9]{8,15}")
_SEPARATORS = re.compile(r"[\s\-().]")


def is_modem_entry(entry: ConfigEntry[Any]) -> bool:
    return entry.data.get(CONF_PROTOCOL) == PROTOCOL_MODEM


def modem_settings(port: str) -> ModemSettings:
    return ModemSettings(
        port=port,
        baudrate=MODEM_BAUDRATE,
        command_timeout=COMMAND_TIMEOUT,
        probe_timeout=PROBE_TIMEOUT,
    )


def split_recipients(numbers: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(recipients, rejected)``: numbers in international form without separators (each
    once, in the order given), and what was typed for each number that is not one."""
    good: list[str] = []
    bad: list[str] = []
    for typed in numbers:
        compact = _SEPARATORS.sub("", typed)
        if not compact:
            continue
        if _RECIPIENT.fullmatch(compact) is None:
            bad.append(typed.strip())
        elif compact not in good:
            good.append(compact)
    return good, bad


async def async_identify_modem(port: str) -> dict[str, str | None] | None:
    """Manufacturer, model, firmware and IMEI of the modem on ``port``; None if no modem
    answers ``AT`` there (the port itself was tested before)."""
    modem = Modem(modem_settings(port))
    try:
        await modem.open()
        await modem.probe()
        return await modem.identity()
    except CellularError as err:
        _LOGGER.debug("no modem on %s: %s", port, err)
        return None
    finally:
        await modem.close()


def sim_pin_issue_id(entry_id: str) -> str:
    return f"sim_pin_{entry_id}"


@dataclass(frozen=True, slots=True)
class ModemReading:
    """One poll: the modem's status, or None when it did not answer (then ``error`` says
    why)."""

    status: ModemStatus | None
    error: str | None = None


@dataclass(slots=True)
class ModemData:
    """Runtime data of a loaded modem entry."""

    coordinator: ModemCoordinator
    recipients: tuple[str, ...]

    @property
    def coordinators(self) -> tuple[ModemCoordinator]:
        """What the ``read_now`` action refreshes (it goes through every loaded entry)."""
        return (self.coordinator,)


type ModemConfigEntry = ConfigEntry[ModemData]


class ModemCoordinator(DataUpdateCoordinator[ModemReading]):
    """Looks at the modem every poll interval; owns its port."""

    config_entry: ModemConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: ModemConfigEntry, update_interval: timedelta
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=update_interval,
        )
        self.port: str = entry.data[CONF_PORT]
        self.modem = Modem(modem_settings(self.port))
        self.lock = asyncio.Lock()
        """Held for each poll and each SMS: one conversation on the port at a time."""
        self.answering = True
        self._reopen = False
        self._sim_locked: bool | None = None
        self.identity: dict[str, str | None] = {}

    async def async_open(self) -> None:
        """Open the port, wake the modem and learn who it is (ConfigEntryNotReady if not)."""
        try:
            await self.modem.open()
            await self.modem.probe()
            self.identity = await self.modem.identity()
        except CellularError as err:
            await self.modem.close()
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="modem_unavailable",
                translation_placeholders={"port": self.port, "error": str(err)},
            ) from err

    async def async_close(self) -> None:
        async with self.lock:
            await self.modem.close()

    async def _async_update_data(self) -> ModemReading:
        async with self.lock:
            try:
                status = await self._read_status()
            except CellularError as err:
                return self._not_answering(str(err))
        if not self.answering:
            _LOGGER.info("%s answers again", self.config_entry.title)
            self.answering = True
        self._update_pin_issue(status)
        return ModemReading(status=status)

    async def async_ensure_open(self) -> None:
        """With :attr:`lock` held: after a failure the port is opened anew (an unplugged
        adapter comes back under the same path) and the modem probed (a restarted one has
        echo and error codes reset)."""
        if self._reopen:
            await self.modem.close()
            self.modem = Modem(modem_settings(self.port))
            await self.modem.open()
            await self.modem.probe()
            self._reopen = False

    async def _read_status(self) -> ModemStatus:
        await self.async_ensure_open()
        return await self.modem.status()

    def _not_answering(self, error: str) -> ModemReading:
        if self.answering:
            _LOGGER.warning("%s does not answer: %s", self.config_entry.title, error)
            self.answering = False
        self._reopen = True
        return ModemReading(status=None, error=error)

    def _update_pin_issue(self, status: ModemStatus) -> None:
        """A repair while the SIM asks for its PIN or PUK; created and deleted on changes."""
        if status.sim in ("pin_required", "puk_required"):
            locked = True
        elif status.sim == "ready":
            locked = False
        else:  # no SIM (perhaps out to remove its PIN in a phone): the issue stays as it is
            return
        if locked == self._sim_locked:
            return
        self._sim_locked = locked
        issue_id = sim_pin_issue_id(self.config_entry.entry_id)
        if not locked:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="sim_pin",
            translation_placeholders={"modem": self.config_entry.title},
        )


def modem_device_info(entry: ModemConfigEntry) -> DeviceInfo:
    """The modem as one device: what it says it is, its IMEI as serial number."""
    identity = entry.runtime_data.coordinator.identity
    return DeviceInfo(
        identifiers={(DOMAIN, str(entry.unique_id or entry.entry_id))},
        name=entry.title,
        manufacturer=identity.get("manufacturer"),
        model=identity.get("model"),
        sw_version=identity.get("firmware"),
        serial_number=identity.get("imei"),
    )


async def async_setup_modem_entry(hass: HomeAssistant, entry: ModemConfigEntry) -> bool:
    interval = int(entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_MODEM_INTERVAL))
    coordinator = ModemCoordinator(hass, entry, timedelta(seconds=interval))
    await coordinator.async_open()
    entry.runtime_data = ModemData(
        coordinator=coordinator,
        recipients=tuple(entry.options.get(CONF_RECIPIENTS, ())),
    )
    try:
        await coordinator.async_config_entry_first_refresh()
    except ConfigEntryNotReady:  # pragma: no cover - the first poll returns a reading
        await coordinator.async_close()
        raise
    await hass.config_entries.async_forward_entry_setups(entry, MODEM_PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(hass: HomeAssistant, entry: ModemConfigEntry) -> None:
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_modem_entry(hass: HomeAssistant, entry: ModemConfigEntry) -> bool:
    if unloaded := await hass.config_entries.async_unload_platforms(entry, MODEM_PLATFORMS):
        ir.async_delete_issue(hass, DOMAIN, sim_pin_issue_id(entry.entry_id))
        await entry.runtime_data.coordinator.async_close()
    return unloaded
