"""The Modbus profile catalogue: read in the executor, once per profiles folder, then cached.

Reading it means listing folders and parsing files, which must not happen in the event loop.
Flows, the options form and setup all ask here; the shipped profiles are read once per
Home Assistant run, a user's folder again only when a file in it was added, changed or removed.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from hardware_bridge import ProfileCatalogue, load_catalogue

from .const import DOMAIN

__all__ = ["async_get_catalogue"]

# A user folder's state: (name, size, mtime) of each entry; None if it is not a folder.
type _Fingerprint = tuple[tuple[str, int, int], ...] | None


@dataclass(frozen=True, slots=True)
class _Cached:
    fingerprint: _Fingerprint
    catalogue: ProfileCatalogue


DATA_CATALOGUES: HassKey[dict[str | None, _Cached]] = HassKey(f"{DOMAIN}_catalogues")
# Lines set up together at start must not each read the same files.
DATA_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_catalogues_lock")


def _fingerprint(folder: str) -> _Fingerprint:
    """What changes when a profile file in ``folder`` is added, edited or removed (blocking)."""
    try:
        with os.scandir(folder) as entries:
            return tuple(
                sorted((e.name, (st := e.stat()).st_size, st.st_mtime_ns) for e in entries)
            )
    except OSError:
        return None


def _load(folder: str | None) -> _Cached:
    fingerprint = _fingerprint(folder) if folder else None
    return _Cached(fingerprint, load_catalogue(folder))


async def async_get_catalogue(hass: HomeAssistant, folder: str | None) -> ProfileCatalogue:
    """Shipped profiles plus the user's ``folder`` (blank or None: shipped only)."""
    folder = (folder or "").strip() or None
    cache = hass.data.setdefault(DATA_CATALOGUES, {})
    async with hass.data.setdefault(DATA_LOCK, asyncio.Lock()):
        cached = cache.get(folder)
        if cached is not None and folder is not None:
            fingerprint = await hass.async_add_executor_job(_fingerprint, folder)
            if fingerprint != cached.fingerprint:
                cached = None
        if cached is None:
            cached = cache[folder] = await hass.async_add_executor_job(_load, folder)
    return cached.catalogue
