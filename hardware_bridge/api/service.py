"""What serves the SmartPower API: the two halves an HTTP app exposes, as protocols.

* :class:`ClientSide` — what owners' clients (Home Assistant) ask of a modem: claim it with the
  Modem No + auth code, then, with the bearer token, its description, latest values, history,
  relay commands and live events. The terminal daemon implements it for its own modem (on the
  LAN), the SmartPower server for every modem enrolled with it.
* :class:`TerminalSide` — what terminals send a server: enrolment, their description, a renewed
  auth code, batches of readings and events, command outcomes, and a wait for the commands
  created for it (so a command reaches it in seconds, not at its next upload). Only the server
  implements it.

Implementations raise the API's errors (:mod:`hardware_bridge.api._errors`):
:class:`InvalidAuthCode`, :class:`Unauthorized`, :class:`NotFound`, :class:`RateLimited`,
:class:`ApiError` with a code from the contract (``forbidden``, ``enrolment_refused``,
``already_enrolled``, ``sequence_conflict``, …); the HTTP app turns each into the status and
body ``docs/api/smartpower.openapi.yaml`` lists. Secrets (auth codes, tokens, terminal secrets)
arrive here in plain text and are compared in constant time against hashes; they never reach
a log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from hardware_bridge.api._batch import Batch, BatchAck
from hardware_bridge.api._model import (
    Claim,
    Command,
    CommandOutcome,
    CommandRequest,
    Enrolment,
    EnrolmentAck,
    ReadingsPage,
    TerminalDescription,
)
from hardware_bridge.api._sse import SseEvent

__all__ = ["ClientSide", "TerminalSide"]


class ClientSide(Protocol):
    """The owners' half of the API (``/claims``, ``/tokens/current``, ``/modems/{no}/…``)."""

    async def claim(self, modem_no: str, auth_code: str, client: str) -> Claim:
        """A new token for ``modem_no``; ``client`` (the peer address) keys the rate limit.

        InvalidAuthCode for a wrong code *or* an unknown modem (the two are not told apart),
        RateLimited after too many failures.
        """
        ...

    async def token_modems(self, token: str) -> frozenset[str]:
        """The modems a bearer token may read; Unauthorized when it is unknown or revoked."""
        ...

    async def revoke_token(self, token: str) -> None:
        """Forget this token (``DELETE /tokens/current``); Unauthorized if it is unknown."""
        ...

    async def description(self, modem_no: str) -> TerminalDescription:
        """NotFound when the terminal has not described itself yet."""
        ...

    async def latest(self, modem_no: str) -> ReadingsPage:
        """The latest reading of every value (``next`` is None)."""
        ...

    async def history(
        self, modem_no: str, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> ReadingsPage:
        """Readings in [start, end), oldest first, a page at a time (``next`` continues)."""
        ...

    async def create_command(self, modem_no: str, request: CommandRequest) -> Command:
        """Queue a relay command; ApiError ``unknown_point`` (field ``key``) for a key the
        terminal has no relay for."""
        ...

    async def command(self, modem_no: str, command_id: str) -> Command:
        """One command and its outcome so far; NotFound for an unknown id."""
        ...

    def events(self, modem_no: str, last_event_id: str | None) -> AsyncIterator[SseEvent]:
        """Live readings, alarms and command outcomes, from after ``last_event_id`` when the
        source still has it; ends when the server stops."""
        ...


class TerminalSide(Protocol):
    """The terminals' half of the API (a server's only)."""

    async def enrol(self, modem_no: str, enrolment: Enrolment, client: str) -> EnrolmentAck:
        """First contact (or a repeat with the same secret). ApiError ``enrolment_refused``
        when the server's enrolment key is required and wrong, ``already_enrolled`` when the
        Modem No is enrolled with another secret; RateLimited."""
        ...

    async def authenticate(self, modem_no: str, terminal_secret: str) -> None:
        """Nothing when ``terminal_secret`` is this terminal's (constant time); ApiError
        ``forbidden`` (403) when it is another enrolled terminal's, Unauthorized otherwise."""
        ...

    async def put_description(self, modem_no: str, description: TerminalDescription) -> None: ...

    async def put_auth_code(self, modem_no: str, auth_code: str) -> None:
        """A renewed auth code (stored hashed); every token issued for the modem is revoked."""
        ...

    async def store_batch(self, modem_no: str, batch: Batch) -> BatchAck:
        """Store what the batch holds once (idempotent by sequence), acknowledge the highest
        contiguous sequence, and hand back the commands waiting for the terminal (never one
        past its expiry)."""
        ...

    async def report_outcome(self, modem_no: str, outcome: CommandOutcome) -> Command:
        """A command's outcome from the terminal; NotFound for a command of another modem."""
        ...

    async def pending_commands(self, modem_no: str, wait: float) -> tuple[Command, ...]:
        """The commands waiting for the terminal, handed over as by :meth:`store_batch`; when
        there are none, wait up to ``wait`` seconds for one to be created (woken by the
        command's event, not by polling) and hand that over; ``()`` when none came."""
        ...
