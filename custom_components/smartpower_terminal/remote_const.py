"""Names of a remote terminal's entry (network mode), shared by its flow and its runtime."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.config_entries import ConfigEntry

from .const import CONF_PROTOCOL

__all__ = [
    "CONF_AUTH_CODE",
    "CONF_MODEM_NO",
    "PROTOCOL_REMOTE",
    "SUBENTRY_REMOTE_DEVICE",
    "is_remote_entry",
]

PROTOCOL_REMOTE: Final = "remote"  # a terminal reached through a server or its daemon
CONF_MODEM_NO: Final = "modem_no"
CONF_AUTH_CODE: Final = "auth_code"  # form only: never stored
SUBENTRY_REMOTE_DEVICE: Final = "remote_device"
"""The type of the stand-in subentry a remote device is handed to the entity layer as."""


def is_remote_entry(entry: ConfigEntry[Any]) -> bool:
    return entry.data.get(CONF_PROTOCOL) == PROTOCOL_REMOTE
