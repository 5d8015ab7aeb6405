"""SMS alarms: a notify entity per modem that texts every configured recipient."""

from __future__ import annotations

import logging

from homeassistant.components.notify import NotifyEntity
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from hardware_bridge import CellularError

from .const import DOMAIN
from .modem_entities import ModemEntity
from .modem_hub import ModemConfigEntry

_LOGGER = logging.getLogger(__name__)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ModemConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    # only modem entries forward this platform
    async_add_entities([ModemSmsNotify(entry)])


class ModemSmsNotify(ModemEntity, NotifyEntity):
    """``notify.send_message``: one SMS (split into parts if long) to each recipient.

    Available while the entry is loaded, even when the last poll got no answer: Home
    Assistant skips an unavailable entity without a word, and an alarm that was not sent must
    fail where the automation can see it (the modem may also be back already).
    """

    _attr_translation_key = "sms"

    def __init__(self, entry: ModemConfigEntry) -> None:
        super().__init__(entry, "sms")
        self._recipients = entry.runtime_data.recipients

    @property
    def available(self) -> bool:
        return True

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        if not self._recipients:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_recipients")
        text = f"{title}\n{message}" if title else message
        coordinator = self.coordinator
        failures: list[str] = []
        # Every recipient is tried: one unreachable number must not keep the alarm from
        # the others.
        async with coordinator.lock:
            for number in self._recipients:
                try:
                    await coordinator.async_ensure_open()
                    await coordinator.modem.send_sms(number, text)
                except (CellularError, ValueError) as err:
                    failures.append(str(err))
        if failures:
            _LOGGER.debug("%d of %d SMS failed", len(failures), len(self._recipients))
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="sms_failed",
                translation_placeholders={
                    "failed": str(len(failures)),
                    "total": str(len(self._recipients)),
                    "error": failures[0],
                },
            )
