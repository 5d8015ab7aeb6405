"""Typed runtime data of a loaded SmartPower Terminal entry (one serial line)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from hardware_bridge import ProfileCatalogue, ScanHit

if TYPE_CHECKING:
    from .coordinator import LineHub, SmartPowerCoordinator
    from .reactive import ReactiveTracker

__all__ = ["SmartPowerConfigEntry", "SmartPowerData"]


@dataclass(slots=True)
class SmartPowerData:
    hub: LineHub
    fast: SmartPowerCoordinator
    slow: SmartPowerCoordinator
    reactive: ReactiveTracker
    catalogue: ProfileCatalogue
    io: SmartPowerCoordinator | None = None
    """Relays and inputs, polled on their own short interval (with I/O support on)."""

    async def scan(self, first: int = 1, last: int = 247, timeout: float = 0.1) -> list[ScanHit]:  # noqa: ASYNC109
        """Scan the loaded Modbus line between polls (the terminal's lock keeps one bus user).

        Raises ``LineUnavailableError`` when the port is gone.
        """
        return await self.hub.terminal.scan(first, last, timeout=timeout)

    @property
    def coordinators(self) -> tuple[SmartPowerCoordinator, ...]:
        return (self.fast, self.slow) if self.io is None else (self.fast, self.slow, self.io)


type SmartPowerConfigEntry = ConfigEntry[SmartPowerData]
