"""The SmartPower server: both halves of the API over one :class:`Storage`.

Secrets are never stored in plain text: auth codes as scrypt hashes (checked in an executor,
a claim costs tens of milliseconds), client tokens and terminal secrets as SHA-256 (both are
256-bit random strings, so a fast hash is enough), compared in constant time. Failed claims
and refused enrolments are rate-limited per client address and per Modem No in memory
(:class:`ClaimRateLimiter`; see :class:`Storage` for several processes).

Live events go to this process's event-stream subscribers (:class:`EventHub`); several server
processes on one PostgreSQL database also pass them to each other through :attr:`notifier`
(``LISTEN``/``NOTIFY``, :class:`~hardware_bridge.server._notify.PostgresNotifier`).

Everything else a process knows is in the :class:`Storage` (descriptions included), so any
process answers for any terminal.

A command waits for its terminal's next upload — or reaches it at once when the terminal keeps
a ``pending-commands`` wait open (:meth:`ServerService.pending_commands`, woken by the
command's event, from this process or through :attr:`notifier` from another) — but not for
ever: one the terminal has not fetched within twice its send period and a minute (at most
``command_expiry``) ends ``expired`` and is never delivered — a pump is not switched on hours
after it was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from hardware_bridge.api import (
    Alarm,
    ApiError,
    ApiValidationError,
    Batch,
    BatchAck,
    Claim,
    Command,
    CommandOutcome,
    CommandRequest,
    CommandStatus,
    CommandType,
    Enrolment,
    EnrolmentAck,
    InvalidAuthCode,
    NotFound,
    OutcomeStatus,
    RateLimited,
    Reading,
    ReadingsPage,
    SseEvent,
    TerminalDescription,
    Unauthorized,
    format_time,
    to_millisecond,
)
from hardware_bridge.server._events import EventHub
from hardware_bridge.server.storage import (
    AuthCodeHash,
    CommandState,
    EnrolmentConflictError,
    HistoryCursor,
    Storage,
    StoredReading,
    TerminalStatus,
    UnknownTerminalError,
)
from hardware_bridge.server.storage import Command as StoredCommand
from hardware_bridge.uplink import ClaimRateLimiter, QueuedRecord, Record, RecordKind
from hardware_bridge.uplink import Gap as QueueGap

__all__ = ["DEFAULT_COMMAND_EXPIRY", "ServerService", "hash_secret"]

_LOGGER = logging.getLogger(__name__)

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
TOKEN_PREFIX = "spt_"
RETENTION_INTERVAL = timedelta(days=1)
DEFAULT_COMMAND_EXPIRY = timedelta(hours=1)
"""The longest a command waits for its terminal to fetch it (the server's ``--command-expiry``)."""
COMMAND_MARGIN = timedelta(minutes=1)
"""Added to two send periods: an upload a little late (a slow network) still fetches it."""
EXPIRY_INTERVAL = timedelta(seconds=30)
"""How often the server looks for commands that expired without an upload of their terminal."""


_NO_CODE = AuthCodeHash(n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, salt=b"\0" * 16, hash=b"\0" * 32)
"""Checked for a modem without an auth code, so an unknown Modem No costs a claim the same
time as a wrong code and the answer's timing does not tell which Modem Nos exist."""


def hash_secret(secret: str) -> str:
    """How tokens and terminal secrets are stored: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _hash_auth_code(code: str) -> AuthCodeHash:
    from hardware_bridge.uplink import normalize_auth_code  # noqa: PLC0415

    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        normalize_auth_code(code).encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=32,
    )
    return AuthCodeHash(n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, salt=salt, hash=digest)


class Notifier(Protocol):
    async def send(self, items: list[tuple[str, str, str]]) -> None:
        """Hand (modem, event name, data) to the other server processes."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def _modem_not_found(modem_no: str) -> NotFound:
    return NotFound("modem_not_found", f"No terminal {modem_no} is known.", "modem_no", status=404)


def _api_command(stored: StoredCommand) -> Command:
    """The storage knows pending/confirmed/failed/expired; a pending command handed to the
    terminal is ``sent``. A succeeded relay command reads back the state it set, so its
    confirmed state is the commanded one; a failed or expired one's is unknown."""
    state = stored.value if isinstance(stored.value, bool) else bool(stored.value)
    if stored.state is CommandState.CONFIRMED:
        status, confirmed = CommandStatus.SUCCEEDED, state
    elif stored.state is CommandState.FAILED:
        status, confirmed = CommandStatus.FAILED, None
    elif stored.state is CommandState.EXPIRED:
        status, confirmed = CommandStatus.EXPIRED, None
    else:
        sent = stored.delivered is not None
        status, confirmed = (CommandStatus.SENT if sent else CommandStatus.PENDING), None
    return Command(
        id=stored.id,
        type=CommandType.RELAY_SET,
        device=stored.device,
        key=stored.key,
        state=state,
        status=status,
        created=to_millisecond(stored.created),
        updated=to_millisecond(stored.outcome_time or stored.delivered or stored.created),
        expires=None if stored.expires is None else to_millisecond(stored.expires),
        confirmed_state=confirmed,
        message=stored.message,
    )


def _reading(stored: StoredReading) -> Reading:
    return Reading(
        device=stored.device,
        key=stored.key,
        value=stored.value,
        unit=stored.unit,
        time=to_millisecond(stored.time),
    )


# Alarms a terminal sends for a relay or an input that changed, with its new state.
_POINT_STATE_KINDS = frozenset({"io_alarm", "state_changed", "input_changed"})


def _point_state(alarm: Alarm) -> str | None:
    """The key of the relay or input whose new state ``alarm`` gives, else None. A terminal
    reads its I/O every second but sends it as a reading only at its start, then each change
    as such an alarm: stored as a reading of the point, it is the point's latest value."""
    if alarm.kind not in _POINT_STATE_KINDS or alarm.device is None or alarm.key is None:
        return None
    return alarm.key if isinstance(alarm.value, bool) else None


def _records(batch: Batch) -> list[QueuedRecord]:
    records = [
        QueuedRecord(
            r.seq,
            Record(device=r.device, key=r.key, value=r.value, unit=r.unit, time=r.time),
        )
        for r in batch.readings
    ]
    for event in batch.events:
        alarm = event.alarm
        state = _point_state(alarm)
        records.append(
            QueuedRecord(
                event.seq,
                Record(
                    device=alarm.device or "terminal",
                    key=alarm.kind if state is None else state,
                    value=alarm.value,
                    unit=None,
                    time=alarm.time,
                    kind=RecordKind.EVENT if state is None else RecordKind.READING,
                ),
            )
        )
    for gap in batch.gaps:
        start = gap.first_time or gap.last_time or batch.created
        records.append(
            QueuedRecord(
                gap.last_seq,
                QueueGap(
                    count=gap.count,
                    first_seq=gap.first_seq,
                    last_seq=gap.last_seq,
                    start=start,
                    end=gap.last_time or start,
                ),
            )
        )
    records.sort(key=lambda record: record.seq)
    return records


def _json(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class ServerService:
    """:class:`~hardware_bridge.api.service.ClientSide` and ``TerminalSide`` for every modem
    enrolled with this server."""

    def __init__(
        self,
        storage: Storage,
        *,
        enrolment_key: str | None = None,
        claim_limiter: ClaimRateLimiter | None = None,
        enrolment_limiter: ClaimRateLimiter | None = None,
        clock: Callable[[], datetime] = _now,
        command_expiry: timedelta = DEFAULT_COMMAND_EXPIRY,
    ) -> None:
        if command_expiry <= timedelta(0):
            raise ValueError("command_expiry must be positive")
        self._storage = storage
        self._command_expiry = command_expiry
        self._enrolment_key = enrolment_key
        self._claims = claim_limiter or ClaimRateLimiter()
        self._enrolments = enrolment_limiter or ClaimRateLimiter(per_client=20, per_modem=20)
        self._clock = clock
        self.events_hub = EventHub()
        self.notifier: Notifier | None = None
        """Carries events to other server processes (PostgreSQL: :class:`PostgresNotifier`)."""

    # -- lifecycle -----------------------------------------------------------------------

    async def retention_pass(self) -> None:
        """Remove what is older than the storage's retention (nothing when it keeps all)."""
        if self._storage.retention is None:
            return
        result = await self._storage.apply_retention(self._clock())
        _LOGGER.info(
            "retention: removed what was older than %s (%d rows, %d partitions)",
            format_time(result.cutoff),
            result.deleted_rows,
            len(result.dropped_partitions),
        )

    async def run_retention(self, interval: timedelta = RETENTION_INTERVAL) -> None:
        """A retention pass now and then every ``interval``, until cancelled."""
        if self._storage.retention is None:
            return
        while True:
            try:
                await self.retention_pass()
            except Exception:
                _LOGGER.exception("retention pass failed; trying again in %s", interval)
            await asyncio.sleep(interval.total_seconds())

    async def expiry_pass(self, modem_no: str | None = None, *, at: datetime | None = None) -> int:
        """Mark expired the commands of ``modem_no`` (or of every modem) that their terminal
        did not fetch by ``at`` (now), and tell the event streams; returns how many."""
        expired = await self._storage.expire_commands(at or self._clock(), modem_no)
        if expired:
            await self._publish(
                [(c.modem_no, "command", _json(_api_command(c).to_json())) for c in expired]
            )
            for command in expired:
                _LOGGER.info(
                    "command %s for modem %s expired: its terminal did not fetch it in time",
                    command.id,
                    command.modem_no,
                )
        return len(expired)

    async def run_command_expiry(self, interval: timedelta = EXPIRY_INTERVAL) -> None:
        """An expiry pass every ``interval``, until cancelled: a client following a command
        learns it expired even when its terminal stays silent."""
        while True:
            try:
                await self.expiry_pass()
            except Exception:
                _LOGGER.exception("command expiry pass failed; trying again in %s", interval)
            await asyncio.sleep(interval.total_seconds())

    def close(self) -> None:
        self.events_hub.close()

    # -- client half ---------------------------------------------------------------------

    async def claim(self, modem_no: str, auth_code: str, client: str) -> Claim:
        wait = self._claims.retry_after(client, modem_no)
        if wait is not None:
            raise RateLimited(
                "rate_limited", f"Too many attempts; try again in {wait} s.", retry_after=wait
            )
        terminal = await self._storage.terminal(modem_no)
        stored = None if terminal is None else terminal.auth_code
        check = _NO_CODE if stored is None else stored
        ok = await asyncio.get_running_loop().run_in_executor(None, check.verify, auth_code)
        ok = ok and stored is not None
        if not ok:
            self._claims.failure(client, modem_no)
            _LOGGER.info("refused a claim for modem %s from %s", modem_no, client)
            raise InvalidAuthCode(
                "invalid_auth_code",
                "The Modem No and auth code do not match.",
                "auth_code",
                status=401,
            )
        self._claims.success(client, modem_no)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_hash = hash_secret(token)
        issued = to_millisecond(self._clock())
        await self._storage.grant_token(modem_no, token_hash, at=issued)
        return Claim(
            token=token, token_id=f"tok_{token_hash[:16]}", modem_no=modem_no, issued=issued
        )

    async def token_modems(self, token: str) -> frozenset[str]:
        modems = await self._storage.token_modems(hash_secret(token))
        if not modems:
            raise Unauthorized("unauthorized", "The token is unknown or revoked.", status=401)
        return modems

    async def revoke_token(self, token: str) -> None:
        if not await self._storage.revoke_token(hash_secret(token)):
            raise Unauthorized("unauthorized", "The token is unknown or revoked.", status=401)

    async def _stored_description(self, modem_no: str) -> TerminalDescription | None:
        document = await self._storage.description(modem_no)
        if document is None:
            return None
        try:
            return TerminalDescription.from_json(json.loads(document))
        except (ValueError, ApiValidationError):
            # validated when it was stored: only a hand-edited row gets here; as if never sent
            # (the terminal sends it again at its next start)
            _LOGGER.warning("modem %s: the stored description is not valid; ignored", modem_no)
            return None

    async def description(self, modem_no: str) -> TerminalDescription:
        description = await self._stored_description(modem_no)
        if description is None:
            raise _modem_not_found(modem_no)
        return description

    async def latest(self, modem_no: str) -> ReadingsPage:
        stored = await self._storage.latest(modem_no)
        readings = tuple(_reading(s) for s in stored if s.kind is RecordKind.READING)
        return ReadingsPage(readings=readings, next=None)

    async def history(
        self, modem_no: str, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> ReadingsPage:
        after = None
        if cursor is not None:
            try:
                after = HistoryCursor.decode(cursor)
            except ValueError:
                after = None
            start_us = int(start.timestamp() * 1_000_000)
            end_us = int(end.timestamp() * 1_000_000)
            if after is None or not start_us <= after.time_us < end_us:
                raise ApiError(
                    "invalid_cursor",
                    "The cursor does not belong to this query.",
                    "cursor",
                    status=400,
                )
        page = await self._storage.history(modem_no, start, end, cursor=after, limit=limit)
        readings = tuple(_reading(s) for s in page.readings if s.kind is RecordKind.READING)
        following = None if page.next_cursor is None else page.next_cursor.encode()
        return ReadingsPage(readings=readings, next=following)

    async def create_command(self, modem_no: str, request: CommandRequest) -> Command:
        description = await self._stored_description(modem_no)
        relays = set()
        if description is not None:
            relays = {
                (device.key, io.key)
                for device in description.devices
                for io in device.io
                if io.kind.value == "relay"
            }
        if description is None or (request.device, request.key) not in relays:
            raise ApiError(
                "unknown_relay",
                f"Device {request.device} has no relay {request.key}.",
                "key",
                status=400,
            )
        now = self._clock()
        wait = min(
            2 * timedelta(seconds=description.send_period) + COMMAND_MARGIN, self._command_expiry
        )
        try:
            stored = await self._storage.create_command(
                modem_no, request.device, request.key, request.state, at=now, expires=now + wait
            )
        except UnknownTerminalError:
            raise _modem_not_found(modem_no) from None
        command = _api_command(stored)
        await self._publish([(modem_no, "command", _json(command.to_json()))])
        return command

    async def command(self, modem_no: str, command_id: str) -> Command:
        await self.expiry_pass(modem_no)
        stored = await self._storage.command(command_id)
        if stored is None or stored.modem_no != modem_no:
            raise NotFound(
                "command_not_found",
                f"No command {command_id} on this modem.",
                "command_id",
                status=404,
            )
        return _api_command(stored)

    def events(self, modem_no: str, last_event_id: str | None) -> AsyncIterator[SseEvent]:
        return self.events_hub.subscribe(modem_no, last_event_id)

    # -- terminal half -------------------------------------------------------------------

    async def enrol(self, modem_no: str, enrolment: Enrolment, client: str) -> EnrolmentAck:
        wait = self._enrolments.retry_after(client, modem_no)
        if wait is not None:
            raise RateLimited(
                "rate_limited", f"Too many attempts; try again in {wait} s.", retry_after=wait
            )
        if self._enrolment_key is not None and not hmac.compare_digest(
            (enrolment.enrolment_key or "").encode("utf-8"), self._enrolment_key.encode("utf-8")
        ):
            self._enrolments.failure(client, modem_no)
            _LOGGER.info("refused to enrol modem %s from %s: wrong enrolment key", modem_no, client)
            raise ApiError(
                "enrolment_refused",
                "This server requires its enrolment key.",
                "enrolment_key",
                status=403,
            )
        secret_hash = hash_secret(enrolment.terminal_secret)
        before = await self._storage.terminal(modem_no)
        now = self._clock()
        try:
            terminal = await self._storage.enrol(modem_no, secret_hash, at=now)
        except EnrolmentConflictError:
            self._enrolments.failure(client, modem_no)
            raise ApiError(
                "already_enrolled",
                f"Modem {modem_no} is enrolled with another terminal secret.",
                "modem_no",
                status=409,
            ) from None
        loop = asyncio.get_running_loop()
        current = terminal.auth_code
        same = current is not None and await loop.run_in_executor(
            None, current.verify, enrolment.auth_code
        )
        if not same:
            hashed = await loop.run_in_executor(None, _hash_auth_code, enrolment.auth_code)
            # a known terminal enrolling again with another code renewed it: earlier tokens go
            await self._storage.set_auth_code(
                modem_no, hashed, at=now, revoke_tokens=current is not None
            )
        if before is None:
            _LOGGER.info("enrolled modem %s", modem_no)
        return EnrolmentAck(
            modem_no=modem_no,
            enrolled=to_millisecond(terminal.enrolled),
            acknowledged_seq=terminal.acked_seq,
        )

    async def authenticate(self, modem_no: str, terminal_secret: str) -> None:
        terminal = await self._storage.terminal(modem_no)
        presented = hash_secret(terminal_secret)
        expected = hash_secret("") if terminal is None else terminal.upload_secret_hash
        if hmac.compare_digest(presented, expected) and terminal is not None:
            return
        owner = await self._storage.modem_for_secret(presented)
        if owner is not None:
            # a known terminal, but not this modem's: it may write only its own data
            _LOGGER.info("refused modem %s's secret on the paths of modem %s", owner, modem_no)
            raise ApiError(
                "forbidden", "This secret belongs to another modem.", "modem_no", status=403
            )
        raise Unauthorized("unauthorized", "The terminal secret is not this modem's.", status=401)

    async def put_description(self, modem_no: str, description: TerminalDescription) -> None:
        if description.modem_no != modem_no:
            raise ApiError(
                "invalid_request",
                f"must be {modem_no}, the modem of the path",
                "modem_no",
                status=400,
            )
        await self._storage.put_description(
            modem_no, _json(description.to_json()), at=self._clock()
        )

    async def put_auth_code(self, modem_no: str, auth_code: str) -> None:
        loop = asyncio.get_running_loop()
        hashed = await loop.run_in_executor(None, _hash_auth_code, auth_code)
        await self._storage.set_auth_code(modem_no, hashed, at=self._clock(), revoke_tokens=True)
        _LOGGER.info("modem %s renewed its auth code; its tokens are revoked", modem_no)

    async def store_batch(self, modem_no: str, batch: Batch) -> BatchAck:
        now = self._clock()
        modem = batch.modem
        status = TerminalStatus(
            last_contact=now,
            signal_dbm=None if modem is None else modem.signal_dbm,
            registration=None if modem is None else modem.registration.value,
        )
        try:
            result = await self._storage.store_batch(
                modem_no, _records(batch), stream=batch.stream, status=status
            )
        except UnknownTerminalError:
            raise Unauthorized("unauthorized", "The modem is not enrolled.", status=401) from None
        except ValueError as err:
            raise ApiError("invalid_request", str(err), None, status=400) from None
        for outcome in batch.outcomes:
            with contextlib.suppress(NotFound):
                await self.report_outcome(modem_no, outcome)
        duplicate = result.stored == 0 and result.duplicates > 0
        if not duplicate:
            await self._publish(self._batch_events(modem_no, batch))
        # what expired is told as such, and never handed over
        await self.expiry_pass(modem_no, at=now)
        delivered = await self._storage.deliver_commands(modem_no, at=now)
        return BatchAck(
            batch_id=batch.batch_id,
            acknowledged_seq=result.acked_seq,
            duplicate=duplicate,
            commands=tuple(_api_command(c) for c in delivered),
        )

    async def pending_commands(self, modem_no: str, wait: float) -> tuple[Command, ...]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait)
        # listening before the storage is read: a command created in between wakes the wait
        with self.events_hub.listening(modem_no) as events:
            while True:
                now = self._clock()
                # the same hand-over as a batch's acknowledgement
                await self.expiry_pass(modem_no, at=now)
                delivered = await self._storage.deliver_commands(modem_no, at=now)
                if delivered:
                    return tuple(_api_command(c) for c in delivered)
                if not await self._command_event(events, deadline - loop.time()):
                    return ()

    @staticmethod
    async def _command_event(events: asyncio.Queue[SseEvent | None], seconds: float) -> bool:
        """Wait up to ``seconds`` for a ``command`` event; False at the end of the wait or
        when the server stops."""
        if seconds <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    event = await events.get()
                    if event is None:
                        return False
                    if event.event == "command":
                        return True
        return False

    @staticmethod
    def _batch_events(modem_no: str, batch: Batch) -> list[tuple[str, str, str]]:
        items = []
        for r in batch.readings:
            reading = Reading(device=r.device, key=r.key, value=r.value, unit=r.unit, time=r.time)
            items.append((modem_no, "reading", _json(reading.to_json())))
        items += [(modem_no, "alarm", _json(e.alarm.to_json())) for e in batch.events]
        return items

    async def _publish(self, items: list[tuple[str, str, str]]) -> None:
        """To this process's event streams, and through the notifier to the other processes'."""
        for modem_no, event, data in items:
            self.events_hub.publish(modem_no, event, data)
        if self.notifier is not None:
            await self.notifier.send(items)

    async def report_outcome(self, modem_no: str, outcome: CommandOutcome) -> Command:
        state = (
            CommandState.CONFIRMED
            if outcome.status is OutcomeStatus.SUCCEEDED
            else CommandState.FAILED
        )
        stored = await self._storage.record_outcome(
            modem_no, outcome.command_id, state, at=outcome.time, message=outcome.message
        )
        if stored is None:
            raise NotFound(
                "command_not_found",
                f"No command {outcome.command_id} on this modem.",
                "command_id",
                status=404,
            )
        command = _api_command(stored)
        await self._publish([(modem_no, "command", _json(command.to_json()))])
        return command
