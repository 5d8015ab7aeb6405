"""SmartPower Terminal: meters, compensation relays and analyzers on a serial line."""

from __future__ import annotations

import logging
from datetime import timedelta

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from hardware_bridge import (
    LineConfig,
    LineProtocol,
    LineTerminal,
    LineUnavailableError,
    MeterConfig,
    ModbusDeviceConfig,
    PollGroup,
    ProfileCatalogue,
    ProfileError,
    SerialSettings,
)

from .catalogue import async_get_catalogue
from .const import (
    CONF_ADDRESS,
    CONF_BAUDRATE,
    CONF_DEVICE_ID,
    CONF_FAST_INTERVAL,
    CONF_IO_INTERVAL,
    CONF_MAX_BAUD,
    CONF_PARITY,
    CONF_PORT,
    CONF_PROFILE,
    CONF_PROFILES_DIR,
    CONF_PROTOCOL,
    CONF_READOUT_MODE,
    CONF_SLOW_INTERVAL,
    CONF_STOPBITS,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_IO_INTERVAL,
    DEFAULT_METER_MAX_BAUD,
    DEFAULT_SLOW_INTERVAL,
    DOMAIN,
    SUBENTRY_METER,
    SUBENTRY_MODBUS_DEVICE,
)
from .coordinator import LineHub, SmartPowerCoordinator
from .data import SmartPowerConfigEntry, SmartPowerData
from .entity import line_device_info
from .gpio_line import (
    GPIO_PLATFORMS,
    async_setup_gpio_entry,
    async_unload_gpio_entry,
    is_gpio_entry,
)
from .migration import async_migrate_entry
from .modem_hub import async_setup_modem_entry, async_unload_modem_entry, is_modem_entry
from .reactive import ReactiveTracker
from .remote_const import is_remote_entry
from .remote_hub import async_setup_remote_entry
from .services import async_setup_services

_LOGGER = logging.getLogger(__name__)

__all__ = ["async_migrate_entry", "async_setup", "async_setup_entry", "async_unload_entry"]

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

# Seconds a Modbus device / a meter may take to answer (the IEC 62056-21 limit is 1.5 s).
MODBUS_TIMEOUT = 0.5
METER_REACTION_TIMEOUT = 1.5


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    async_setup_services(hass)
    return True


def build_line_config(
    entry: SmartPowerConfigEntry, catalogue: ProfileCatalogue
) -> tuple[LineConfig, dict[str, str]]:
    """The bridge's view of an entry; also the devices left out, with the reason."""
    protocol = LineProtocol(entry.data[CONF_PROTOCOL])
    modbus = protocol is LineProtocol.MODBUS
    serial = SerialSettings(
        port=entry.data[CONF_PORT],
        baudrate=int(entry.data.get(CONF_BAUDRATE, 9600 if modbus else 300)),
        parity=entry.data.get(CONF_PARITY, "N") if modbus else "N",
        stopbits=2 if modbus and int(entry.data.get(CONF_STOPBITS, 1)) == 2 else 1,
    )
    meters: list[MeterConfig] = []
    devices: list[ModbusDeviceConfig] = []
    skipped: dict[str, str] = {}
    for subentry_id, subentry in entry.subentries.items():
        data = subentry.data
        if subentry.subentry_type == SUBENTRY_METER and not modbus:
            meters.append(
                MeterConfig(
                    key=subentry_id,
                    address=str(data.get(CONF_ADDRESS, "")),
                    mode="short" if data.get(CONF_READOUT_MODE) == "short" else "full",
                    max_baud=int(data.get(CONF_MAX_BAUD, DEFAULT_METER_MAX_BAUD)),
                    name=subentry.title,
                )
            )
        elif subentry.subentry_type == SUBENTRY_MODBUS_DEVICE and modbus:
            try:
                catalogue.get(str(data[CONF_PROFILE]))
            except ProfileError as err:
                skipped[subentry_id] = str(err)
                continue
            devices.append(
                ModbusDeviceConfig(
                    key=subentry_id,
                    device_id=int(data[CONF_DEVICE_ID]),
                    profile_id=str(data[CONF_PROFILE]),
                    name=subentry.title,
                )
            )
    config = LineConfig(
        protocol=protocol,
        serial=serial,
        meters=tuple(meters),
        devices=tuple(devices),
        timeout=MODBUS_TIMEOUT,
        meter_reaction_timeout=METER_REACTION_TIMEOUT,
        profiles_dir=entry.options.get(CONF_PROFILES_DIR),
        # Meters keep local time: read their clocks in Home Assistant's time zone.
        meter_timezone=dt_util.get_default_time_zone(),
    )
    return config, skipped


async def async_setup_entry(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> bool:
    if is_modem_entry(entry):
        return await async_setup_modem_entry(hass, entry)  # type: ignore[arg-type]
    if is_gpio_entry(entry):
        entry.runtime_data = await async_setup_gpio_entry(hass, entry)  # type: ignore[assignment]
        await hass.config_entries.async_forward_entry_setups(entry, GPIO_PLATFORMS)
        entry.async_on_unload(entry.add_update_listener(_async_update_listener))
        return True
    if is_remote_entry(entry):
        return await async_setup_remote_entry(hass, entry)
    catalogue = await async_get_catalogue(hass, entry.options.get(CONF_PROFILES_DIR))
    config, skipped = build_line_config(entry, catalogue)
    _report_skipped(hass, entry, skipped)
    terminal = LineTerminal(config, catalogue)
    try:
        await terminal.open()
    except LineUnavailableError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="port_unavailable",
            translation_placeholders={"port": config.serial.port, "error": str(err)},
        ) from err

    reactive = ReactiveTracker(hass, entry.entry_id)
    await reactive.async_load()
    hub = LineHub(hass, entry, terminal, reactive, catalogue)
    options = entry.options

    def coordinator(group: PollGroup, interval: timedelta) -> SmartPowerCoordinator:
        return SmartPowerCoordinator(hass, entry, hub, group, interval)

    fast = coordinator(
        PollGroup.FAST,
        timedelta(seconds=float(options.get(CONF_FAST_INTERVAL, DEFAULT_FAST_INTERVAL))),
    )
    slow = coordinator(
        PollGroup.SLOW,
        timedelta(minutes=float(options.get(CONF_SLOW_INTERVAL, DEFAULT_SLOW_INTERVAL))),
    )
    io = None
    if hub.io_support and any(s.io for k in terminal.device_keys for s in terminal.specs(k)):
        io = coordinator(
            PollGroup.IO,
            timedelta(seconds=float(options.get(CONF_IO_INTERVAL, DEFAULT_IO_INTERVAL))),
        )
    if (source := hub.watch.source) is not None:
        hub.watch.setup_mains(_source_interval(hub, source.device_key, source.input_key))
    entry.runtime_data = SmartPowerData(
        hub=hub, fast=fast, slow=slow, reactive=reactive, catalogue=catalogue, io=io
    )
    hub.async_seed_counters()
    hub.async_start()
    try:
        # Counters and meter readouts first: a meter's entities follow from its readout.
        await slow.async_config_entry_first_refresh()
        await fast.async_config_entry_first_refresh()
        if io is not None:
            await io.async_config_entry_first_refresh()
    except ConfigEntryNotReady:
        await terminal.close()
        raise

    line_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **line_device_info(entry)
    )
    hub.line_device_id = hub.watch.line_device_id = line_device.id
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    return True


def _source_interval(hub: LineHub, device_key: str, input_key: str | None) -> timedelta:
    """How often the mains source is read: its input's, a meter's or an analyser's group."""
    if input_key is not None:
        group = PollGroup.IO
    elif hub.terminal.config.protocol is LineProtocol.IEC62056:
        group = PollGroup.SLOW
    else:
        group = PollGroup.FAST
    for coordinator in hub.coordinators:
        if coordinator.group is group and coordinator.update_interval is not None:
            return coordinator.update_interval
    return timedelta(seconds=DEFAULT_IO_INTERVAL)


def _report_skipped(
    hass: HomeAssistant, entry: SmartPowerConfigEntry, skipped: dict[str, str]
) -> None:
    for subentry_id, subentry in entry.subentries.items():
        issue_id = f"profile_unavailable_{entry.entry_id}_{subentry_id}"
        if subentry_id not in skipped:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            continue
        _LOGGER.error("%s is not read: %s", subentry.title, skipped[subentry_id])
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="profile_unavailable",
            translation_placeholders={"device": subentry.title, "error": skipped[subentry_id]},
        )


async def _async_update_listener(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> None:
    """Subentries added, changed or removed, or options changed: read the line anew."""
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> bool:
    if is_modem_entry(entry):
        return await async_unload_modem_entry(hass, entry)  # type: ignore[arg-type]
    if is_gpio_entry(entry):
        if unloaded := await hass.config_entries.async_unload_platforms(entry, GPIO_PLATFORMS):
            await async_unload_gpio_entry(entry.runtime_data)  # type: ignore[arg-type]
        return unloaded
    if unloaded := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        entry.runtime_data.hub.async_clear_repairs()
        await entry.runtime_data.hub.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> None:
    """Forget the month-start counters of a removed line."""
    await ReactiveTracker(hass, entry.entry_id).async_remove()
    for subentry_id in entry.subentries:
        ir.async_delete_issue(hass, DOMAIN, f"profile_unavailable_{entry.entry_id}_{subentry_id}")
