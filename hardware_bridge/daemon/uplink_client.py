"""The uploader: the daemon's :class:`~hardware_bridge.daemon.forwarder.Uplink` over the
SmartPower API (:class:`~hardware_bridge.api.SmartPowerClient`).

**Enrolment and the auth code.** The contract's enrolment carries the auth code owners claim
the terminal with, but the identity keeps that code only hashed: the plain code exists when it
is made (first start, ``auth-code --renew``) and nowhere after. So when an upstream is
configured, whoever makes a code also leaves it in ``state_dir/auth-code.pending`` (0600) for
the uploader, which sends it at its next contact — an enrolment when this server has not
enrolled the terminal yet, ``PUT auth-code`` after a renewal — and deletes the file once the
server has it. ``auth-code --renew`` itself sends the new code at once
(:func:`send_renewed_auth_code`) and leaves it pending only when the server cannot be
reached. The price: until that first successful contact a copy of the state directory holds a
usable code. In LAN-only mode no pending file is written. An upstream added
to a terminal whose code is gone cannot be enrolled: the uploader says so once and names the
remedy (``auth-code --renew``). Enrolment is remembered per server URL in
``state_dir/uplink.json``.

**Batches.** The queue's records become an API :class:`~hardware_bridge.api.Batch`
(readings, events as alarms, gaps, the modem's report) with the queue's sequence range; its id
is made from the queue id and the range, so a batch sent again is the same batch and the server
acknowledges it without storing it twice. The range of a batch sent without an answer is kept
(``uplink.json``): when the forwarder offers a longer batch from the same first sequence
(more readings arrived during the outage), the uploader sends that same range first.

**Commands** in an acknowledgement (relay set) are switched through the runner, each once
(the server repeats a command until it has its outcome); the outcome — the state read back,
or why not — is reported at once and, if that fails, in the next batch. A terminal with relays
also keeps one ``GET …/pending-commands`` wait open (:meth:`ApiUplink.follow_commands`), so a
command reaches it in seconds rather than on the reply to its next upload (up to a send period
later); what that brings goes the same way. Its failures back off exponentially with jitter
and are logged once per outage; a server without the endpoint (404) leaves commands to the
uploads' replies. A command's expiry is judged by the server's clock (the answer's ``Date``)
and the terminal's monotonic time since its receipt, not by the terminal's own wall clock.

**Errors.** 401: logged once (the terminal's secret is not the one the server knows) and
retried with the forwarder's back-off — re-enrolling cannot fix a wrong secret. 409
``sequence_conflict``: the server's acknowledged sequence is taken from its answer and the
queue resumes after it. Secrets (upload secret, auth code, enrolment key) never reach a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardware_bridge.api import (
    AccessTechnology,
    Alarm,
    ApiError,
    Batch,
    BatchEvent,
    BatchReading,
    Command,
    CommandOutcome,
    CommandStatus,
    Enrolment,
    Gap,
    ModemReport,
    NotFound,
    OutcomeStatus,
    Registration,
    SmartPowerError,
    TerminalDescription,
    Unauthorized,
    to_millisecond,
)
from hardware_bridge.daemon.acquisition import TERMINAL_DEVICE
from hardware_bridge.daemon.forwarder import CellularReport, OutgoingBatch
from hardware_bridge.daemon.relays import UnknownRelay, switch_relay
from hardware_bridge.uplink import Gap as QueueGap
from hardware_bridge.uplink import Record, RecordKind, RecordValue, TerminalIdentity

if TYPE_CHECKING:
    import aiohttp

    from hardware_bridge.api import SmartPowerClient
    from hardware_bridge.daemon.runner import Runner

__all__ = [
    "PENDING_AUTH_CODE_FILE",
    "UPLINK_STATE_FILE",
    "ApiUplink",
    "NotEnrolled",
    "send_renewed_auth_code",
    "to_api_batch",
    "write_pending_auth_code",
]

_LOGGER = logging.getLogger(__name__)

PENDING_AUTH_CODE_FILE = "auth-code.pending"
UPLINK_STATE_FILE = "uplink.json"
_EXECUTED_KEEP = 1000
"""Command ids remembered as executed (a command is repeated until its outcome arrives)."""
FOLLOW_BACKOFF_BASE = 5.0
"""Seconds before the first retry of a failed wait for commands; doubled to FOLLOW_BACKOFF_MAX."""
FOLLOW_BACKOFF_MAX = 300.0
_HOLDS_UP_TO = re.compile(r"holds up to (\d+)")
_EVENT_KINDS = {"device_offline": "device_unavailable", "device_online": "device_available"}
_KEY = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")


class NotEnrolled(SmartPowerError):
    """The server does not know this terminal and no auth code is at hand to enrol it."""


# -- files in the state directory ------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)


def write_pending_auth_code(state_dir: Path | str, code: str) -> None:
    """Leave a newly made auth code for the uploader to send to the server (then deleted)."""
    _write_private(Path(state_dir) / PENDING_AUTH_CODE_FILE, code + "\n")


async def send_renewed_auth_code(
    identity: TerminalIdentity, state_dir: Path | str, server: str, code: str
) -> bool:
    """Tell ``server`` a renewed auth code now (``auth-code --renew``); True when it has it.

    The code is left pending first, so when the server cannot be reached (or has not enrolled
    the terminal yet) the daemon's uploader sends it at its next contact.
    """
    directory = Path(state_dir)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, write_pending_auth_code, directory, code)
    state = await loop.run_in_executor(None, _load_state, directory / UPLINK_STATE_FILE)
    if state.get("enrolled_with") != server:
        return False
    uplink = ApiUplink(identity, directory, server=server)
    try:
        await uplink._client.renew_auth_code(identity.modem_no, code)
    except SmartPowerError as err:
        _LOGGER.info("The server is told the new auth code later (%s)", err)
        return False
    finally:
        await uplink.close()
    with contextlib.suppress(FileNotFoundError):
        await loop.run_in_executor(None, os.unlink, directory / PENDING_AUTH_CODE_FILE)
    return True


def _read_pending(state_dir: Path) -> str | None:
    try:
        return (state_dir / PENDING_AUTH_CODE_FILE).read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


def _load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _LOGGER.warning("%s unreadable (%s): starting from a fresh uplink state", path, err)
        return {}
    return data if isinstance(data, dict) else {}


# -- records to the wire ---------------------------------------------------------------------


def record_alarm(record: Record) -> Alarm:
    """An event record as the API's alarm. ``kind``: ``device_unavailable`` /
    ``device_available`` for a device that went silent or answers again, the event's own key
    for the terminal's events (``mains_lost``, ``failsafe_…``), else ``io_alarm`` for an
    alarm (an input changed, a fail-safe switched a relay) and ``state_changed`` for the rest
    (a relay switched on command); ``device``, ``key`` and ``value`` always say what changed."""
    kind = _EVENT_KINDS.get(record.key)
    if kind is None:
        if record.device == TERMINAL_DEVICE and _KEY.fullmatch(record.key):
            kind = record.key
        else:
            kind = "io_alarm" if record.alarm else "state_changed"
    value: RecordValue = record.value
    message: str | None = None
    if record.key == "device_offline" and isinstance(record.value, str):
        message = record.value  # the reason it went silent
        value = False
    return Alarm(
        kind=kind,
        time=to_millisecond(record.time),
        device=record.device,
        key=record.key,
        value=value,
        message=message,
    )


def _modem_report(cellular: CellularReport | None) -> ModemReport | None:
    if cellular is None:
        return None
    try:
        registration = Registration(cellular.registration or "unknown")
    except ValueError:
        registration = Registration.UNKNOWN
    technology = None
    with contextlib.suppress(ValueError):
        technology = AccessTechnology(cellular.access_technology or "")
    return ModemReport(
        registration=registration,
        time=to_millisecond(cellular.at),
        access_technology=technology,
        operator=cellular.operator,
        signal_dbm=cellular.signal_dbm,
    )


def batch_id(queue_id: str, first_seq: int, last_seq: int) -> str:
    """The same id for the same range of the same queue (an upload sent again)."""
    return f"q{queue_id[:16]}-{first_seq}-{last_seq}"


def to_api_batch(
    batch: OutgoingBatch,
    *,
    created: datetime,
    outcomes: tuple[CommandOutcome, ...] = (),
) -> Batch:
    """The API batch for the queue's records (readings, events as alarms, gaps)."""
    readings: list[BatchReading] = []
    events: list[BatchEvent] = []
    gaps: list[Gap] = []
    for queued in batch.records:
        item = queued.item
        if isinstance(item, QueueGap):
            gaps.append(
                Gap(
                    first_seq=item.first_seq,
                    last_seq=item.last_seq,
                    count=item.count,
                    first_time=to_millisecond(item.start),
                    last_time=to_millisecond(item.end),
                )
            )
        elif item.kind is RecordKind.EVENT:
            events.append(BatchEvent(seq=queued.seq, alarm=record_alarm(item)))
        else:
            readings.append(
                BatchReading(
                    seq=queued.seq,
                    device=item.device,
                    key=item.key,
                    value=item.value,
                    unit=item.unit,
                    time=to_millisecond(item.time),
                )
            )
    return Batch(
        batch_id=batch_id(batch.queue_id, batch.first_seq, batch.last_seq),
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        created=to_millisecond(created),
        readings=tuple(readings),
        events=tuple(events),
        gaps=tuple(gaps),
        outcomes=outcomes,
        modem=_modem_report(batch.cellular),
        stream=batch.queue_id,
    )


def _trim(batch: OutgoingBatch, last_seq: int) -> OutgoingBatch:
    """The batch cut to ``first_seq..last_seq`` (a gap ends where its sequence range ends)."""
    records = tuple(q for q in batch.records if q.seq <= last_seq)
    if not records or records[-1].seq != last_seq:
        return batch  # the queue's records do not end there: send what it offers
    return OutgoingBatch(
        modem_no=batch.modem_no,
        queue_id=batch.queue_id,
        first_seq=batch.first_seq,
        last_seq=last_seq,
        records=records,
        urgent=batch.urgent,
        cellular=batch.cellular,
    )


# -- the uploader ----------------------------------------------------------------------------


class ApiUplink:
    """Sends the daemon's batches with ``client``; see the module docstring.

    ``client`` (made on first use when not given, with its own session: :meth:`close` it)
    carries the terminal's upload secret as its token. :meth:`attach` gives it the runner (for
    relay commands and the description); without one, commands are reported as failed and no
    description is sent.
    """

    def __init__(
        self,
        identity: TerminalIdentity,
        state_dir: Path | str,
        *,
        server: str,
        enrolment_key: str | None = None,
        client: SmartPowerClient | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._given_client = client
        self._session: aiohttp.ClientSession | None = None
        self._identity = identity
        self._state_dir = Path(state_dir)
        self._state_path = self._state_dir / UPLINK_STATE_FILE
        self._server = server
        self._enrolment_key = enrolment_key
        self._wall = wall
        self._monotonic = monotonic
        self._runner: Runner | None = None
        self._state: dict[str, Any] | None = None
        self._outcomes: list[CommandOutcome] = []
        self._executed: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._logged: set[str] = set()
        self._enrolled = asyncio.Event()
        self._introducing = asyncio.Lock()
        self.commands_executed = 0

    def attach(self, runner: Runner) -> None:
        self._runner = runner

    @property
    def _client(self) -> SmartPowerClient:
        if self._given_client is None:
            import aiohttp  # noqa: PLC0415 - the ``api`` extra, only when uploading

            from hardware_bridge.api import SmartPowerClient  # noqa: PLC0415

            self._session = aiohttp.ClientSession()
            self._given_client = SmartPowerClient(
                self._session, self._server, token=self._identity.upload_secret
            )
        return self._given_client

    async def close(self) -> None:
        """Wait for commands being executed, then close the session this uplink made."""
        await self.wait_commands()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- state ---------------------------------------------------------------------------------

    async def _run[T](self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, call, *args)

    async def _save(self) -> None:
        assert self._state is not None
        text = json.dumps(self._state, indent=2, sort_keys=True) + "\n"
        await self._run(_write_private, self._state_path, text)

    async def _loaded(self) -> dict[str, Any]:
        if self._state is None:
            self._state = await self._run(_load_state, self._state_path)
        return self._state

    @property
    def enrolled(self) -> bool:
        state = self._state or {}
        enrolled = state.get("enrolled_with") == self._server
        if enrolled:
            self._enrolled.set()
        return enrolled

    # -- sending -------------------------------------------------------------------------------

    async def send(self, batch: OutgoingBatch) -> int:
        state = await self._loaded()
        async with self._introducing:
            server_acked = await self._introduce()
        if server_acked is not None and server_acked >= batch.first_seq:
            # the server has more than the queue thought (a lost acknowledgement)
            return min(server_acked, batch.last_seq)
        await self._describe()
        inflight = state.get("inflight")
        if (
            isinstance(inflight, list)
            and len(inflight) == 3
            and inflight[0] == batch.queue_id
            and inflight[1] == batch.first_seq
            and inflight[2] < batch.last_seq
        ):
            batch = _trim(batch, int(inflight[2]))
        if state.get("inflight") != [batch.queue_id, batch.first_seq, batch.last_seq]:
            state["inflight"] = [batch.queue_id, batch.first_seq, batch.last_seq]
            await self._save()
        outcomes = tuple(self._outcomes)
        api_batch = to_api_batch(batch, created=self._wall(), outcomes=outcomes)
        try:
            ack = await self._client.upload_batch(self._identity.modem_no, api_batch)
        except Unauthorized:
            self._once(
                "unauthorized",
                "The server refuses this terminal's secret (401): uploads are retried, but an "
                "administrator must check the terminal's enrolment on the server",
            )
            raise
        except ApiError as err:
            if err.code == "sequence_conflict":
                acked = self._conflict(err, batch)
                if acked is not None:
                    state.pop("inflight", None)
                    await self._save()
                    return acked
            raise
        self._logged.discard("unauthorized")
        # by value: the wait for commands may have reported some meanwhile
        self._outcomes = [o for o in self._outcomes if o not in outcomes]
        state.pop("inflight", None)
        state["queue_id"] = batch.queue_id
        await self._save()
        self._take_commands(ack.commands, self._client.server_time)
        return ack.acknowledged_seq

    def _conflict(self, err: ApiError, batch: OutgoingBatch) -> int | None:
        """The server's acknowledged sequence from a ``sequence_conflict``, when it names it
        and the queue can resume from it: it holds this very queue's records (the queue id
        seen at the last acknowledgement), up to at least the one before this batch. A queue
        made anew (its numbers restarted) is not resumed over what the server holds of the
        old one: that would drop the new records."""
        match = _HOLDS_UP_TO.search(err.message or "")
        held = int(match.group(1)) if match else None
        same_queue = (self._state or {}).get("queue_id") == batch.queue_id
        if held is not None and same_queue and held >= batch.first_seq - 1:
            _LOGGER.info("The server holds readings up to %d already; resuming after them", held)
            return min(held, batch.last_seq)
        self._once(
            "conflict",
            f"The server refuses sequence numbers {batch.first_seq}..{batch.last_seq} "
            f"({err.message}); readings stay queued",
        )
        return None

    def _once(self, key: str, message: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            _LOGGER.error("%s", message)

    # -- enrolment and auth code ---------------------------------------------------------------

    async def _introduce(self) -> int | None:
        """Enrol, or send a renewed auth code, when one is pending; the server's
        acknowledged sequence when it told it (an enrolment), else None."""
        state = await self._loaded()
        code = await self._run(_read_pending, self._state_dir)
        modem_no = self._identity.modem_no
        acked: int | None = None
        if self.enrolled:
            if code is None:
                return None
            await self._client.renew_auth_code(modem_no, code)
            _LOGGER.info("The server has the renewed auth code")
        elif code is None:
            if "not_enrolled" not in self._logged:
                self._once(
                    "not_enrolled",
                    f"This terminal is not enrolled with {self._server} and its auth code is "
                    "stored only hashed: run 'smartpower-bridge auth-code --renew' to make a "
                    "code the uploader can enrol with (uploads are tried meanwhile)",
                )
            return None
        else:
            enrolment = Enrolment(
                terminal_secret=self._identity.upload_secret,
                auth_code=code,
                enrolment_key=self._enrolment_key,
            )
            ack = await self._client.enrol(modem_no, enrolment)
            acked = ack.acknowledged_seq
            state["enrolled_with"] = self._server
            state.pop("described", None)  # a new server has no description yet
            state["enrolled"] = ack.enrolled.isoformat()
            await self._save()
            self._enrolled.set()
            self._logged.discard("not_enrolled")
            _LOGGER.info("Enrolled with %s", self._server)
        with contextlib.suppress(FileNotFoundError):
            await self._run(os.unlink, self._state_dir / PENDING_AUTH_CODE_FILE)
        return acked

    async def _describe(self) -> None:
        """Send the description when it changed since it was last sent."""
        runner = self._runner
        if runner is None or not runner.pollers:
            return
        from hardware_bridge.daemon.description import describe_terminal  # noqa: PLC0415

        description: TerminalDescription = describe_terminal(runner)
        # its digest is kept (uplink.json): a restart does not send it again unchanged (with
        # 247 devices it is megabytes)
        text = json.dumps(description.to_json(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        state = await self._loaded()
        if state.get("described") == digest:
            return
        try:
            await self._client.put_description(self._identity.modem_no, description)
        except ApiError as err:  # a refused description must not hold the readings back
            self._once("description", f"The server refuses the terminal's description: {err}")
            return
        self._logged.discard("description")
        state["described"] = digest
        await self._save()

    # -- commands ------------------------------------------------------------------------------

    def _take_commands(self, commands: tuple[Command, ...], server_time: datetime | None) -> int:
        """Execute the commands not executed yet (each once); how many were new.
        ``server_time``: the server's clock when it handed them over (see :meth:`_deadline`)."""
        received = self._monotonic()
        fresh = 0
        for command in commands:
            if command.id in self._executed or command.status not in (
                CommandStatus.PENDING,
                CommandStatus.SENT,
            ):
                continue
            fresh += 1
            self._executed[command.id] = None
            while len(self._executed) > _EXECUTED_KEEP:
                self._executed.popitem(last=False)
            deadline = self._deadline(command, server_time, received)
            task = asyncio.create_task(
                self._execute(command, deadline), name=f"command {command.id}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return fresh

    async def follow_commands(
        self,
        wait: int,
        *,
        jitter: Callable[[], float] = random.random,
        backoff_base: float = FOLLOW_BACKOFF_BASE,
        backoff_max: float = FOLLOW_BACKOFF_MAX,
    ) -> None:
        """Keep one wait of ``wait`` seconds for commands open at the server, until cancelled
        (or the server turns out not to offer it); what arrives is executed as a batch
        acknowledgement's commands are; enrols the terminal first when it is not yet. Never
        returns by itself: the runner stops when one of its tasks ends."""
        await self._loaded()
        failures = 0
        while True:
            try:
                if not self.enrolled:
                    # a first start with a long send period: enrol now, not at the first upload
                    async with self._introducing:
                        await self._introduce()
                    if not self.enrolled:  # no code to enrol with: said once; the uploads try
                        await self._enrolled.wait()
                        continue
                commands = await self._client.pending_commands(self._identity.modem_no, wait=wait)
                if self._take_commands(commands, self._client.server_time) == 0 and commands:
                    # handed over again: its outcome has not reached the server yet
                    await self._report_held_outcomes({c.id for c in commands})
                    await asyncio.sleep(backoff_base)  # not a request loop while it is so
                await self.wait_commands()  # outcomes reported before the next wait
            except NotFound:
                _LOGGER.info(
                    "%s does not offer waiting for commands: they come with the uploads' replies",
                    self._server,
                )
                await asyncio.Event().wait()  # until cancelled: this is not a reason to stop
            except SmartPowerError as err:
                failures += 1
                delay = min(backoff_max, backoff_base * 2 ** min(failures - 1, 30))
                delay *= 0.5 + 0.5 * jitter()
                if failures == 1:
                    _LOGGER.warning(
                        "Waiting for relay commands at the server failed (%s); retrying, "
                        "and commands still come with the uploads' replies",
                        err,
                    )
                else:
                    _LOGGER.debug("Waiting for relay commands failed again (%s)", err)
                await asyncio.sleep(delay)
                continue
            if failures:
                _LOGGER.info("Waiting for relay commands at the server again")
                failures = 0

    async def _report_held_outcomes(self, ids: set[str]) -> None:
        """Report again the outcomes of ``ids`` that wait for the next batch (SmartPowerError
        when the server still cannot be told)."""
        for outcome in [o for o in self._outcomes if o.command_id in ids]:
            await self._client.report_outcome(self._identity.modem_no, outcome)
            self._outcomes.remove(outcome)

    def _deadline(
        self, command: Command, server_time: datetime | None, received: float
    ) -> float | None:
        """When (on the terminal's monotonic clock) ``command`` expires: what was left of its
        life by the server's clock when the server handed it over (its ``Date``, to the
        second, taken a second late so the terminal never acts past the expiry), counted from
        its receipt. So a terminal clock minutes off neither refuses a command in time nor
        carries out one past its expiry. None when either time is missing."""
        if command.expires is None or server_time is None:
            return None
        left = command.expires - (server_time + timedelta(seconds=1))
        return received + left.total_seconds()

    async def _execute(self, command: Command, deadline: float | None = None) -> None:
        outcome = await self._outcome(command, deadline)
        self.commands_executed += 1
        try:
            await self._client.report_outcome(self._identity.modem_no, outcome)
        except SmartPowerError as err:
            _LOGGER.info("Outcome of command %s goes with the next batch (%s)", command.id, err)
            self._outcomes.append(outcome)

    async def _outcome(self, command: Command, deadline: float | None) -> CommandOutcome:
        def failed(message: str, confirmed: bool | None = None) -> CommandOutcome:
            return CommandOutcome(
                command_id=command.id,
                status=OutcomeStatus.FAILED,
                time=to_millisecond(self._wall()),
                confirmed_state=confirmed,
                message=message,
            )

        if deadline is not None:
            expired = self._monotonic() >= deadline
        else:  # no server time to go by: the terminal's own clock (keep it on NTP)
            expired = command.expires is not None and command.expires <= self._wall()
        if expired:
            return failed("expired before the terminal could carry it out")
        if self._runner is None:
            return failed("the terminal is not running its engines")
        try:
            result = await switch_relay(self._runner, command.device, command.key, command.state)
        except UnknownRelay as err:
            return failed(str(err))
        if not result.ok:
            return failed(result.error or "not confirmed", result.confirmed)
        _LOGGER.info("Relay %s/%s set %s", command.device, command.key, command.state)
        return CommandOutcome(
            command_id=command.id,
            status=OutcomeStatus.SUCCEEDED,
            time=to_millisecond(self._wall()),
            confirmed_state=result.confirmed,
        )

    async def wait_commands(self) -> None:
        """Wait for the commands being executed (tests, a clean stop)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
