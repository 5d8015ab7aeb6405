"""The one relay interface the code above the hardware sees.

A GPIO output pin and a relay on a Modbus I/O board both implement :class:`Relay`; the
fail-safe supervisor, the daemon and the Home Assistant switches use nothing else. Writes are
confirmed (DESIGN.md): :meth:`Relay.write` returns only after the relay has been read back in
the requested state, and raises :class:`RelayError` otherwise.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Relay", "RelayError"]


class RelayError(Exception):
    """A relay could not be written or read, or did not take the requested state.

    The message names the relay and what failed, e.g. ``relay 'c1': read back off after
    writing on``.
    """

    def __init__(self, relay: str, reason: str) -> None:
        self.relay = relay
        self.reason = reason
        super().__init__(f"relay {relay!r}: {reason}")


@runtime_checkable
class Relay(Protocol):
    """A relay (or any on/off output) whose state can be written and read back."""

    @property
    def name(self) -> str:
        """Stable key of the relay, e.g. ``c1`` (used in events and unique ids)."""
        ...

    async def read(self) -> bool:
        """The relay's present state (True = energised); :class:`RelayError` if unreadable."""
        ...

    async def write(self, on: bool) -> None:
        """Drive the relay and confirm by reading it back; :class:`RelayError` if not confirmed."""
        ...
