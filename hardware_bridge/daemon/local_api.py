"""The daemon's client API on the LAN: the :class:`~hardware_bridge.api.service.ClientSide`
of the SmartPower API for the terminal's own modem, and the server that serves it.

:class:`DaemonClientSide`

* **claims** with the Modem No + auth code against the terminal's identity (scrypt in an
  executor, compared in constant time), limited per client address and per modem by a
  :class:`~hardware_bridge.uplink.ClaimRateLimiter`; a failure is logged with the client's
  address, never with the code. A wrong Modem No and a wrong code are the same answer.
  Tokens are issued by the identity (kept only hashed, surviving restarts, revoked by
  ``auth-code --renew``); a token's id is a prefix of its SHA-256, so it names the token
  without revealing it;
* **description** from the running engines (:func:`describe_terminal`);
* **latest**: the last committed value of each key with the time it was read (a counter read
  every 15 minutes keeps its own time, not the time of the last fast poll), followed from the
  queue and seeded from its recent records at start; a device that did not answer its last
  poll has no latest value (unavailable, not stale);
* **history** from the queue (uploaded or not, within its retention), readings only, a page at
  a time (the cursor is the last sequence number of the page);
* **relay commands** executed at once through the runner; the command returned is final
  (``succeeded`` with the state read back, or ``failed`` with the reason);
* **events**: readings and alarms as the queue commits them (the event id is the sequence
  number, so a client reconnecting with ``Last-Event-ID`` resumes after it, as long as the
  queue still holds it), and command outcomes. One task reads the queue's tail for every
  subscriber.

:class:`LocalApiServer` (a :class:`~hardware_bridge.daemon.runner.LocalApi`) runs an aiohttp
application made by an app factory (``build_app(client_side)``: the HTTP half lives with the
API, not here) on the configured ``listen`` address, and advertises it with zeroconf
(:mod:`hardware_bridge.daemon.zeroconf_advert`) when that address is not a loopback one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hardware_bridge.api import (
    ApiError,
    Claim,
    Command,
    CommandRequest,
    CommandStatus,
    CommandType,
    InvalidAuthCode,
    NotFound,
    RateLimited,
    Reading,
    ReadingsPage,
    SseEvent,
    TerminalDescription,
    Unauthorized,
    to_millisecond,
)
from hardware_bridge.api.service import ClientSide
from hardware_bridge.daemon.acquisition import TERMINAL_DEVICE
from hardware_bridge.daemon.description import describe_terminal
from hardware_bridge.daemon.relays import relay_exists, switch_relay
from hardware_bridge.daemon.uplink_client import record_alarm
from hardware_bridge.uplink import ClaimRateLimiter, Record, RecordKind, TerminalIdentity

if TYPE_CHECKING:
    from hardware_bridge.daemon.runner import Runner

__all__ = ["DaemonClientSide", "LocalApiServer", "make_local_api"]

_LOGGER = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)
_COMMANDS_KEPT = 1000
_SUBSCRIBER_BACKLOG = 10_000
"""Events a slow client may fall behind by before its stream is ended (it reconnects and
resumes from its last event id)."""


_AVAILABILITY_KEYS = frozenset({"device_offline", "device_online"})
_MAX_SEED = timedelta(days=1)


def _state_of(record: Record) -> bool:
    """Whether a record is a value of its key (a reading, or a relay or input that changed)."""
    if record.kind is RecordKind.READING:
        return True
    return (
        record.kind is RecordKind.EVENT
        and record.device != TERMINAL_DEVICE
        and record.key not in _AVAILABILITY_KEYS
    )


class _Tail:
    """Follows the queue: every committed record once, for every subscriber, and the last
    committed value of each key (the latest values, each with the time it was read)."""

    def __init__(self, runner: Runner, interval: float) -> None:
        self._runner = runner
        self._interval = interval
        self.subscribers: set[asyncio.Queue[SseEvent | None]] = set()
        self.latest: dict[tuple[str, str], Record] = {}
        self.last_seq = 0
        self._task: asyncio.Task[None] | None = None
        self._following = asyncio.Lock()

    async def start(self) -> None:
        queue = self._runner.queue
        if queue is not None:
            self.last_seq = (await queue.stats()).last_seq
            await self._seed()
        self._task = asyncio.create_task(self._run(), name="local api events")

    async def _seed(self) -> None:
        """The latest values from the queue's recent records (those of the longest poll
        interval, twice over), so a restart does not forget a value read every 15 minutes."""
        queue = self._runner.queue
        assert queue is not None
        config = self._runner.config
        longest = max(
            (max(line.poll_interval, line.slow_interval) for line in config.lines),
            default=timedelta(minutes=15),
        )
        start = self._runner.clock.wall() - min(_MAX_SEED, 2 * longest)
        after = 0
        while True:
            page = await queue.history(start, _FAR, after=after, limit=5000)
            for queued in page.records:
                if queued.seq > self.last_seq:
                    return
                self._note(queued.item)
            if page.next_after is None:
                return
            after = page.next_after

    def _note(self, item: object) -> None:
        if isinstance(item, Record) and _state_of(item):
            self.latest[(item.device, item.key)] = item

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for subscriber in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.put_nowait(None)

    def publish(self, event: SseEvent) -> None:
        for subscriber in list(self.subscribers):
            try:
                subscriber.put_nowait(event)
            except asyncio.QueueFull:  # too slow: ended; it resumes from its last id
                self.subscribers.discard(subscriber)

    async def follow(self) -> None:
        """Take what the queue committed since the last look."""
        async with self._following:  # one reader: every record is published once
            await self._follow()

    async def _follow(self) -> None:
        queue = self._runner.queue
        if queue is None:
            return
        while True:
            page = await queue.history(_EPOCH, _FAR, after=self.last_seq, limit=1000)
            for queued in page.records:
                self.last_seq = queued.seq
                self._note(queued.item)
                if self.subscribers and isinstance(queued.item, Record):
                    self.publish(record_event(queued.seq, queued.item))
            if page.next_after is None:
                return

    async def _run(self) -> None:
        while True:
            await self._runner.clock.sleep(self._interval)
            await self.follow()


def _reading(record: Record) -> Reading:
    return Reading(
        device=record.device,
        key=record.key,
        value=record.value,
        unit=record.unit,
        time=to_millisecond(record.time),
    )


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def record_event(seq: int, record: Record) -> SseEvent:
    """A committed record as an event-stream event (its id: the sequence number)."""
    if record.kind is RecordKind.EVENT:
        return SseEvent(event="alarm", data=_json(record_alarm(record).to_json()), id=str(seq))
    return SseEvent(event="reading", data=_json(_reading(record).to_json()), id=str(seq))


class DaemonClientSide:
    """The client half of the API for the daemon's own modem; see the module docstring."""

    def __init__(
        self,
        runner: Runner,
        identity: TerminalIdentity,
        *,
        limiter: ClaimRateLimiter | None = None,
        poll_events: float = 1.0,
    ) -> None:
        self._runner = runner
        self._identity = identity
        self._limiter = limiter or ClaimRateLimiter()
        self._commands: OrderedDict[str, Command] = OrderedDict()
        self._tail = _Tail(runner, poll_events)

    async def start(self) -> None:
        await self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()

    async def _run[T](self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, call, *args)

    def _check_modem(self, modem_no: str) -> None:
        if modem_no != self._identity.modem_no:
            raise NotFound("modem_not_found", "no such modem here", "modem_no")

    # -- claims and tokens ---------------------------------------------------------------------

    async def claim(self, modem_no: str, auth_code: str, client: str) -> Claim:
        wait = self._limiter.retry_after(client, modem_no)
        if wait is not None:
            raise RateLimited(
                "rate_limited", f"too many failed attempts; try again in {wait} s", retry_after=wait
            )
        right = modem_no == self._identity.modem_no and await self._run(
            self._identity.verify_auth_code, auth_code
        )
        if not right:
            self._limiter.failure(client, modem_no)
            _LOGGER.warning("Failed claim from %s", client)
            raise InvalidAuthCode("invalid_auth_code", "wrong Modem No or auth code", "auth_code")
        self._limiter.success(client, modem_no)
        token = await self._run(self._identity.issue_token)
        _LOGGER.info("Modem claimed from %s", client)
        return Claim(
            token=token,
            token_id=hashlib.sha256(token.encode()).hexdigest()[:12],
            modem_no=modem_no,
            issued=to_millisecond(datetime.now(UTC)),
        )

    async def token_modems(self, token: str) -> frozenset[str]:
        if not await self._run(self._identity.verify_token, token):
            raise Unauthorized("unauthorized", "unknown or revoked token")
        return frozenset({self._identity.modem_no})

    async def revoke_token(self, token: str) -> None:
        if not await self._run(self._identity.revoke_token, token):
            raise Unauthorized("unauthorized", "unknown or revoked token")

    # -- reading -------------------------------------------------------------------------------

    async def description(self, modem_no: str) -> TerminalDescription:
        self._check_modem(modem_no)
        return describe_terminal(self._runner)

    async def latest(self, modem_no: str) -> ReadingsPage:
        """The last committed value of every key, with the time it was read; none for a
        device that did not answer its last poll (unavailable, not stale)."""
        self._check_modem(modem_no)
        await self._tail.follow()
        silent = {
            device
            for poller in self._runner.pollers
            for device in poller.terminal.device_keys
            if (snapshot := poller.terminal.snapshot(device)) is not None and not snapshot.available
        }
        readings = tuple(
            _reading(record)
            for (device, _), record in self._tail.latest.items()
            if device not in silent
        )
        return ReadingsPage(readings=readings)

    async def history(
        self, modem_no: str, start: datetime, end: datetime, cursor: str | None, limit: int
    ) -> ReadingsPage:
        self._check_modem(modem_no)
        after = 0
        if cursor is not None:
            if not cursor.isdigit():
                raise ApiError("invalid_request", "not a cursor this terminal gave", "cursor")
            after = int(cursor)
        queue = self._runner.queue
        if queue is None:
            raise ApiError("unavailable", "the terminal is starting or stopping")
        page = await queue.history(
            start, end, after=after, limit=limit, kinds=frozenset({RecordKind.READING})
        )
        readings = tuple(_reading(q.item) for q in page.records if isinstance(q.item, Record))
        following = None if page.next_after is None else str(page.next_after)
        return ReadingsPage(readings=readings, next=following)

    # -- commands ------------------------------------------------------------------------------

    async def create_command(self, modem_no: str, request: CommandRequest) -> Command:
        self._check_modem(modem_no)
        if request.type is not CommandType.RELAY_SET or not relay_exists(
            self._runner, request.device, request.key
        ):
            raise ApiError(
                "unknown_point", f"no relay {request.key} on {request.device}", "key", status=400
            )
        created = to_millisecond(datetime.now(UTC))
        command_id = "cmd_" + secrets.token_hex(8)
        result = await switch_relay(self._runner, request.device, request.key, request.state)
        status = CommandStatus.SUCCEEDED if result.ok else CommandStatus.FAILED
        command = Command(
            id=command_id,
            type=request.type,
            device=request.device,
            key=request.key,
            state=request.state,
            status=status,
            created=created,
            updated=to_millisecond(datetime.now(UTC)),
            confirmed_state=result.confirmed,
            message=result.error,
        )
        self._commands[command_id] = command
        while len(self._commands) > _COMMANDS_KEPT:
            self._commands.popitem(last=False)
        self._tail.publish(
            SseEvent(event="command", data=_json(command.to_json()), id=str(self._tail.last_seq))
        )
        return command

    async def command(self, modem_no: str, command_id: str) -> Command:
        self._check_modem(modem_no)
        command = self._commands.get(command_id)
        if command is None:
            raise NotFound("command_not_found", "no such command", "command_id")
        return command

    # -- events --------------------------------------------------------------------------------

    async def events(self, modem_no: str, last_event_id: str | None) -> AsyncIterator[SseEvent]:
        self._check_modem(modem_no)
        subscriber: asyncio.Queue[SseEvent | None] = asyncio.Queue(_SUBSCRIBER_BACKLOG)
        self._tail.subscribers.add(subscriber)
        try:
            queue = self._runner.queue
            if last_event_id is not None and last_event_id.isdigit() and queue is not None:
                after = int(last_event_id)  # what the client missed, from the queue
                upto = self._tail.last_seq
                while after < upto:
                    page = await queue.history(_EPOCH, _FAR, after=after, limit=1000)
                    for queued in page.records:
                        if queued.seq > upto:
                            break
                        if isinstance(queued.item, Record):
                            yield record_event(queued.seq, queued.item)
                    if page.next_after is None or not page.records:
                        break
                    after = page.records[-1].seq
            while True:
                event = await subscriber.get()
                if event is None:
                    return
                yield event
        finally:
            self._tail.subscribers.discard(subscriber)


def _as_client_side(side: DaemonClientSide) -> ClientSide:
    return side  # the type checker holds DaemonClientSide to the protocol here


AppFactory = Callable[[DaemonClientSide], Any]
"""Makes the aiohttp application serving a client side (``build_app`` of the HTTP app)."""


class LocalApiServer:
    """Serves the daemon's client API on ``host:port`` (a :class:`LocalApi`)."""

    def __init__(
        self,
        app_factory: AppFactory,
        host: str,
        port: int,
        *,
        advertise: bool = True,
        poll_events: float = 1.0,
    ) -> None:
        self._app_factory = app_factory
        self.host = host
        self.port = port
        self._advertise = advertise
        self._poll_events = poll_events
        self.client_side: DaemonClientSide | None = None
        self._app_runner: Any = None
        self._advert: Any = None

    async def start(self, runner: Runner) -> str:
        from aiohttp import web  # noqa: PLC0415 - the ``api`` extra

        client_side = DaemonClientSide(runner, runner.identity, poll_events=self._poll_events)
        await client_side.start()
        self.client_side = client_side
        app_runner = web.AppRunner(self._app_factory(client_side), access_log=None)
        await app_runner.setup()
        site = web.TCPSite(app_runner, self.host, self.port)
        await site.start()
        self._app_runner = app_runner
        if self.port == 0 and app_runner.addresses:  # a port the system chose (tests)
            self.port = int(app_runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        url = f"http://{host}:{self.port}"
        if self._advertise:
            from hardware_bridge.daemon.zeroconf_advert import advertise  # noqa: PLC0415

            self._advert = await advertise(runner.identity.modem_no, self.host, self.port)
        return url

    async def stop(self) -> None:
        if self._advert is not None:
            await self._advert.close()
            self._advert = None
        if self.client_side is not None:
            await self.client_side.stop()
        if self._app_runner is not None:
            await self._app_runner.cleanup()
            self._app_runner = None


def make_local_api(
    app_factory: AppFactory, host: str, port: int, *, advertise: bool = True
) -> LocalApiServer:
    """The daemon's local API on ``host:port``, served by the app ``app_factory`` makes."""
    return LocalApiServer(app_factory, host, port, advertise=advertise)
