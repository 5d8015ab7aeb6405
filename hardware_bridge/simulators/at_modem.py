"""A 2G/4G AT modem on a pty: SIMCom SIM800 / SIM7600 or Quectel EC25 flavoured.

What it does like the real modules (reference at_modem.md): echo on by default (``ATE1``),
unsolicited result codes (the boot sequence ``RDY``, ``+CFUN: 1``, ``+CPIN: READY``,
``Call Ready``, ``SMS Ready``, ``*PSUTTZ``…) delivered *inside* the next replies, between an
information line and its ``OK``; SIM states (ready, PIN or PUK required, absent → ``+CME
ERROR: 10``), registration per ``AT+CREG=<n>`` form, a configurable ``+CSQ`` with LTE
figures from ``AT+QENG`` (Quectel) or ``AT+CPSI?`` (SIM7600, in tenths), and SMS in PDU mode
with ``> `` prompt, length check, message references and an injectable ``+CMS ERROR``.

Physics: without a usable SIM nothing registers and no operator is shown; an SMS goes out only
when the SIM is ready and the modem is registered; each accepted part takes the next message
reference. Every accepted PDU is decoded and kept in :attr:`ModemSimulator.sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Self

from hardware_bridge.cellular._errors import CME_ERRORS, CMS_ERRORS
from hardware_bridge.cellular._sms import DecodedSubmit, decode_submit
from hardware_bridge.simulators.virtual_serial import VirtualSerialPort

__all__ = [
    "PROFILES",
    "ModemProfile",
    "ModemSimulator",
    "ModemState",
    "ReceivedSms",
    "RegistrationSetting",
    "SimSetting",
]

type SimSetting = Literal["ready", "pin_required", "puk_required", "absent"]
type RegistrationSetting = Literal["home", "roaming", "searching", "denied", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemProfile:
    manufacturer: str
    model: str
    firmware: str
    vendor: Literal["quectel", "simcom_lte", "simcom_2g"]
    imei: str = "867160040123458"


PROFILES: dict[str, ModemProfile] = {
    "quectel_ec25": ModemProfile(
        manufacturer="Quectel", model="EC25", firmware="EC25EFAR06A06M4G", vendor="quectel"
    ),
    "simcom_sim7600": ModemProfile(
        manufacturer="SIMCOM INCORPORATED",
        model="SIMCOM_SIM7600E-H",
        firmware="+CGMR: LE20B04SIM7600M22",
        vendor="simcom_lte",
    ),
    "simcom_sim800": ModemProfile(
        manufacturer="SIMCOM_Ltd",
        model="SIMCOM_SIM800L",
        firmware="Revision:1418B04SIM800L24",
        vendor="simcom_2g",
    ),
}

_STAT = {"home": 1, "roaming": 5, "searching": 2, "denied": 3, "unknown": 4}


@dataclass(slots=True)
class ModemState:
    """What the radio and the SIM do; change it at any time."""

    sim: SimSetting = "ready"
    pin: str = "1234"
    registration: RegistrationSetting = "home"
    operator: str = "Turkcell"
    plmn: str = "28601"
    csq: int = 20
    rsrp_dbm: int = -95
    rsrq_db: int = -10
    sinr_raw: int = 14
    echo: bool = True
    cms_error: int | None = None
    """Answer every PDU with this ``+CMS ERROR`` (e.g. 500, 330) …"""
    cms_error_after: int = 0
    """… once this many parts have been accepted (to fail in the middle of a long message)."""
    cmgf_errors: int = 0
    """``AT+CMGF`` answers ``ERROR`` this many times (a SIM800 before ``SMS Ready``)."""
    prompt_delay: float = 0.0
    """Seconds before the ``> `` prompt (a slow or stuck modem)."""
    silent: bool = False
    """Answer nothing (a dead modem or the wrong port)."""
    pin_attempts: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedSms:
    reference: int
    pdu: str
    tpdu_length: int
    decoded: DecodedSubmit


@dataclass(slots=True)
class _Settings:
    cmee: int = 0
    cmgf: int = 0
    creg: dict[str, int] = field(default_factory=lambda: {"CREG": 0, "CGREG": 0, "CEREG": 0})
    cops_format: int = 0


class ModemSimulator:
    """``async with ModemSimulator("quectel_ec25") as sim:`` then open :attr:`path`."""

    def __init__(
        self,
        profile: str | ModemProfile = "quectel_ec25",
        state: ModemState | None = None,
        *,
        boot_urcs: bool = True,
        first_reference: int = 0,
    ) -> None:
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.state = state if state is not None else ModemState()
        self.sent: list[ReceivedSms] = []
        self.commands: list[str] = []
        """Every command line received, as sent (tests may check what the driver asked)."""
        self._urcs: deque[str] = deque(self._boot_urcs() if boot_urcs else ())
        if boot_urcs and self.profile.vendor != "quectel":
            self._urcs.append('*PSUTTZ: 2026,11,29,22,40,10,"+12",0')
            self._urcs.append("DST: 0")
        self._settings = _Settings()
        self._reference = first_reference
        self._port: VirtualSerialPort | None = None
        self._task: asyncio.Task[None] | None = None
        self._late_prompt: asyncio.TimerHandle | None = None

    def _boot_urcs(self) -> list[str]:
        """What a module prints after power-up, for the SIM it holds."""
        sim = self.state.sim
        cpin = {"ready": "READY", "pin_required": "SIM PIN", "puk_required": "SIM PUK"}
        urcs = ["RDY", "+CFUN: 1", f"+CPIN: {cpin.get(sim, 'NOT INSERTED')}", "Call Ready"]
        return [*urcs, "SMS Ready"] if sim == "ready" else urcs

    @property
    def path(self) -> str:
        if self._port is None:
            raise RuntimeError("the simulator is not running")
        return self._port.path

    async def __aenter__(self) -> Self:
        self._port = VirtualSerialPort()
        self._port.start()
        self._task = asyncio.create_task(self._serve(), name="at-modem-simulator")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._port is not None:
            self._port.close()

    def queue_urc(self, line: str) -> None:
        """Deliver ``line`` inside the next reply (between its information and its result)."""
        self._urcs.append(line)

    def send_urc(self, line: str) -> None:
        """Write ``line`` now, between replies."""
        if self._port is not None:
            self._port.write(f"\r\n{line}\r\n".encode("latin-1"))

    def set_registration(self, registration: RegistrationSetting) -> None:
        """Change the registration and announce it as a URC in the form ``AT+CREG=<n>`` chose."""
        self.state.registration = registration
        for name, n in self._settings.creg.items():
            if n == 0 or (name == "CEREG" and self.profile.vendor == "simcom_2g"):
                continue
            stat = self._stat()
            self.send_urc(f"+{name}: {stat}" if n == 1 else f'+{name}: {stat},"2B5C","01A2B3C4"')

    def messages(self) -> list[tuple[str, str]]:
        """(number, text) per message, concatenated parts joined in sequence order."""
        out: list[tuple[str, str]] = []
        groups: dict[tuple[str, int, int], dict[int, str]] = {}
        for sms in self.sent:
            d = sms.decoded
            if d.concat is None:
                out.append((d.number, d.text))
                continue
            ref, total, seq = d.concat
            parts = groups.setdefault((d.number, ref, total), {})
            parts[seq] = d.text
            if len(parts) == total:
                out.append((d.number, "".join(parts[i] for i in range(1, total + 1))))
        return out

    # -- the line --------------------------------------------------------------------------

    async def _serve(self) -> None:
        assert self._port is not None
        port = self._port
        buffer = bytearray()
        pdu_for: int | None = None  # the <length> of AT+CMGS while the prompt is open
        while True:
            chunk = await port.read()
            if self.state.silent:
                continue
            if self.state.echo:
                port.write(chunk)
            buffer += chunk
            while True:
                if pdu_for is not None:
                    end = next((i for i, b in enumerate(buffer) if b in (0x1A, 0x1B)), -1)
                    if end < 0:
                        break
                    text, cancel = buffer[:end].decode("latin-1").strip(), buffer[end] == 0x1B
                    del buffer[: end + 1]
                    if self._late_prompt is not None:
                        self._late_prompt.cancel()
                        self._late_prompt = None
                    self._reply([], "OK" if cancel else None, sms=(pdu_for, text, cancel))
                    pdu_for = None
                    continue
                end = buffer.find(b"\r")
                if end < 0:
                    break
                line = buffer[:end].decode("latin-1").strip()
                del buffer[: end + 1]
                if not line:
                    continue
                self.commands.append(line)
                pdu_for = self._handle(line)

    def _write(self, text: str) -> None:
        assert self._port is not None
        self._port.write(text.encode("latin-1"))

    def _reply(
        self,
        lines: list[str],
        result: str | None,
        *,
        sms: tuple[int, str, bool] | None = None,
    ) -> None:
        if sms is not None:
            lines, result = self._accept_sms(*sms)
        out = [f"\r\n{line}\r\n" for line in lines]
        if self._urcs:  # interleaved: after the first information line, before the result
            out.insert(min(1, len(out)), f"\r\n{self._urcs.popleft()}\r\n")
        out.append(f"\r\n{result}\r\n")
        self._write("".join(out))

    def _error(self, code: int, kind: str = "CME") -> str:
        if self._settings.cmee == 0:
            return "ERROR"
        if self._settings.cmee == 2:
            table = CME_ERRORS if kind == "CME" else CMS_ERRORS
            return f"+{kind} ERROR: {table.get(code, 'unknown error')}"
        return f"+{kind} ERROR: {code}"

    def _sim_error(self) -> int | None:
        return {"absent": 10, "pin_required": 11, "puk_required": 12}.get(self.state.sim)

    def _stat(self) -> int:
        if self.state.sim != "ready":
            return 0
        return _STAT[self.state.registration]

    def _registered(self) -> bool:
        return self._stat() in (1, 5)

    def _handle(self, line: str) -> int | None:
        upper = line.upper()
        if not upper.startswith("AT"):
            self._reply([], "ERROR")
            return None
        body, vendor = upper[2:], self.profile.vendor
        s, st = self._settings, self.state
        if body in ("", "Z", "&F"):
            self._reply([], "OK")
        elif body in ("E0", "E1"):
            st.echo = body == "E1"
            self._reply([], "OK")
        elif body.startswith("+CMEE="):
            s.cmee = int(body[6:]) if body[6:] in ("0", "1", "2") else s.cmee
            self._reply([], "OK")
        elif body in ("+CGMI", "+GMI"):
            self._reply([self.profile.manufacturer], "OK")
        elif body in ("+CGMM", "+GMM"):
            self._reply([self.profile.model], "OK")
        elif body in ("+CGMR", "+GMR"):
            self._reply([self.profile.firmware], "OK")
        elif body in ("+CGSN", "+GSN"):
            self._reply([self.profile.imei], "OK")
        elif body == "+CPIN?":
            code = 10 if st.sim == "absent" else None
            if code is not None:
                self._reply([], self._error(code))
            else:
                value = {"ready": "READY", "pin_required": "SIM PIN", "puk_required": "SIM PUK"}
                self._reply([f"+CPIN: {value[st.sim]}"], "OK")
        elif body.startswith("+CPIN="):
            self._enter_pin(line[8:].strip().strip('"').split('"')[0])
        elif body == "+CSQ":
            self._reply([f"+CSQ: {st.csq},99"], "OK")
        elif body.rstrip("?").lstrip("+") in ("CREG", "CGREG", "CEREG") and body.endswith("?"):
            name = body[1:-1]
            if name == "CEREG" and vendor == "simcom_2g":
                self._reply([], "ERROR")
            elif s.creg[name] == 2 and self._registered():
                act = "" if vendor == "simcom_2g" else ",7"
                self._reply([f'+{name}: 2,{self._stat()},"2B5C","01A2B3C4"{act}'], "OK")
            else:
                self._reply([f"+{name}: {s.creg[name]},{self._stat()}"], "OK")
        elif body.split("=")[0].lstrip("+") in ("CREG", "CGREG", "CEREG") and "=" in body:
            name, mode = body[1:].split("=", 1)
            if mode in ("0", "1", "2") and not (name == "CEREG" and vendor == "simcom_2g"):
                s.creg[name] = int(mode)
                self._reply([], "OK")
            else:
                self._reply([], "ERROR")
        elif body.startswith("+COPS=3,"):
            s.cops_format = 2 if body.endswith("2") else 0
            self._reply([], "OK")
        elif body == "+COPS?":
            if not self._registered():
                self._reply(["+COPS: 0"], "OK")
            else:
                name = st.plmn if s.cops_format == 2 else st.operator
                act = "" if vendor == "simcom_2g" else ",7"
                self._reply([f'+COPS: 0,{s.cops_format},"{name}"{act}'], "OK")
        elif body == "+CPSI?" and vendor == "simcom_lte":
            self._reply([self._cpsi()], "OK")
        elif body == '+QENG="SERVINGCELL"' and vendor == "quectel":
            self._reply([self._qeng()], "OK")
        elif body.startswith("+CMGF="):
            if st.cmgf_errors > 0:
                st.cmgf_errors -= 1
                self._reply([], "ERROR")
                return None
            s.cmgf = 1 if body.endswith("1") else 0
            self._reply([], "OK")
        elif body.startswith("+CMGS="):
            length = body[6:]
            if s.cmgf != 0 or not length.isdigit():
                self._reply([], self._error(304, "CMS"))
                return None
            if st.prompt_delay:  # not sent at all if the host cancels (ESC) before
                self._late_prompt = asyncio.get_running_loop().call_later(
                    st.prompt_delay, self._write, "\r\n> "
                )
            else:
                self._write("\r\n> ")
            return int(length)
        else:
            self._reply([], "ERROR")
        return None

    def _enter_pin(self, pin: str) -> None:
        st = self.state
        if st.sim == "absent":
            self._reply([], self._error(10))
        elif st.sim != "pin_required":
            self._reply([], self._error(3))
        elif pin == st.pin:
            st.sim = "ready"
            st.pin_attempts = 3
            self._urcs.extend(("+CPIN: READY", "SMS Ready"))
            self._reply([], "OK")
        else:
            st.pin_attempts -= 1
            if st.pin_attempts <= 0:
                st.sim = "puk_required"
            self._reply([], self._error(16))

    def _rssi_dbm(self) -> int:
        return -113 + 2 * self.state.csq if 0 <= self.state.csq <= 31 else -113

    def _cpsi(self) -> str:
        st = self.state
        if not self._registered():
            return "+CPSI: NO SERVICE,Online"
        mcc, mnc = st.plmn[:3], st.plmn[3:]
        return (
            f"+CPSI: LTE,Online,{mcc}-{mnc},0x2B5C,27453892,301,EUTRAN-BAND3,1850,5,5,"
            f"{st.rsrq_db * 10},{st.rsrp_dbm * 10},{self._rssi_dbm() * 10},{st.sinr_raw}"
        )

    def _qeng(self) -> str:
        st = self.state
        if not self._registered():
            return '+QENG: "servingcell","SEARCH"'
        mcc, mnc = st.plmn[:3], st.plmn[3:]
        return (
            f'+QENG: "servingcell","NOCONN","LTE","FDD",{mcc},{mnc},1A2B3C4,301,1850,3,5,5,'
            f"2B5C,{st.rsrp_dbm},{st.rsrq_db},{self._rssi_dbm()},{st.sinr_raw},40"
        )

    def _accept_sms(self, length: int, pdu: str, cancel: bool) -> tuple[list[str], str]:
        if cancel:
            return [], "OK"
        sim_error = {10: 310, 11: 311, 12: 316}.get(self._sim_error() or 0)
        if sim_error is not None:
            return [], self._error(sim_error, "CMS")
        if not self._registered():
            return [], self._error(331, "CMS")
        if self.state.cms_error is not None and len(self.sent) >= self.state.cms_error_after:
            return [], self._error(self.state.cms_error, "CMS")
        try:
            raw = bytes.fromhex(pdu)
            decoded = decode_submit(pdu)
        except ValueError:
            return [], self._error(304, "CMS")
        if len(raw) - 1 - raw[0] != length:
            return [], self._error(304, "CMS")
        self._reference = (self._reference + 1) % 256
        self.sent.append(
            ReceivedSms(reference=self._reference, pdu=pdu, tpdu_length=length, decoded=decoded)
        )
        return [f"+CMGS: {self._reference}"], "OK"
