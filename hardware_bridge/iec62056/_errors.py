"""Typed errors of the IEC 62056-21 stack.

The split follows h11: :class:`LocalProtocolError` means *we* asked for something the
protocol does not allow (a bad address, an impossible baud character); :class:`RemoteProtocolError`
means the meter (or a capture file) sent bytes that break the protocol. Transport failures
(:class:`NoResponseError`, :class:`LineError`) are not protocol errors but share the base
:class:`IecError`, so a caller can catch everything the meter client raises with one name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardware_bridge.iec62056._frames import DataBlock

__all__ = [
    "BccError",
    "IecError",
    "IncompleteReadoutError",
    "LineError",
    "LocalProtocolError",
    "NoResponseError",
    "NotAReadoutError",
    "ProtocolError",
    "ReadoutOverrunError",
    "RemoteProtocolError",
    "SessionTimeoutError",
    "UnexpectedFrameError",
]


class IecError(Exception):
    """Base of every error raised by :mod:`hardware_bridge.iec62056`."""


class ProtocolError(IecError):
    """Abstract: the bytes exchanged break IEC 62056-21. Use a subclass."""

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise a subclass")
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """We tried to build or send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The meter (or a captured file) sent something that breaks the protocol."""


class BccError(RemoteProtocolError):
    """A data block's block check character does not match its contents.

    The complete block is kept in :attr:`block`, so a caller may still look at it.
    """

    def __init__(self, message: str, block: DataBlock) -> None:
        super().__init__(message)
        self.block = block


class UnexpectedFrameError(RemoteProtocolError):
    """The meter answered, but not with what the session expected at this point."""


class ReadoutOverrunError(RemoteProtocolError):
    """The readout outgrew what it could plausibly be (``max_readout_size``) without its end:
    a meter that streams and never sends ETX. Retrying, slower, would only take longer."""


class SessionTimeoutError(ReadoutOverrunError):
    """The session outlasted what its readout could plausibly take (a meter that dribbles
    without ever ending its block, or a line that never falls silent)."""


class IncompleteReadoutError(RemoteProtocolError):
    """A readout ended without its end (``!``, ETX, BCC): what arrived is not a full reading."""


class NotAReadoutError(RemoteProtocolError):
    """A captured file is not an IEC 62056-21 readout; the message says why, in one line."""


class NoResponseError(IecError):
    """The meter stayed silent (reaction or inter-character timeout)."""


class LineError(IecError):
    """The serial line could not be opened or configured, or went away."""
