"""The local API announced on the LAN: ``_smartpower._tcp.local.`` with zeroconf (mDNS/DNS-SD).

Home Assistant finds a terminal by this service and pairs with it with the Modem No and the
auth code. The TXT record says which modem answers there and where its API is
(``modem_no``, ``path=/api/v1``, ``version``); nothing secret is in it. A daemon listening on
a loopback address is reachable from this computer only: it is not announced. Needs the
``lan`` extra (``zeroconf``); without it the API is served but not announced (said once).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any

__all__ = ["SERVICE_TYPE", "Advert", "advertise", "service_info"]

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_smartpower._tcp.local."
API_PATH = "/api/v1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this computer only (``localhost``, 127/8, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _addresses(host: str) -> list[bytes]:
    """The addresses to announce: the one listened on, or every non-loopback IPv4 address of
    this computer for a wildcard (``0.0.0.0``, ``::``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address.is_unspecified:
        return [address.packed]
    found: set[bytes] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            candidate = ipaddress.ip_address(info[4][0])
            if not candidate.is_loopback:
                found.add(candidate.packed)
    except OSError:
        pass
    if not found:  # the address the default route leaves from (no packet is sent)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("192.0.2.1", 9))
                found.add(ipaddress.ip_address(probe.getsockname()[0]).packed)
            except OSError:
                pass
    return sorted(found)


def service_info(
    modem_no: str, host: str, port: int, *, addresses: list[bytes] | None = None
) -> Any:
    """The zeroconf ``ServiceInfo`` for a terminal's API on ``host:port``."""
    from zeroconf import ServiceInfo  # noqa: PLC0415 - the ``lan`` extra

    from hardware_bridge import __version__  # noqa: PLC0415

    return ServiceInfo(
        SERVICE_TYPE,
        f"SmartPower {modem_no}.{SERVICE_TYPE}",
        port=port,
        properties={"modem_no": modem_no, "path": API_PATH, "version": __version__},
        server=f"smartpower-{modem_no}.local.",
        addresses=addresses if addresses is not None else _addresses(host),
    )


class Advert:
    """A registered service; :meth:`close` withdraws it."""

    def __init__(self, zeroconf: Any, info: Any, announcing: asyncio.Future[Any]) -> None:
        self._zeroconf = zeroconf
        self.info = info
        self._announcing = announcing
        """The announcements zeroconf repeats after registering (they run on their own)."""

    async def close(self) -> None:
        self._announcing.cancel()
        await asyncio.gather(self._announcing, return_exceptions=True)
        try:
            goodbye = await self._zeroconf.async_unregister_service(self.info)
            await goodbye
        finally:
            await self._zeroconf.async_close()


async def advertise(
    modem_no: str, host: str, port: int, *, interfaces: Any = None
) -> Advert | None:
    """Announce the API listening on ``host:port``; None when it is not announced."""
    if is_loopback(host):
        _LOGGER.debug("The local API listens on %s only: not announced", host)
        return None
    try:
        from zeroconf import InterfaceChoice  # noqa: PLC0415 - the ``lan`` extra
        from zeroconf.asyncio import AsyncZeroconf  # noqa: PLC0415
    except ImportError:
        _LOGGER.info("zeroconf is not installed (the lan extra): the local API is not announced")
        return None
    info = service_info(modem_no, host, port)
    if not info.addresses:
        _LOGGER.info("No LAN address found to announce the local API with")
        return None
    chosen = interfaces if interfaces is not None else InterfaceChoice.All
    zeroconf = AsyncZeroconf(interfaces=chosen)
    try:
        announcing = asyncio.ensure_future(await zeroconf.async_register_service(info))
    except Exception as err:  # a LAN without multicast must not stop the terminal
        await zeroconf.async_close()
        _LOGGER.warning("The local API could not be announced with zeroconf: %s", err)
        return None
    _LOGGER.info("Local API announced as %s", info.name)
    return Advert(zeroconf, info, announcing)
