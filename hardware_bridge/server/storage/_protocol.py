"""The storage every server process talks to, whichever database is behind it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from hardware_bridge.server.storage._models import (
    AuthCodeHash,
    BatchResult,
    Command,
    CommandState,
    HistoryCursor,
    ReadingsPage,
    RetentionResult,
    StoredGap,
    StoredReading,
    Terminal,
    TerminalStatus,
)
from hardware_bridge.uplink import QueuedRecord, RecordValue

__all__ = ["Storage"]


@runtime_checkable
class Storage(Protocol):
    """Terminals, their readings, the tokens that may read them, and their commands.

    Every method commits before it returns. Identity is checked by the API layer; the storage
    keys every write by the terminal's Modem No, so a write on behalf of one terminal can never
    land in another's data.

    Claim rate limiting is not stored here: :class:`hardware_bridge.uplink.ClaimRateLimiter`
    keeps its counters in memory, which is exact for one server process. Several processes
    behind a load balancer each count on their own, so the per-modem limit becomes N times
    looser; a fleet either pins claims to one process (the balancer routes ``/claims`` by
    Modem No) or moves the counters into a shared store (a table of failures by key and time
    here, or Redis).
    """

    @property
    def retention(self) -> timedelta | None:
        """How long readings are kept (None: for ever)."""
        ...

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # -- terminals -----------------------------------------------------------------------------

    async def enrol(self, modem_no: str, upload_secret_hash: str, *, at: datetime) -> Terminal:
        """Enrol a terminal, or return it if it is enrolled with the same secret hash;
        :class:`EnrolmentConflictError` if with another."""
        ...

    async def terminal(self, modem_no: str) -> Terminal | None: ...

    async def set_auth_code(
        self, modem_no: str, auth_code: AuthCodeHash, *, at: datetime, revoke_tokens: bool
    ) -> None:
        """Store the terminal's auth-code hash; on a renewal (``revoke_tokens``) every token
        of the modem is revoked and ``tokens_revoked_before`` set to ``at``."""
        ...

    async def record_status(self, modem_no: str, status: TerminalStatus) -> None: ...

    async def modem_for_secret(self, upload_secret_hash: str) -> str | None:
        """The modem enrolled with this terminal secret hash, if any (to tell a terminal
        writing another modem's data, 403, from an unknown secret, 401)."""
        ...

    # -- descriptions --------------------------------------------------------------------------

    async def put_description(
        self, modem_no: str, document: str, *, at: datetime, replace: bool = True
    ) -> bool:
        """Store a terminal's description, a JSON document the API layer validated. With
        ``replace=False`` one already stored is kept (an import of older files must not
        overwrite what a terminal sent since). True if ``document`` was stored."""
        ...

    async def description(self, modem_no: str) -> str | None:
        """The description last stored for the modem (JSON), None if it sent none."""
        ...

    # -- uploads -------------------------------------------------------------------------------

    async def store_batch(
        self,
        modem_no: str,
        records: Sequence[QueuedRecord],
        *,
        stream: str | None = None,
        status: TerminalStatus | None = None,
    ) -> BatchResult:
        """Store a batch idempotently by (terminal, sequence number), and ``status`` (as
        :meth:`record_status`) in the same transaction.

        ``stream`` is the terminal's queue id: a new one means the terminal's sequence numbers
        restarted (a new queue database), so its numbers are kept apart in a new epoch; a late
        batch of an earlier queue still lands in that queue's numbering. None continues the
        current queue. The first batch of a queue sets where its numbering begins (a terminal
        sends from its oldest unacknowledged record). Raises :class:`UnknownTerminalError`.
        """
        ...

    async def latest(self, modem_no: str) -> tuple[StoredReading, ...]:
        """The newest value of each (device, key) of the modem."""
        ...

    async def history(
        self,
        modem_no: str,
        start: datetime,
        end: datetime,
        *,
        cursor: HistoryCursor | None = None,
        limit: int = 500,
    ) -> ReadingsPage:
        """Readings and events with ``start <= time < end`` in (time, sequence) order, after
        ``cursor``."""
        ...

    async def gaps(self, modem_no: str, start: datetime, end: datetime) -> tuple[StoredGap, ...]:
        """Gaps whose time span meets ``[start, end)``."""
        ...

    async def apply_retention(self, now: datetime) -> RetentionResult:
        """Remove readings, events and gaps older than :attr:`retention` before ``now``.

        The server calls it at start and then daily; any process may (they serialise on the
        database). Latest values stay, however old.
        """
        ...

    # -- tokens --------------------------------------------------------------------------------

    async def grant_token(self, modem_no: str, token_hash: str, *, at: datetime) -> None: ...

    async def revoke_token(self, token_hash: str) -> int:
        """Revoke one token for every modem it reads; returns the grants removed."""
        ...

    async def revoke_tokens(self, modem_no: str, *, at: datetime) -> int:
        """Revoke every token of a modem (auth code renewed); returns the grants removed."""
        ...

    async def token_modems(self, token_hash: str) -> frozenset[str]:
        """The modems a token may read (empty: unknown or revoked)."""
        ...

    # -- commands ------------------------------------------------------------------------------

    async def create_command(
        self,
        modem_no: str,
        device: str,
        key: str,
        value: RecordValue,
        *,
        at: datetime,
        expires: datetime | None = None,
    ) -> Command:
        """A pending command; one not delivered by ``expires`` ends expired."""
        ...

    async def pending_commands(self, modem_no: str) -> tuple[Command, ...]:
        """Commands without an outcome yet, delivered or not, expired or not."""
        ...

    async def deliver_commands(self, modem_no: str, *, at: datetime) -> tuple[Command, ...]:
        """The commands to hand the terminal at ``at``: without an outcome and not expired
        (``expires`` after ``at``). Their first delivery time is recorded. A command handed
        over once is handed over again until its outcome (a reply can be lost), but never
        after it expired."""
        ...

    async def expire_commands(
        self, now: datetime, modem_no: str | None = None
    ) -> tuple[Command, ...]:
        """Mark ``expired`` the commands never delivered whose ``expires`` is not after
        ``now`` (of one modem, or of all); returns them. A delivered command is never
        expired: the terminal may have carried it out, and reports what it did."""
        ...

    async def record_outcome(
        self,
        modem_no: str,
        command_id: str,
        state: CommandState,
        *,
        at: datetime,
        message: str | None = None,
    ) -> Command | None:
        """Record what the terminal did; None if the modem has no such command. An outcome
        already recorded is kept (a retried report changes nothing)."""
        ...

    async def command(self, command_id: str) -> Command | None: ...
