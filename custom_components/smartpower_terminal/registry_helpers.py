"""Device registry look-ups that work on every Home Assistant release the integration supports."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers import device_registry as dr

__all__ = ["find_device"]


def find_device(
    registry: dr.DeviceRegistry, identifier: tuple[str, str], entry: ConfigEntry
) -> dr.DeviceEntry | None:
    """Our device with this identifier (newer releases look identifiers up per entry; the
    old look-up is deprecated there and fails in their tests)."""
    by_identifier = getattr(registry, "async_get_device_by_identifier", None)
    if by_identifier is not None:
        return by_identifier(identifier, entry.entry_id)  # type: ignore[no-any-return]
    return registry.async_get_device(identifiers={identifier})
