"""Async AT-modem driver over a serial port (pyserial-asyncio-fast), thin around
:class:`AtConnection`.

One task owns the port: commands run one at a time under a lock, each with its own timeout.
A command that times out is abandoned; what the modem still sends for it is classified as
stray by the connection and never attributed to the next command, and the line is allowed a
short quiet period before the next one. Two timeouts in a row mean the modem stopped
answering (:class:`NoResponseError`). Unsolicited lines are passed to an optional callback.

Nothing identifying is logged: commands are logged at DEBUG with a PIN masked, replies not
at all (the IMEI is one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import termios
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import serial_asyncio_fast

from hardware_bridge.cellular._connection import (
    NEED_DATA,
    AtConnection,
    Command,
    Prompt,
    Response,
    Stray,
    Unsolicited,
)
from hardware_bridge.cellular._errors import (
    CommandError,
    LineError,
    ModemTimeoutError,
    NoResponseError,
    RemoteProtocolError,
    SmsError,
)
from hardware_bridge.cellular._replies import (
    AccessTechnology,
    LteSignal,
    Registration,
    SimState,
    merge_registration,
    parse_cops,
    parse_cpin,
    parse_cpsi,
    parse_csq,
    parse_identity,
    parse_qeng_servingcell,
    parse_registration,
)
from hardware_bridge.cellular._sms import encode_sms

__all__ = ["Modem", "ModemSettings", "ModemStatus", "Vendor", "vendor_of"]

_LOGGER = logging.getLogger(__name__)

type Vendor = Literal["quectel", "simcom_lte", "simcom_2g", "other"]


def vendor_of(manufacturer: str | None, model: str | None) -> Vendor:
    """Which vendor command set to use for LTE figures, from ``AT+CGMI`` / ``AT+CGMM``."""
    text = f"{manufacturer or ''} {model or ''}".upper()
    if "QUECTEL" in text or any(tag in text for tag in ("EC2", "EG2", "EG9", "EC200", "EP06")):
        return "quectel"
    if "SIM7" in text or "A76" in text:
        return "simcom_lte"
    if "SIM8" in text or "SIM9" in text:
        return "simcom_2g"
    return "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemSettings:
    """How to reach the modem and how long to wait for it."""

    port: str
    baudrate: int = 115200
    command_timeout: float = 3.0
    probe_timeout: float = 1.0
    probe_attempts: int = 3
    prompt_timeout: float = 5.0
    sms_timeout: float = 60.0
    """After the PDU: the network may take up to ~40 s to accept (Zabbix waits 40 s)."""
    quiet_after_timeout: float = 0.2
    sms_ready_attempts: int = 5
    sms_ready_pause: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemStatus:
    """One look at the modem; a field is None when the modem does not report it."""

    sim: SimState
    registration: Registration
    operator: str | None
    access_technology: AccessTechnology | None
    signal_dbm: int | None
    rsrp_dbm: float | None
    rsrq_db: float | None
    sinr_raw: int | None
    imei: str | None
    model: str | None
    manufacturer: str | None
    firmware: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: Modem) -> None:
        self._owner = owner

    def data_received(self, data: bytes) -> None:
        self._owner._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._on_lost(exc)


class Modem:
    """An AT modem on a serial port: ``async with Modem(settings) as modem: …``."""

    def __init__(
        self,
        settings: ModemSettings,
        *,
        on_unsolicited: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_unsolicited = on_unsolicited
        self._conn = AtConnection()
        self._transport: asyncio.Transport | None = None
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._lost: Exception | None = None
        self._closed = asyncio.Event()
        self._timeouts_in_a_row = 0
        self._pending: list[Response | Prompt] = []
        self._reference = 0
        self._vendor: Vendor | None = None
        self._identity: dict[str, str | None] | None = None

    async def __aenter__(self) -> Modem:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the port (8N1). Does not talk to the modem: :meth:`probe` does."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: _Protocol(self), self.settings.port, baudrate=self.settings.baudrate
            )
        except (OSError, termios.error, ValueError) as err:
            raise LineError(f"cannot open {self.settings.port}: {err}") from err
        self._transport = transport

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), 1.0)
            self._transport = None

    def _on_data(self, data: bytes) -> None:
        self._conn.receive_data(data)
        try:
            while (event := self._conn.next_event()) is not NEED_DATA:
                if isinstance(event, Unsolicited):
                    _LOGGER.debug("unsolicited: %s", event.line.split(":")[0])
                    if self.on_unsolicited is not None:
                        self.on_unsolicited(event.line)
                elif isinstance(event, Stray):
                    _LOGGER.debug("dropped a line no command was waiting for")
                elif isinstance(event, Response | Prompt):
                    self._pending.append(event)
        except RemoteProtocolError as err:
            _LOGGER.debug("line protocol error: %s", err)
            self._lost = err
            self._conn.reset()
        self._wakeup.set()

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost = LineError(f"{self.settings.port} closed: {exc or 'end of file'}")
        self._wakeup.set()
        self._closed.set()

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise LineError(f"{self.settings.port} is not open")
        self._transport.write(data)

    async def _wait_for(self, timeout: float, what: str) -> Response | Prompt:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending:
            if self._lost is not None:
                lost, self._lost = self._lost, None
                if isinstance(lost, LineError):
                    self._lost = lost  # a closed port stays closed
                    raise lost
                raise RemoteProtocolError(str(lost))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ModemTimeoutError(f"no answer to {what} within {timeout:g} s")
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
        return self._pending.pop(0)

    async def _timed_out(self, what: str) -> None:
        self._conn.abandon()
        self._timeouts_in_a_row += 1
        await asyncio.sleep(self.settings.quiet_after_timeout)
        self._pending.clear()
        if self._timeouts_in_a_row >= 2:
            raise NoResponseError(f"the modem stopped answering ({what})")

    async def command(
        self,
        text: str,
        *,
        prefix: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        log_as: str | None = None,
    ) -> tuple[str, ...]:
        """Run one command; its information lines, or :class:`CommandError` /
        :class:`ModemTimeoutError`. ``log_as`` replaces the text in logs (a PIN)."""
        command = Command(text=text, prefix=prefix)
        async with self._lock:
            _LOGGER.debug("-> %s", log_as or text)
            self._pending.clear()
            self._write(self._conn.send(command))
            try:
                event = await self._wait_for(
                    timeout or self.settings.command_timeout, log_as or text
                )
            except ModemTimeoutError:
                await self._timed_out(log_as or text)
                raise
            self._timeouts_in_a_row = 0
        if not isinstance(event, Response):  # a prompt nobody asked for: cannot happen
            raise RemoteProtocolError(f"unexpected prompt after {log_as or text}")
        if not event.result.ok:
            raise CommandError(
                log_as or text, event.result.kind, event.result.code, event.result.text
            )
        return event.lines

    async def probe(self) -> None:
        """``AT`` until ``OK`` (a modem just powered may miss the first); else
        :class:`NoResponseError`. Also switches errors to numeric (``AT+CMEE=1``)."""
        for _ in range(self.settings.probe_attempts):
            try:
                await self.command("AT", timeout=self.settings.probe_timeout)
            except ModemTimeoutError:
                self._timeouts_in_a_row = 0
                continue
            except CommandError:
                continue
            break
        else:
            raise NoResponseError(f"no modem answers on {self.settings.port}")
        with contextlib.suppress(CommandError):
            await self.command("AT+CMEE=1")

    async def _optional(self, text: str, prefix: str | None = None) -> tuple[str, ...] | None:
        """A query the modem may not support: None on ERROR or a single timeout."""
        try:
            return await self.command(text, prefix=prefix)
        except CommandError:
            return None
        except NoResponseError:
            raise
        except ModemTimeoutError:
            return None

    async def sim_state(self) -> SimState:
        """``AT+CPIN?``; ``+CME ERROR: 10`` / ``SIM not inserted`` is ``absent``.

        SIM busy (14) right after power-up is retried; SIM failure / wrong (13, 15) and a
        bare ``ERROR`` mean no usable SIM and are reported as ``absent``.
        """
        for attempt in range(3):
            try:
                state = parse_cpin(await self.command("AT+CPIN?", prefix="+CPIN:"))
            except CommandError as err:
                text = (err.text or "").upper()
                if err.code in (10, 13, 15) or "NOT INSERTED" in text or "FAILURE" in text:
                    return "absent"
                if err.kind == "error":  # no code at all: the SIM cannot even be asked
                    return "absent"
                if err.code == 11 or text == "SIM PIN REQUIRED":
                    return "pin_required"
                if err.code == 12 or text == "SIM PUK REQUIRED":
                    return "puk_required"
                if (err.code == 14 or "BUSY" in text) and attempt < 2:
                    await asyncio.sleep(1.0)
                    continue
                raise
            if state is None:
                raise RemoteProtocolError("AT+CPIN? answered without a +CPIN: line")
            return state
        raise ModemTimeoutError("the SIM stayed busy")  # pragma: no cover - loop returns

    async def enter_pin(self, pin: str) -> SimState:
        """Send the SIM PIN (4–8 digits); the PIN never reaches a log or an exception text."""
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("a SIM PIN is 4 to 8 digits")
        await self.command(f'AT+CPIN="{pin}"', log_as='AT+CPIN="****"', timeout=10.0)
        return await self.sim_state()

    async def registration(self) -> Registration:
        """CREG (CS), CGREG (GPRS) and CEREG (EPS) merged; unsupported ones are skipped."""
        states: list[Registration] = []
        for name in ("CREG", "CGREG", "CEREG"):
            lines = await self._optional(f"AT+{name}?", prefix=f"+{name}:")
            if lines is not None and (state := parse_registration(lines, name)) is not None:
                states.append(state)
        return merge_registration(states)

    async def identity(self) -> dict[str, str | None]:
        """Manufacturer, model, firmware and IMEI: read once per open port, then remembered
        (they do not change while the modem is attached; polling them would cost 4 commands)."""
        if self._identity is not None:
            return dict(self._identity)
        out: dict[str, str | None] = {}
        for key, text, prefix in (
            ("manufacturer", "AT+CGMI", "+CGMI:"),
            ("model", "AT+CGMM", "+CGMM:"),
            ("firmware", "AT+CGMR", "+CGMR:"),
            ("imei", "AT+CGSN", "+CGSN:"),
        ):
            lines = await self._optional(text)
            out[key] = None if lines is None else parse_identity(lines, prefix)
        self._vendor = vendor_of(out["manufacturer"], out["model"])
        if out["model"] is not None:
            self._identity = dict(out)
        return out

    async def signal_dbm(self) -> int | None:
        lines = await self._optional("AT+CSQ", prefix="+CSQ:")
        return None if lines is None else parse_csq(lines)

    async def lte_signal(self) -> LteSignal | None:
        """Serving cell figures from the vendor command, None where the module has none."""
        if self._vendor == "quectel":
            lines = await self._optional('AT+QENG="servingcell"', prefix="+QENG:")
            return None if lines is None else parse_qeng_servingcell(lines)
        if self._vendor == "simcom_lte":
            lines = await self._optional("AT+CPSI?", prefix="+CPSI:")
            return None if lines is None else parse_cpsi(lines)
        return None

    async def status(self) -> ModemStatus:
        """Everything the ``modem`` command prints; call :meth:`probe` first."""
        ident = await self.identity()
        sim = await self.sim_state()
        registration = await self.registration()
        operator_name: str | None = None
        technology: AccessTechnology | None = None
        if registration in ("home", "roaming"):
            await self._optional("AT+COPS=3,0")  # long alphanumeric names
            cops = await self._optional("AT+COPS?", prefix="+COPS:")
            if cops is not None:
                operator = parse_cops(cops)
                operator_name, technology = operator.name, operator.access_technology
        signal = await self.signal_dbm()
        lte = await self.lte_signal()
        if lte is not None and lte.access_technology is not None and technology is None:
            technology = lte.access_technology
        if (
            technology is None
            and self._vendor == "simcom_2g"
            and registration
            in (
                "home",
                "roaming",
            )
        ):
            technology = "2G"  # SIM800/SIM900 are GSM-only and print no <AcT>
        return ModemStatus(
            sim=sim,
            registration=registration,
            operator=operator_name,
            access_technology=technology,
            signal_dbm=signal,
            rsrp_dbm=lte.rsrp_dbm if lte is not None else None,
            rsrq_db=lte.rsrq_db if lte is not None else None,
            sinr_raw=lte.sinr_raw if lte is not None else None,
            imei=ident["imei"],
            model=ident["model"],
            manufacturer=ident["manufacturer"],
            firmware=ident["firmware"],
        )

    def _next_reference(self) -> int:
        self._reference = (self._reference + 1) % 256
        return self._reference

    async def send_sms(self, number: str, text: str) -> tuple[int, ...]:
        """Send ``text`` (split and concatenated when needed) in PDU mode; the message
        references (``+CMGS: <mr>``), one per part. :class:`SmsError` with the mapped
        ``+CMS ERROR`` text on failure; ``ValueError`` for a bad number or text."""
        parts = encode_sms(number, text, reference=self._next_reference())
        await self._pdu_mode()
        sent: list[int] = []
        for part in parts:
            try:
                sent.append(await self._send_part(part.tpdu_length, part.pdu))
            except CommandError as err:
                raise SmsError(err.describe(), code=err.code, sent=tuple(sent)) from err
            except ModemTimeoutError as err:
                raise SmsError(f"SMS not confirmed: {err}", sent=tuple(sent)) from err
        return tuple(sent)

    async def _pdu_mode(self) -> None:
        """``AT+CMGF=0``. A SIM800 answers ``ERROR`` until it has said ``SMS Ready``, and a
        retry then works (at_modem.md §1), so a refusal is retried a few times."""
        for attempt in range(self.settings.sms_ready_attempts):
            try:
                await self.command("AT+CMGF=0")
            except CommandError as err:
                if attempt + 1 >= self.settings.sms_ready_attempts:
                    message = f"the modem refused PDU mode: {err.describe()}"
                    raise SmsError(message, code=err.code) from err
                await asyncio.sleep(self.settings.sms_ready_pause)
            else:
                return

    async def _send_part(self, length: int, pdu: str) -> int:
        text = f"AT+CMGS={length}"
        command = Command(text=text, prefix="+CMGS:", expects_prompt=True)
        async with self._lock:
            _LOGGER.debug("-> %s", text)
            self._pending.clear()
            self._write(self._conn.send(command))
            try:
                event = await self._wait_for(self.settings.prompt_timeout, text)
            except ModemTimeoutError:
                # a prompt that comes late would leave the modem taking our next commands as
                # the PDU: ESC ends PDU entry without sending (gammu, Zabbix do the same)
                self._write(b"\x1b")
                await self._timed_out(text)
                raise
            if isinstance(event, Prompt):
                self._write(self._conn.send_pdu(pdu))
                try:
                    event = await self._wait_for(self.settings.sms_timeout, "the SMS PDU")
                except ModemTimeoutError:
                    await self._timed_out("the SMS PDU")
                    raise
            self._timeouts_in_a_row = 0
        if not isinstance(event, Response):
            raise RemoteProtocolError("a second prompt for one PDU")
        if not event.result.ok:
            raise CommandError(text, event.result.kind, event.result.code, event.result.text)
        for line in event.lines:
            value = line.removeprefix("+CMGS:").strip()
            if value.isdigit():
                return int(value)
        raise RemoteProtocolError("the modem accepted the SMS without a +CMGS: reference")
