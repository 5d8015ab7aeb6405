"""The local API announced as ``_smartpower._tcp``: found by zeroconf's own browser with the
Modem No and the API path in its TXT record; not announced on a loopback address."""

from __future__ import annotations

import asyncio
import logging

import pytest
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from hardware_bridge.daemon.zeroconf_advert import SERVICE_TYPE, advertise, is_loopback

pytestmark = pytest.mark.usefixtures("socket_enabled")  # multicast on the loopback interface

MODEM_NO = "1234567897"


async def test_the_api_is_found_by_a_browser_with_its_modem_no_and_path() -> None:
    # announced on the loopback interface only (no packet leaves the machine); the address
    # announced is the one the API listens on
    advert = await advertise(MODEM_NO, "192.0.2.10", 8470, interfaces=["127.0.0.1"])
    assert advert is not None
    browser_side = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    found: asyncio.Queue[str] = asyncio.Queue()

    def seen(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Added:
            found.put_nowait(name)

    browser = AsyncServiceBrowser(browser_side.zeroconf, SERVICE_TYPE, handlers=[seen])
    try:
        async with asyncio.timeout(20):
            name = await found.get()
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(browser_side.zeroconf, 3000)
    finally:
        await browser.async_cancel()
        await browser_side.async_close()
        await advert.close()
    assert name == f"SmartPower {MODEM_NO}.{SERVICE_TYPE}"
    assert info.port == 8470
    assert info.properties[b"modem_no"] == MODEM_NO.encode()
    assert info.properties[b"path"] == b"/api/v1"
    assert info.parsed_addresses() == ["192.0.2.10"]


async def test_a_loopback_api_is_not_announced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for host in ("127.0.0.1", "::1", "localhost"):
        assert is_loopback(host)
        assert await advertise(MODEM_NO, host, 8470) is None
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.20")
