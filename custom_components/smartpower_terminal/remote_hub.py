"""The runtime of a remote terminal's entry: the same hub, coordinators and entities as a local
line, over a :class:`RemoteTerminal` instead of the serial line.

Setting the entry up asks the server for the terminal's description with the stored token: a
refused token starts the reauth flow (the auth code was renewed or the token revoked), a server
that does not answer is retried later. Then the event stream brings readings and command
outcomes as they happen; ``/latest`` is polled slowly as the fallback.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from types import MappingProxyType

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_TOKEN, CONF_URL, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from hardware_bridge import (
    Alarm,
    ApiValidationError,
    Command,
    CommandStatus,
    NotFound,
    PollGroup,
    Reading,
    ServerUnreachable,
    SmartPowerClient,
    SmartPowerError,
    TerminalDescription,
    TlsError,
    Unauthorized,
    decode_event,
)

from .catalogue import async_get_catalogue
from .const import CONF_IO, DOMAIN, MANUFACTURER_TERMINAL
from .coordinator import LineHub, SmartPowerCoordinator
from .data import SmartPowerConfigEntry, SmartPowerData
from .reactive import ReactiveTracker
from .remote_const import CONF_MODEM_NO, SUBENTRY_REMOTE_DEVICE
from .remote_terminal import FALLBACK_POLL, RemoteTerminal

__all__ = [
    "REMOTE_PLATFORMS",
    "async_setup_remote_entry",
    "command_issue_id",
    "silent_issue_id",
]

_LOGGER = logging.getLogger(__name__)

REMOTE_PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH]
RECONNECT_INITIAL = 1.0  # seconds before the event stream is opened again; doubles
RECONNECT_MAX = 300.0
SILENT_AFTER = timedelta(days=1)


def silent_issue_id(entry_id: str) -> str:
    return f"terminal_silent_{entry_id}"


def command_issue_id(entry_id: str, device_key: str, key: str) -> str:
    return f"command_failed_{entry_id}_{device_key}_{key}"


async def _async_description(
    client: SmartPowerClient, modem_no: str, url: str
) -> TerminalDescription:
    placeholders = {"url": url, "modem_no": modem_no}
    try:
        return await client.description(modem_no)
    except Unauthorized as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="remote_token_rejected",
            translation_placeholders=placeholders,
        ) from err
    except NotFound as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="remote_modem_not_found",
            translation_placeholders=placeholders,
        ) from err
    except (ServerUnreachable, TlsError) as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="remote_unreachable",
            translation_placeholders={**placeholders, "error": str(err)},
        ) from err
    except SmartPowerError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="remote_not_smartpower",
            translation_placeholders={**placeholders, "error": str(err)},
        ) from err


def _devices(description: TerminalDescription) -> dict[str, ConfigSubentry]:
    """The terminal's devices in the shape the entity layer takes a device in; its relays
    and inputs carry the names given on the terminal."""
    return {
        device.key: ConfigSubentry(
            data=MappingProxyType({CONF_IO: {io.key: {"name": io.name} for io in device.io}}),
            subentry_id=device.key,
            subentry_type=SUBENTRY_REMOTE_DEVICE,
            title=device.name,
            unique_id=device.key,
        )
        for device in description.devices
    }


async def async_setup_remote_entry(hass: HomeAssistant, entry: SmartPowerConfigEntry) -> bool:
    url = str(entry.data[CONF_URL])
    modem_no = str(entry.data[CONF_MODEM_NO])
    client = SmartPowerClient(async_get_clientsession(hass), url, token=entry.data[CONF_TOKEN])
    description = await _async_description(client, modem_no, url)
    terminal = RemoteTerminal(client, description, url)
    started = terminal.clock()
    reactive = ReactiveTracker(hass, entry.entry_id)
    await reactive.async_load()
    catalogue = await async_get_catalogue(hass, None)
    hub = LineHub(hass, entry, terminal, reactive, catalogue, devices=_devices(description))  # type: ignore[arg-type]
    hub.io_support = True  # a terminal's relays and inputs are always shown
    hub.unavailable_key = "remote_unavailable"
    hub.link = "connection to the server"
    hub.unreachable_after = None  # one repair for the whole terminal instead (see below)
    hub.watch.names = {device.key: device.name for device in description.devices}
    coordinators = {
        group: SmartPowerCoordinator(hass, entry, hub, group, FALLBACK_POLL) for group in PollGroup
    }
    entry.runtime_data = SmartPowerData(
        hub=hub,
        fast=coordinators[PollGroup.FAST],
        slow=coordinators[PollGroup.SLOW],
        reactive=reactive,
        catalogue=catalogue,
        io=coordinators[PollGroup.IO],
    )
    hub.async_seed_counters()
    hub.async_start()
    for coordinator in coordinators.values():
        await coordinator.async_config_entry_first_refresh()
    line_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=description.name,
        manufacturer=MANUFACTURER_TERMINAL,
        model="SmartPower terminal",
        serial_number=modem_no,
        sw_version=description.firmware,
    )
    hub.line_device_id = hub.watch.line_device_id = line_device.id

    @callback
    def check() -> None:
        _report_failed_commands(hass, entry, hub, terminal)
        _report_silence(hass, entry, terminal, started)
        if terminal.description_outdated:
            terminal.description_outdated = False
            entry.async_create_task(
                hass, _async_check_description(hass, entry, terminal), "check description"
            )

    entry.async_on_unload(coordinators[PollGroup.IO].async_add_listener(check))

    @callback
    def clear_issues() -> None:
        """An unloaded entry's repairs would speak of a terminal no longer watched."""
        ir.async_delete_issue(hass, DOMAIN, silent_issue_id(entry.entry_id))
        for device_key in terminal.device_keys:
            for spec in terminal.specs(device_key):
                if spec.io == "relay":
                    issue_id = command_issue_id(entry.entry_id, device_key, spec.key)
                    ir.async_delete_issue(hass, DOMAIN, issue_id)

    entry.async_on_unload(clear_issues)
    check()
    seen_until = dt_util.utcnow()  # this run's states of the counters come after this
    await hass.config_entries.async_forward_entry_setups(entry, REMOTE_PLATFORMS)
    if "recorder" in hass.config.components:  # the counters' entities exist now
        from .remote_statistics import async_fill_counter_statistics  # noqa: PLC0415

        @callback
        def fill(_: HomeAssistant) -> None:
            # Only once Home Assistant has started: the recorder writes nothing before, so a
            # fill waiting for it inside start-up would hold the start up for minutes.
            entry.async_create_background_task(
                hass,
                async_fill_counter_statistics(hass, entry, terminal, seen_until),
                f"{DOMAIN} statistics {entry.title}",
            )

        entry.async_on_unload(async_at_started(hass, fill))
    entry.async_create_background_task(
        hass, _async_follow_events(hass, entry, hub, terminal), f"{DOMAIN} events {entry.title}"
    )
    return True


@callback
def _report_failed_commands(
    hass: HomeAssistant, entry: SmartPowerConfigEntry, hub: LineHub, terminal: RemoteTerminal
) -> None:
    """A command the terminal did not carry out: a repair issue says which and why. One that
    expired on the server (the terminal did not fetch it in time, so it was never carried out,
    rather than late) has its own text."""
    for command in terminal.take_failures():
        relay = hub.relay_name(command.device, command.key)
        state = "on" if command.state else "off"
        placeholders = {"relay": relay, "state": state}
        if command.status is CommandStatus.EXPIRED:
            _LOGGER.warning(
                "%s was not switched %s: the terminal did not fetch the command before it "
                "expired, so it was not carried out",
                relay,
                state,
            )
            translation_key = "remote_command_expired"
        else:
            _LOGGER.warning(
                "%s was not switched %s: the terminal did not carry out the command (%s)",
                relay,
                state,
                command.message or command.status.value,
            )
            translation_key = "remote_command_failed"
            placeholders["error"] = command.message or command.status.value
        ir.async_create_issue(
            hass,
            DOMAIN,
            command_issue_id(entry.entry_id, command.device, command.key),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )
    for device_key, key in terminal.take_done():
        ir.async_delete_issue(hass, DOMAIN, command_issue_id(entry.entry_id, device_key, key))


async def _async_check_description(
    hass: HomeAssistant, entry: SmartPowerConfigEntry, terminal: RemoteTerminal
) -> None:
    """Build the devices and entities anew when the terminal's description changed."""
    try:
        description = await terminal.client.description(terminal.modem_no)
    except SmartPowerError as err:
        _LOGGER.debug("%s: description not checked: %s", entry.title, err)
        return
    if description != terminal.description:
        _LOGGER.info("%s: the terminal's devices changed; setting it up anew", entry.title)
        hass.config_entries.async_schedule_reload(entry.entry_id)


@callback
def _report_silence(
    hass: HomeAssistant,
    entry: SmartPowerConfigEntry,
    terminal: RemoteTerminal,
    started: datetime,
) -> None:
    """A terminal the server has heard nothing from for a day: a repair issue says since when."""
    issue_id = silent_issue_id(entry.entry_id)
    if terminal.line_error is not None:
        return  # the server does not answer: that is the coordinators' error, not silence
    contact = terminal.last_contact
    if terminal.clock() - (contact or started) < SILENT_AFTER:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="remote_terminal_silent",
        translation_placeholders={
            "terminal": terminal.description.name,
            "since": dt_util.as_local(contact).strftime("%Y-%m-%d %H:%M") if contact else "-",
        },
    )


async def _async_follow_events(
    hass: HomeAssistant, entry: SmartPowerConfigEntry, hub: LineHub, terminal: RemoteTerminal
) -> None:
    """Readings and command outcomes as they come; reconnect with back-off when cut."""
    last_id: str | None = None
    delay = RECONNECT_INITIAL
    while True:
        try:
            async for event in terminal.client.events(terminal.modem_no, last_event_id=last_id):
                last_id = event.id or last_id
                terminal.live, delay = True, RECONNECT_INITIAL
                try:
                    payload = decode_event(event)
                except ApiValidationError as err:
                    _LOGGER.debug("Event %s not understood: %s", event.id, err)
                    continue
                if isinstance(payload, Reading):
                    terminal.take([payload])
                elif isinstance(payload, Command):
                    terminal.take_command(payload)
                elif not (isinstance(payload, Alarm) and terminal.take_alarm(payload)):
                    continue
                for coordinator in hub.coordinators:
                    await coordinator.async_request_refresh()
        except Unauthorized:
            terminal.live = False
            entry.async_start_reauth(hass)
            return
        except SmartPowerError as err:
            _LOGGER.debug("Event stream of %s ended: %s", entry.title, err)
        terminal.live = False
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX)
