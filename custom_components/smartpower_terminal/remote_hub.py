"""The runtime of a remote terminal's entry: its client, checked token and description.

Setting the entry up asks the server for the terminal's description with the stored token: a
refused token starts the reauth flow (the auth code was renewed or the token revoked), a server
that does not answer retries later.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from hardware_bridge import (
    NotFound,
    ServerUnreachable,
    SmartPowerClient,
    SmartPowerError,
    TerminalDescription,
    TlsError,
    Unauthorized,
)

from .const import DOMAIN, MANUFACTURER_TERMINAL
from .remote_const import CONF_MODEM_NO

__all__ = ["RemoteConfigEntry", "RemoteData", "async_setup_remote_entry"]


@dataclass(slots=True)
class RemoteData:
    client: SmartPowerClient
    modem_no: str
    description: TerminalDescription


type RemoteConfigEntry = ConfigEntry[RemoteData]


async def async_setup_remote_entry(hass: HomeAssistant, entry: RemoteConfigEntry) -> RemoteData:
    modem_no = str(entry.data[CONF_MODEM_NO])
    client = SmartPowerClient(
        async_get_clientsession(hass), entry.data[CONF_URL], token=entry.data[CONF_TOKEN]
    )
    placeholders = {"url": entry.data[CONF_URL], "modem_no": modem_no}
    try:
        description = await client.description(modem_no)
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
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=description.name,
        manufacturer=MANUFACTURER_TERMINAL,
        model="SmartPower terminal",
        serial_number=modem_no,
        sw_version=description.firmware,
    )
    return RemoteData(client=client, modem_no=modem_no, description=description)
