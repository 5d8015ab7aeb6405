"""Setting up a remote terminal's entry: the stored token is checked against the server, a
refused one starts the reauth flow, a server that does not answer is retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.smartpower_terminal.const import CONF_PROTOCOL, DOMAIN
from custom_components.smartpower_terminal.remote_const import CONF_MODEM_NO, PROTOCOL_REMOTE

from .fake_smartpower import MODEM_NO, FakeSmartPower, serve, serve_app
from .runtime_helpers import device_with

pytestmark = pytest.mark.usefixtures("socket_enabled")

TOKEN = "spt_4f9c1e0b7a2d4c8e9f3a6b5d1c7e2f80"


@pytest.fixture
async def server() -> AsyncIterator[FakeSmartPower]:
    async with serve(FakeSmartPower(tokens={TOKEN})) as fake:
        yield fake


def _entry(url: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"SmartPower terminal {MODEM_NO}",
        unique_id=MODEM_NO,
        data={
            CONF_PROTOCOL: PROTOCOL_REMOTE,
            CONF_URL: url,
            CONF_MODEM_NO: MODEM_NO,
            CONF_TOKEN: TOKEN,
        },
    )


async def _set_up(hass: HomeAssistant, url: str) -> MockConfigEntry:
    entry = _entry(url)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_the_terminal_is_registered_from_its_description(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = await _set_up(hass, server.url)
    assert entry.state is ConfigEntryState.LOADED
    device = device_with(hass, (DOMAIN, entry.entry_id), entry)
    assert device is not None
    assert device.name == "Pump station"
    assert device.sw_version == "0.2.0"
    assert entry.runtime_data.hub.terminal.description == server.description

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_a_refused_token_starts_the_reauth_flow(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.revoke_all()  # the auth code was renewed on the terminal
    entry = await _set_up(hass, server.url)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert flows[0]["step_id"] == "reauth_confirm"


async def test_an_unreachable_server_is_retried(hass: HomeAssistant) -> None:
    async with serve(FakeSmartPower()) as fake:
        url = fake.url
    entry = await _set_up(hass, url)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "does not answer" in str(entry.reason)


async def test_a_terminal_the_server_no_longer_knows_is_retried(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.modem_no = "SP2611300002"
    entry = await _set_up(hass, server.url)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_an_address_that_is_no_smartpower_server_is_retried(hass: HomeAssistant) -> None:
    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_json)
    async with serve_app(app) as url:
        entry = await _set_up(hass, url)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "SmartPower" in str(entry.reason)


async def test_diagnostics_hide_the_token_modem_no_and_serials(
    hass: HomeAssistant, server: FakeSmartPower, hass_client: ClientSessionGenerator
) -> None:
    entry = await _set_up(hass, server.url)
    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(result)
    for secret in (TOKEN, MODEM_NO, "63251847"):
        assert secret not in text
    assert result["entry"]["data"][CONF_URL] == server.url
    assert set(result["devices"]) == {"meter1", "terminal"}
