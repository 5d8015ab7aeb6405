"""A simulated cellular modem on a pty and a modem config entry, for the test_modem* modules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal import modem_hub
from custom_components.smartpower_terminal.const import (
    CONF_PORT,
    CONF_PROTOCOL,
    CONF_RECIPIENTS,
    CONF_SCAN_INTERVAL,
    DOMAIN,
    PROTOCOL_MODEM,
)
from hardware_bridge.simulators.at_modem import PROFILES, ModemSimulator, ModemState

IMEI = PROFILES["quectel_ec25"].imei
RECIPIENTS = ("+905321234567", "+905441112233")


@pytest.fixture(autouse=True)
def short_modem_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent modem is given up on in about a second, not three per command."""
    monkeypatch.setattr(modem_hub, "COMMAND_TIMEOUT", 1.0)
    monkeypatch.setattr(modem_hub, "PROBE_TIMEOUT", 0.3)


@pytest.fixture
async def modem_sim() -> AsyncIterator[ModemSimulator]:
    """A Quectel EC25 with a ready SIM, registered at home on Turkcell."""
    async with ModemSimulator("quectel_ec25", ModemState()) as sim:
        yield sim


def modem_entry(
    port: str,
    recipients: Iterable[str] = RECIPIENTS,
    *,
    unique_id: str = IMEI,
    title: str = "Cellular modem (EC25)",
    **options: Any,
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=unique_id,
        data={CONF_PROTOCOL: PROTOCOL_MODEM, CONF_PORT: port},
        options={CONF_RECIPIENTS: list(recipients), CONF_SCAN_INTERVAL: 60, **options},
        version=1,
        minor_version=2,
    )


async def setup_modem(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def modem_entity_id(hass: HomeAssistant, platform: str, key: str, imei: str = IMEI) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{imei}_{key}")
    assert entity_id is not None, key
    return entity_id
