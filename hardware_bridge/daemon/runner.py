"""The terminal daemon: every configured line polled, every poll committed, batches forwarded.

One :class:`Runner` per state directory (a locked pid file keeps a second one out). It runs

* one :class:`~hardware_bridge.daemon.acquisition.LinePoller` per serial line, over the same
  :class:`~hardware_bridge.terminal.LineTerminal` engine Home Assistant uses;
* GPIO inputs and relays with their fail-safe supervisor, when configured (input changes and
  fail-safe actions are alarm events, their states readings again every half send period; a
  delivered upload is the controller's heartbeat);
* mains presence from a device's voltages or a contact, as alarm events;
* the modem's registration and signal, polled and attached to every batch;
* the :class:`~hardware_bridge.daemon.forwarder.Forwarder` towards an
  :class:`~hardware_bridge.daemon.forwarder.Uplink`, when one is given. Without an upstream
  (LAN-only mode) the runner acknowledges its own appends, so they become local history and
  the retention window applies;
* the local API, when one is given (:class:`LocalApi`: started once everything else runs);
* ``status.json``, rewritten atomically when something changed (at most every
  ``status_interval`` seconds) and at the stop.

Records are committed to the queue before a poll counts as done. A clean stop (SIGTERM,
SIGINT, :meth:`Runner.stop`) stops polling, tries one last upload (bounded by
``flush_timeout``), and closes the queue, which folds its write-ahead log into the database.
SIGUSR1 (:meth:`Runner.upload_now`) sends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Protocol

from hardware_bridge.cellular import CellularError, Modem, ModemSettings
from hardware_bridge.daemon.acquisition import TERMINAL_DEVICE, LinePoller, MainsWatch, event
from hardware_bridge.daemon.config import DaemonConfig
from hardware_bridge.daemon.forwarder import CellularReport, Forwarder, Uplink
from hardware_bridge.daemon.state_files import PidFile, write_status
from hardware_bridge.io import (
    Clock,
    FailSafeAction,
    FailSafeEvent,
    FailSafeSupervisor,
    GpioBackend,
    GpioChip,
    GpioError,
    InputEvent,
    RelayError,
    SystemClock,
)
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue
from hardware_bridge.models import LineProtocol
from hardware_bridge.terminal import LineTerminal
from hardware_bridge.uplink import AsyncReadingQueue, Record, TerminalIdentity, UplinkError

__all__ = ["GPIO_DEVICE", "QUEUE_FILE", "LocalApi", "Runner"]

_LOGGER = logging.getLogger(__name__)

QUEUE_FILE = "queue.sqlite3"
GPIO_DEVICE = "gpio"
"""The device name of the terminal's own GPIO inputs and relays in records."""


class LocalApi(Protocol):
    """The daemon's client API on the LAN, started when the runner is up."""

    async def start(self, runner: Runner) -> str:
        """Start serving; return the URL it listens on (``http://HOST:PORT``)."""
        ...

    async def stop(self) -> None: ...


class Runner:
    """Runs the terminal for one configuration; see the module docstring."""

    def __init__(
        self,
        config: DaemonConfig,
        identity: TerminalIdentity,
        *,
        uplink: Uplink | None = None,
        local_api: LocalApi | None = None,
        clock: Clock | None = None,
        catalogue: ProfileCatalogue | None = None,
        gpio_chip: GpioChip | None = None,
        jitter: Callable[[], float] = random.random,
        status_interval: float = 5.0,
        flush_timeout: float = 10.0,
        on_ready: Callable[[Runner], None] | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self._uplink = uplink
        self._local_api = local_api
        self.clock: Clock = clock or SystemClock()
        self._catalogue = catalogue
        self._gpio_chip = gpio_chip
        self._jitter = jitter
        self._status_interval = status_interval
        self._flush_timeout = flush_timeout
        self._on_ready = on_ready
        self._stop = asyncio.Event()
        self._status_dirty = asyncio.Event()
        self._events: asyncio.Queue[list[Record]] = asyncio.Queue()
        self.queue: AsyncReadingQueue | None = None
        self.forwarder: Forwarder | None = None
        self.pollers: list[LinePoller] = []
        self.gpio: GpioBackend | None = None
        self.supervisor: FailSafeSupervisor | None = None
        self.cellular: CellularReport | None = None
        self.api_url: str | None = None
        self.started: datetime | None = None
        self.committed = 0
        """Records committed to the queue since the start."""
        self.last_poll: datetime | None = None
        self._mains: MainsWatch | None = None
        self._upload_requested = False
        self._in_flight: set[asyncio.Future[None]] = set()

    # -- control -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop cleanly (what SIGTERM and SIGINT do)."""
        self._stop.set()

    def upload_now(self) -> None:
        """Send what is queued at once (what SIGUSR1 does)."""
        _LOGGER.info("Upload requested")
        for poller in self.pollers:
            poller.restate_io()
        if self.forwarder is not None:
            self.forwarder.upload_now()
        else:
            self._upload_requested = True
        self._status_dirty.set()

    @property
    def lan_only(self) -> bool:
        return self._uplink is None

    # -- committing ----------------------------------------------------------------------------

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit ``records``; they are taken when this returns (StorageError if not).

        A stop that cancels the caller does not cut a commit in half: the append, its
        bookkeeping and (LAN-only) its acknowledgement finish before the queue is closed.
        """
        if self.queue is None:
            raise RuntimeError("the runner is not running")
        inner = asyncio.ensure_future(self._commit(self.queue, tuple(records)))
        self._in_flight.add(inner)
        inner.add_done_callback(self._in_flight.discard)
        await asyncio.shield(inner)

    async def _commit(self, queue: AsyncReadingQueue, records: Sequence[Record]) -> None:
        seqs = await queue.append(records)
        self.committed += len(records)
        self.last_poll = self.clock.wall()
        if self.forwarder is None:
            await queue.acknowledge(seqs.last)  # LAN-only: history, under retention
        elif any(record.alarm for record in records):
            self.forwarder.alarm()
        self._status_dirty.set()

    def _emit(self, records: list[Record]) -> None:
        """Records from a callback (GPIO, fail-safe): committed in order by one task."""
        self._events.put_nowait(records)

    async def _event_writer(self) -> None:
        while True:
            records = await self._events.get()
            try:
                await self.commit(records)
            except Exception as err:  # a full disk must not end event recording
                _LOGGER.error("Events not stored: %s", err)

    # -- running -------------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT with ``handle_signals``)."""
        state_dir = self.config.state_dir
        pid_file = PidFile(state_dir)
        pid_file.acquire()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        try:
            if handle_signals:
                for signum, handler in (
                    (signal.SIGTERM, self.stop),
                    (signal.SIGINT, self.stop),
                    (signal.SIGUSR1, self.upload_now),
                ):
                    loop.add_signal_handler(signum, handler)
                    installed.append(signum)
            await self._run()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            pid_file.release()

    async def _run(self) -> None:
        config = self.config
        self.started = self.clock.wall()
        if self._catalogue is None and any(
            line.config.protocol is LineProtocol.MODBUS for line in config.lines
        ):
            self._catalogue = await asyncio.get_running_loop().run_in_executor(
                None, load_catalogue, config.profiles_dir
            )
        self.queue = await AsyncReadingQueue.open(
            config.state_dir / QUEUE_FILE, retention=config.retention, clock=self.clock.wall
        )
        tasks: list[asyncio.Task[Any]] = []
        try:
            if config.mains is not None:
                self._mains = MainsWatch(config.mains.device or config.mains.input or "")
            self.pollers = [
                LinePoller(
                    line.name,
                    LineTerminal(line.config, self._catalogue),
                    self.commit,
                    clock=self.clock,
                    poll_interval=line.poll_interval,
                    slow_interval=line.slow_interval,
                    io_interval=line.io_interval,
                    io_restate=config.send_period / 2,
                    mains=self._mains
                    if self._mains is not None
                    and config.mains is not None
                    and config.mains.device in _device_keys(line.config)
                    else None,
                )
                for line in config.lines
            ]
            tasks.append(asyncio.create_task(self._event_writer(), name="events"))
            await self._start_gpio(tasks)
            if self._uplink is not None:
                self.forwarder = Forwarder(
                    self.queue,
                    self._uplink,
                    modem_no=self.identity.modem_no,
                    send_period=config.send_period,
                    clock=self.clock,
                    jitter=self._jitter,
                    cellular=lambda: self.cellular,
                    on_delivered=self._delivered,
                )
                if self._upload_requested:
                    self.forwarder.upload_now()
                tasks.append(asyncio.create_task(self.forwarder.run(), name="forwarder"))
            if config.modem is not None:
                tasks.append(asyncio.create_task(self._watch_modem(), name="modem"))
            if (follow := self._command_follower()) is not None:
                tasks.append(asyncio.create_task(follow, name="wait for commands"))
            tasks.extend(
                asyncio.create_task(poller.run(), name=f"poll {poller.name}")
                for poller in self.pollers
            )
            tasks.append(asyncio.create_task(self._status_loop(), name="status"))
            if self._local_api is not None:
                self.api_url = await self._local_api.start(self)
            if self._on_ready is not None:
                self._on_ready(self)
            stopper = asyncio.create_task(self._stop.wait())
            await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            for task in tasks:  # a task that ended by itself failed: say why, then stop
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._shutdown(tasks)

    def _command_follower(self) -> Coroutine[Any, Any, None] | None:
        """The uplink's wait for relay commands (seconds, not a send period, from a command's
        creation at the server to its relay), when there is an uplink that offers it, a
        ``command_wait`` and a relay to command."""
        from hardware_bridge.daemon.relays import has_relays  # noqa: PLC0415 - import cycle

        follow = getattr(self._uplink, "follow_commands", None)
        wait = int(self.config.command_wait.total_seconds())
        if follow is None or wait <= 0 or not has_relays(self):
            return None
        coroutine: Coroutine[Any, Any, None] = follow(wait)
        return coroutine

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        if self._local_api is not None:
            with contextlib.suppress(Exception):
                await self._local_api.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while not self._events.empty():  # events seen before the stop are still taken
            with contextlib.suppress(Exception):
                await self.commit(self._events.get_nowait())
        if self._in_flight:  # commits a cancelled poll had started
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self.supervisor is not None:
            await self.supervisor.stop()
        for poller in self.pollers:
            with contextlib.suppress(Exception):
                await poller.close()
        if self.gpio is not None:
            await self.gpio.close()
        if self.forwarder is not None and self.queue is not None:
            try:
                await asyncio.wait_for(self.forwarder.flush(), self._flush_timeout)
            except TimeoutError:
                _LOGGER.warning("Stopping with readings still queued: the server did not answer")
        if self.queue is not None:
            with contextlib.suppress(Exception):
                await self._write_status(running=False)
            await self.queue.close()
            self.queue = None
        _LOGGER.info("Stopped; %d records committed since the start", self.committed)

    def _delivered(self) -> None:
        if self.supervisor is not None:
            self.supervisor.heartbeat()
        self._status_dirty.set()

    # -- GPIO ----------------------------------------------------------------------------------

    async def _start_gpio(self, tasks: list[asyncio.Task[Any]]) -> None:
        section = self.config.gpio
        if section is None:
            return
        gpio = GpioBackend(section.config, self._gpio_chip, now=self.clock.wall)
        try:
            await gpio.open()
        except GpioError as err:
            raise GpioError(f"GPIO {section.config.chip}: {err}") from err
        self.gpio = gpio
        at = self.clock.wall()
        first = [
            Record(device=GPIO_DEVICE, key=name, value=gpio_input.state.active, unit=None, time=at)
            for name, gpio_input in gpio.inputs.items()
        ]
        if first:
            self._emit(first)
        gpio.subscribe(self._input_event)
        restate = self.config.send_period.total_seconds() / 2
        tasks.append(asyncio.create_task(self._restate_gpio(restate), name="gpio states"))
        mains_input = self.config.mains.input if self.config.mains is not None else None
        if mains_input is not None:
            tasks.append(asyncio.create_task(self._watch_mains_contact(mains_input), name="mains"))
        if gpio.relays:
            timeout = section.controller_timeout
            supervisor = FailSafeSupervisor(
                gpio.relays.values(),
                section.fail_safes,
                controller_timeout=None if timeout is None else timeout.total_seconds(),
                clock=self.clock,
            )
            supervisor.subscribe(self._failsafe_event)
            self.supervisor = supervisor
            tasks.append(supervisor.start())

    async def _restate_gpio(self, interval: float) -> None:
        """Every ``interval`` (half the send period) the GPIO inputs' and relays' states as
        readings, as the line pollers do for their boards: a terminal whose I/O does not change
        still has something to send each period (a relay command rides back on the reply; a
        delivered upload is the controller's heartbeat), and its readers see current states
        rather than ones that grow old and go unavailable."""
        gpio = self.gpio
        assert gpio is not None
        while True:
            await self.clock.sleep(interval)
            at = self.clock.wall()
            records = [
                Record(device=GPIO_DEVICE, key=name, value=item.state.active, unit=None, time=at)
                for name, item in gpio.inputs.items()
            ]
            for name, relay in gpio.relays.items():
                try:
                    state = await relay.read()
                except RelayError as err:
                    _LOGGER.debug("GPIO relay %s not read: %s", name, err)
                    continue
                records.append(
                    Record(device=GPIO_DEVICE, key=name, value=state, unit=None, time=at)
                )
            if records:
                self._emit(records)

    async def switch_relay(self, name: str, on: bool) -> None:
        """Switch a GPIO relay for the controller (confirmed by read-back, else RelayError);
        the change is recorded as an event. Counts as the controller's heartbeat."""
        if self.supervisor is None:
            raise RelayError(name, "no GPIO relays are configured")
        await self.supervisor.switch(name, on)
        self._emit([event(GPIO_DEVICE, name, on, self.clock.wall())])

    def _input_event(self, change: InputEvent) -> None:
        self._emit([event(GPIO_DEVICE, change.input, change.active, change.at, alarm=True)])

    async def _watch_mains_contact(self, name: str) -> None:
        """Sample the mains contact every second: a loss or a return is confirmed only after it
        held for a while (:class:`~hardware_bridge.io.MainsThresholds`), not on one edge."""
        if self.gpio is None or self._mains is None:
            return
        gpio_input = self.gpio.inputs[name]
        while True:
            if records := self._mains.contact(gpio_input.state.active, self.clock.wall()):
                self._emit(records)
            await self.clock.sleep(1.0)

    def _failsafe_event(self, action: FailSafeEvent) -> None:
        if action.action is FailSafeAction.CONTROLLER_BACK:
            record = event(TERMINAL_DEVICE, "controller_back", True, action.at)
        elif action.relay is None:
            record = event(TERMINAL_DEVICE, action.action.value, True, action.at, alarm=True)
        elif action.action is FailSafeAction.WRITE_FAILED:
            record = event(
                GPIO_DEVICE, "failsafe_write_failed", action.relay, action.at, alarm=True
            )
        else:  # the relay was switched by its fail-safe
            record = event(GPIO_DEVICE, action.relay, action.state, action.at, alarm=True)
        self._emit([record])

    # -- modem ---------------------------------------------------------------------------------

    async def _watch_modem(self) -> None:
        section = self.config.modem
        assert section is not None
        settings = ModemSettings(port=section.port, baudrate=section.baudrate)
        interval = section.poll_interval.total_seconds()
        failing = False
        while True:
            try:
                async with Modem(settings) as modem:
                    await modem.probe()
                    while True:
                        status = await modem.status()
                        self.cellular = CellularReport(
                            registration=status.registration,
                            operator=status.operator,
                            access_technology=status.access_technology,
                            signal_dbm=status.signal_dbm,
                            at=self.clock.wall(),
                        )
                        if failing:
                            _LOGGER.info("Modem on %s answers again", section.port)
                        failing = False
                        self._status_dirty.set()
                        await self.clock.sleep(interval)
            except (CellularError, OSError) as err:
                if not failing:
                    _LOGGER.warning("Modem on %s: %s", section.port, err)
                failing = True
                self.cellular = None
                self._status_dirty.set()
            await self.clock.sleep(interval)

    # -- status --------------------------------------------------------------------------------

    async def status(self, *, running: bool = True) -> dict[str, Any]:
        """What ``smartpower-bridge status`` shows (no secret in it)."""
        stats = await self.queue.stats() if self.queue is not None else None
        forwarder = self.forwarder
        cellular = self.cellular
        return {
            "modem_no": self.identity.modem_no,
            "running": running,
            "pid": os.getpid() if running else None,
            "started": _iso(self.started),
            "updated": _iso(self.clock.wall()),
            "mode": "lan_only" if self.lan_only else "upstream",
            "upstream": None if self.config.upstream is None else self.config.upstream.url,
            "listen": self.api_url,
            "send_period_s": self.config.send_period.total_seconds(),
            "queue_depth": stats.pending if stats is not None else None,
            "queue_last_seq": stats.last_seq if stats is not None else None,
            "queue_dropped": stats.dropped if stats is not None else None,
            "oldest_pending": _iso(stats.oldest_pending) if stats is not None else None,
            "alarm_pending": stats.alarm_pending if stats is not None else None,
            "committed": self.committed,
            "last_poll": _iso(self.last_poll),
            "last_upload": _iso(forwarder.last_upload) if forwarder is not None else None,
            "last_error": forwarder.last_error if forwarder is not None else None,
            "upload_failures": forwarder.failures if forwarder is not None else 0,
            "signal_dbm": cellular.signal_dbm if cellular is not None else None,
            "registration": cellular.registration if cellular is not None else None,
            "operator": cellular.operator if cellular is not None else None,
            "access_technology": cellular.access_technology if cellular is not None else None,
            "lines": {
                poller.name: {
                    "port": poller.terminal.config.serial.port,
                    "polls": poller.polls,
                    "devices": {
                        key: (snap.available if (snap := poller.terminal.snapshot(key)) else None)
                        for key in poller.terminal.device_keys
                    },
                }
                for poller in self.pollers
            },
        }

    async def _write_status(self, *, running: bool = True) -> None:
        status = await self.status(running=running)
        await asyncio.get_running_loop().run_in_executor(
            None, write_status, self.config.state_dir, status
        )

    async def _status_loop(self) -> None:
        while True:
            try:
                await self._write_status()
            except (OSError, UplinkError) as err:  # a status not written stops nothing
                _LOGGER.debug("Status file not written: %s", err)
            await self.clock.sleep(self._status_interval)
            await self._status_dirty.wait()
            self._status_dirty.clear()


def _device_keys(config: Any) -> set[str]:
    return {m.key for m in config.meters} | {d.key for d in config.devices}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
