"""The profile catalogue is read in the executor once, and again only when a file changed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from unittest.mock import patch

from homeassistant.core import HomeAssistant

from custom_components.smartpower_terminal import catalogue as catalogue_module
from custom_components.smartpower_terminal.catalogue import async_get_catalogue
from hardware_bridge import load_catalogue

PROFILE = """\
manufacturer: Acme
model: PF-{n}
points:
  - key: cos_phi
    name: cos phi
    address: 0
    type: int16
    scale: 0.01
"""


async def test_shipped_profiles_are_read_once(hass: HomeAssistant) -> None:
    with patch.object(catalogue_module, "load_catalogue", wraps=load_catalogue) as loads:
        first = await async_get_catalogue(hass, None)
        again = await async_get_catalogue(hass, "  ")  # a blank folder option means none
    assert again is first
    assert loads.call_count == 1
    assert "eastron_sdm630" in first


async def test_lines_set_up_together_share_one_read(hass: HomeAssistant) -> None:
    with patch.object(catalogue_module, "load_catalogue", wraps=load_catalogue) as loads:
        first, second = await asyncio.gather(
            async_get_catalogue(hass, None), async_get_catalogue(hass, None)
        )
    assert first is second
    assert loads.call_count == 1


async def test_a_users_folder_is_read_again_only_when_it_changed(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "acme_pf1.yaml").write_text(PROFILE.format(n=1))
    with patch.object(catalogue_module, "load_catalogue", wraps=load_catalogue) as loads:
        first = await async_get_catalogue(hass, str(folder))
        assert await async_get_catalogue(hass, str(folder)) is first
        assert loads.call_count == 1

        (folder / "acme_pf2.yaml").write_text(PROFILE.format(n=2))
        changed = await async_get_catalogue(hass, str(folder))
        assert loads.call_count == 2

        shipped = await async_get_catalogue(hass, None)  # another folder, its own entry
        assert loads.call_count == 3
    assert "acme_pf1" in first
    assert "acme_pf2" not in first
    assert "acme_pf2" in changed
    assert "acme_pf1" not in shipped


async def test_a_missing_folder_is_reported_by_the_catalogue(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    catalogue = await async_get_catalogue(hass, str(tmp_path / "gone"))
    assert [e.reason for e in catalogue.errors] == ["profile directory does not exist"]
    assert "eastron_sdm630" in catalogue
