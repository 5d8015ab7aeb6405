"""A simulated IEC 62056-21 meter line (mode C) on a virtual serial port.

The client opens :attr:`MeterSimulator.path` like a real port. The simulator plays the meter
side of mode C for one or several meters on the line (RS-485 multi-drop)::

    ← / ? [address] !            one meter answers (the addressed one; the first for /?!)
    → / X X X Z [tag] ident       after ``reaction_time``
    ← ACK 0 Z' Y                  Y: 0 full readout, 6 short (TEDAŞ), 7 history, 1 programming
    (waits until the client's pty really runs at Z' — see :attr:`MeterSimulator.last_client_baud`)
    → STX data ! CR LF ETX BCC    from the meter's telegram file, with live energy counters
    ← SOH B0 ETX BCC              break: back to idle

Faults (:class:`Faults`) may be switched at any time: silence, bad BCC, echo of every byte
received, garbage before answers, slow answers, a cable that garbles data sent faster
than a given rate, noise glued in front of the identification, garbled identifications, a
readout cut short (with a valid BCC over what was sent) and a block that never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import math
import re
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Self

from hardware_bridge.iec62056 import (
    DataSet,
    Identification,
    Value,
    bcc,
    parse_datasets,
    parse_identification,
)
from hardware_bridge.iec62056._ident import BAUD_CHARS_MODE_C
from hardware_bridge.simulators.meter_physics import (
    EnergyIntegrator,
    Load,
    MeterClock,
    month_start,
    months_between,
    reactive_rates,
)
from hardware_bridge.simulators.virtual_serial import VirtualSerialPort

__all__ = [
    "SHORT_READOUT_CODES",
    "Faults",
    "MeterSimulator",
    "SimulatedMeter",
    "load_telegram",
    "shipped_telegrams",
]

SOH, STX, ETX, EOT, ACK, NAK = 0x01, 0x02, 0x03, 0x04, 0x06, 0x15
_STRIP_PARITY = bytes(i & 0x7F for i in range(256))
_TERMIOS_BAUD = {
    getattr(termios, f"B{rate}"): rate
    for rate in BAUD_CHARS_MODE_C.values()
    if hasattr(termios, f"B{rate}")
}

SHORT_READOUT_CODES = frozenset(
    {
        "0.0.0", "0.2.0", "0.9.1", "0.9.2", "0.9.5", "96.1.0",
        "1.8.0", "1.8.1", "1.8.2", "1.8.3", "1.8.4",
        "2.8.0", "2.8.1", "2.8.2", "2.8.3", "2.8.4",
        "5.8.0", "6.8.0", "7.8.0", "8.8.0", "1.6.0",
        "31.7.0", "51.7.0", "71.7.0", "32.7.0", "52.7.0", "72.7.0",
        "13.7.0", "14.7.0", "96.6.1", "F.F", "F.F.0",
    }
)  # fmt: skip
"""Data sets of the TEDAŞ short readout package (option ``6``), Annex C."""

_NUMBER = re.compile(r"([+-]?)(\d*)\.?(\d*)")


def shipped_telegrams() -> dict[str, Path]:
    """Telegram files shipped with the package, by name (file stem)."""
    folder = resources.files("hardware_bridge.simulators") / "telegrams"
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".txt")
    }


def load_telegram(source: str | Path) -> tuple[Identification, tuple[DataSet, ...]]:
    """Identification and data sets of a telegram file (a shipped name or a path).

    Format: ``#`` comment lines, the identification line, data set lines, ``!``.
    """
    shipped = shipped_telegrams()
    path = shipped[str(source)] if str(source) in shipped else Path(source)
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if not lines or not lines[0].startswith("/"):
        raise ValueError(f"{path}: the first line after comments must be the identification")
    return parse_identification(lines[0]), parse_datasets("\r\n".join(lines[1:]))


_PHASE_CODES = (  # (voltage, current, power factor) of L1, L2, L3
    ("32.7.0", "31.7.0", "33.7.0"),
    ("52.7.0", "51.7.0", "53.7.0"),
    ("72.7.0", "71.7.0", "73.7.0"),
)
_TARIFF_CODES = {1: "1.8.1", 2: "1.8.2", 3: "1.8.3"}
_TOTAL, _INDUCTIVE, _CAPACITIVE = "1.8.0", "5.8.0", "8.8.0"
_DEMAND, _DEMAND_NOW, _POWER = "1.6.0", "1.4.0", "1.7.0"
_RESETS, _RESET_TIMES, _PRODUCED = "0.1.0", "0.1.2", "96.1.3"
_BILLING_CODES = frozenset(
    {"1.8.0", "1.8.1", "1.8.2", "1.8.3", "1.8.4", "2.8.0", "2.8.1", "2.8.2", "2.8.3", "2.8.4",
     "5.8.0", "6.8.0", "7.8.0", "8.8.0", "1.6.0", "2.6.0", "0.1.2"}
)  # fmt: skip
"""Registers a billing reset (the first of a month, 00:00) copies into history (TEDAŞ 102)."""
_NO_EVENT = "00-00-00,00:00"
_STAMP = "%y-%m-%d,%H:%M"


class SimulatedMeter:
    """One meter: identification, address and a telegram driven by a simulated load.

    The load (:mod:`~hardware_bridge.simulators.meter_physics`) is ``load_kw`` of active power
    shared by the phases that have voltage in the telegram, ``reactive_kvar`` inductive and
    ``capacitive_kvar`` capacitive reactive power (default: a fifth of the inductive, on the
    last phase; none on a one-phase meter). The telegram's currents and power factors follow
    from it, and its registers integrate it over the meter's clock: active energy into the
    tariff register of the clock's hour (1.8.0 is their sum), reactive energy into 5.8.0
    (inductive) and 8.8.0 (capacitive). The clock starts at ``start`` (default: now) and runs
    ``time_scale`` times real time (3600 = one simulated hour per second) — 0.9.1/0.9.2 show
    it; tests may pass their own ``clock``. On the first of each month at 00:00 the meter
    makes its billing reset: 0.1.0 counts it, 0.1.2*1 stamps it, registers move into history
    and the maximum demand starts again ("00-00-00,00:00": no event yet).
    """

    def __init__(
        self,
        telegram: str | Path = "makel_c520_3p",
        *,
        address: str | None = None,
        baud_char: str | None = None,
        load_kw: float = 2.0,
        reactive_kvar: float = 0.5,
        capacitive_kvar: float | None = None,
        time_scale: float = 1.0,
        start: dt.datetime | None = None,
        clock: MeterClock | None = None,
    ) -> None:
        ident, datasets = load_telegram(telegram)
        if baud_char is not None:
            ident = Identification(
                manufacturer=ident.manufacturer,
                baud_char=baud_char,
                tag=ident.tag,
                ident=ident.ident,
            )
        self.identification = ident
        serial = next((d.value for d in datasets if d.code in ("0.0.0", "C.1.0")), None) or ""
        self.address = address if address is not None else f"{ident.manufacturer.upper()}{serial}"
        self.clock = clock if clock is not None else MeterClock(start, time_scale)
        self.time_scale = self.clock.time_scale
        self._template: dict[str, tuple[Value, ...]] = {d.address: d.values for d in datasets}
        self._order = [d.address for d in datasets]
        voltages = [self._number(u) or 0.0 for u, _, _ in _PHASE_CODES]
        live = sum(1 for u in voltages if u > 50)
        if capacitive_kvar is None:
            capacitive_kvar = reactive_kvar / 5 if live > 1 else 0.0
        self.load = Load(
            active_kw=load_kw, inductive_kvar=reactive_kvar, capacitive_kvar=capacitive_kvar
        )
        self.phases = self.load.phases(voltages)
        inductive, capacitive = reactive_rates(self.phases)
        self._energy = EnergyIntegrator(self.clock.start, load_kw, inductive, capacitive)
        self._initial = {
            code: self._number(code) or 0.0
            for code in (_TOTAL, *_TARIFF_CODES.values(), _INDUCTIVE, _CAPACITIVE)
        }
        self._demand_anchor = self.clock.start
        self._demand_checked: dt.datetime | None = None
        self._set_initial_billing()

    # -- the telegram as state ----------------------------------------------------------
    def _number(self, code: str) -> float | None:
        values = self._template.get(code)
        if not values:
            return None
        try:
            return float(values[0].value.replace(" ", ""))
        except ValueError:
            return None

    def _set(self, code: str, *values: Value) -> None:
        if code not in self._template:
            self._order.append(code)
        self._template[code] = values

    def _set_initial_billing(self) -> None:
        """Reset count and reset stamps as a meter produced on 96.1.3 would show at start."""
        start = self.clock.start
        produced = self._template.get(_PRODUCED)
        if _RESETS in self._template and produced:
            try:
                made: dt.datetime | None = dt.datetime.strptime(produced[0].value, "%y-%m-%d")
            except ValueError:
                made = None
            if made is not None:
                count = months_between(made, start) % 100
                self._set(_RESETS, Value(value=_like(self._template[_RESETS][0].value, count)))
        for address, values in list(self._template.items()):
            if address.startswith(_RESET_TIMES + "*") and values:
                period = int(address.rpartition("*")[2])
                stamp = month_start(start, period - 1).strftime(_STAMP)
                self._set(address, Value(value=stamp), *values[1:])
        self._set_initial_demand()

    def _set_initial_demand(self) -> None:
        """The current maximum demand on its captured day and time of this billing month, or
        none yet when that moment is still to come (as just after a billing reset)."""
        demand = self._template.get(_DEMAND)
        if not demand or len(demand) < 2 or demand[1].value == _NO_EVENT:
            return
        try:
            captured = dt.datetime.strptime(demand[1].value, _STAMP)
        except ValueError:
            return
        start = self.clock.start
        try:
            moved = start.replace(
                day=captured.day, hour=captured.hour, minute=captured.minute, second=0
            )
        except ValueError:  # the 31st in a shorter month
            moved = start
        if moved <= start:
            self._set(_DEMAND, demand[0], Value(value=moved.strftime(_STAMP)), *demand[2:])
        else:
            zero = Value(value=_like(demand[0].value, 0.0), unit=demand[0].unit)
            self._set(_DEMAND, zero, Value(value=_NO_EVENT), *demand[2:])

    def _registers(self) -> dict[str, str]:
        """Energy registers as the meter shows them now (whole units of the last digit)."""
        energy = self._energy
        texts: dict[str, str] = {}
        units_added = 0
        tariffs_present = all(code in self._template for code in _TARIFF_CODES.values())
        for tariff, code in _TARIFF_CODES.items():
            if code in self._template:
                template = self._template[code][0].value
                before = _units(template, self._initial[code])
                after = _units(template, self._initial[code] + energy.active_kwh[tariff])
                units_added += after - before
                texts[code] = _format_units(template, after)
        if _TOTAL in self._template:
            template = self._template[_TOTAL][0].value
            if tariffs_present:  # the total is the sum of the tariff registers
                total = _units(template, self._initial[_TOTAL]) + units_added
            else:
                added = sum(energy.active_kwh.values())
                total = _units(template, self._initial[_TOTAL] + added)
            texts[_TOTAL] = _format_units(template, total)
        for code, counted in (
            (_INDUCTIVE, energy.inductive_kvarh),
            (_CAPACITIVE, energy.capacitive_kvarh),
        ):
            if code in self._template:
                template = self._template[code][0].value
                units = _units(template, self._initial[code] + counted)
                texts[code] = _format_units(template, units)
        return texts

    def _advance(self) -> dt.datetime:
        now = self.clock.now()
        self._energy.advance(now, self._midnight)
        self._check_demand(now)
        return now

    def _check_demand(self, now: dt.datetime) -> None:
        """A new maximum demand once a whole demand period at the present load has passed."""
        current = self._template.get(_DEMAND)
        if not current or self._demand_checked == self._demand_anchor:
            return
        period = dt.timedelta(minutes=self._number("0.8.0") or 15.0)
        day = self._demand_anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        steps = math.ceil((self._demand_anchor - day) / period)
        first_end = day + period * (steps + 1)
        if now < first_end:
            return
        self._demand_checked = self._demand_anchor
        recorded = self._number(_DEMAND) or 0.0
        if self.load.active_kw > recorded:
            value = Value(value=_like(current[0].value, self.load.active_kw), unit=current[0].unit)
            self._set(_DEMAND, value, Value(value=first_end.strftime(_STAMP)))

    def _midnight(self, moment: dt.datetime) -> None:
        """At 00:00 on the first of a month: the billing reset."""
        if moment.day != 1:
            return
        self._check_demand(moment)
        registers = self._registers()
        for code in _BILLING_CODES:
            periods = sorted(
                int(address.rpartition("*")[2])
                for address in self._template
                if address.rpartition("*")[0] == code
            )
            if not periods:
                continue
            for period in reversed(periods[1:]):
                self._set(f"{code}*{period}", *self._template[f"{code}*{period - 1}"])
            first = f"{code}*{periods[0]}"
            if code == _RESET_TIMES:
                self._set(first, Value(value=moment.strftime(_STAMP)))
            elif code in registers:
                unit = self._template[code][0].unit
                self._set(first, Value(value=registers[code], unit=unit))
            elif code in self._template:
                self._set(first, *self._template[code])
        demand = self._template.get(_DEMAND)
        if demand:
            zero = Value(value=_like(demand[0].value, 0.0), unit=demand[0].unit)
            self._set(_DEMAND, zero, Value(value=_NO_EVENT))
        if _RESETS in self._template:
            template = self._template[_RESETS][0].value
            count = (int(self._number(_RESETS) or 0) + 1) % 100
            self._set(_RESETS, Value(value=_like(template, count)))
        self._demand_anchor = moment

    def _live_values(self, now: dt.datetime) -> dict[str, tuple[Value, ...]]:
        live: dict[str, tuple[Value, ...]] = {
            "0.9.1": (Value(value=now.strftime("%H:%M:%S")),),
            "0.9.2": (Value(value=now.strftime("%y-%m-%d")),),
            "0.9.5": (Value(value=str(now.isoweekday())),),
        }
        for code, text in self._registers().items():
            live[code] = (Value(value=text, unit=self._template[code][0].unit),)
        for (_, current_code, pf_code), phase in zip(_PHASE_CODES, self.phases, strict=True):
            if current_code in self._template:
                unit = self._template[current_code][0].unit
                text = _like(self._template[current_code][0].value, phase.current)
                live[current_code] = (Value(value=text, unit=unit),)
            if pf_code in self._template and phase.active_kw > 0:
                text = _like(self._template[pf_code][0].value, phase.power_factor)
                live[pf_code] = (Value(value=text),)
        apparent = sum(p.apparent_kva for p in self.phases)
        if "13.7.0" in self._template:
            factor = self.load.active_kw / apparent if apparent > 0 else 1.0
            live["13.7.0"] = (Value(value=_like(self._template["13.7.0"][0].value, factor)),)
        for code in (_DEMAND_NOW, _POWER):
            if code in self._template:
                first = self._template[code][0]
                text = _like(first.value, self.load.active_kw)
                live[code] = (Value(value=text, unit=first.unit),)
        return live

    # -- what the client sees ------------------------------------------------------------
    @property
    def hours_elapsed(self) -> float:
        """Hours the meter's clock has run since the simulation started."""
        return (self.clock.now() - self.clock.start).total_seconds() / 3600

    def datasets(self, mode: str = "0") -> tuple[DataSet, ...]:
        """The data sets this meter sends now for option-select mode ``mode``."""
        now = self._advance()
        live = self._live_values(now)
        out: list[DataSet] = []
        for address in self._order:
            dataset = DataSet(address=address, values=live.get(address, self._template[address]))
            if mode == "6" and (
                dataset.history is not None or dataset.code not in SHORT_READOUT_CODES
            ):
                continue
            if mode == "7" and dataset.history is None:
                continue
            out.append(dataset)
        return tuple(out)

    def counter(self, code: str) -> float:
        """Current value of an energy counter (for tests)."""
        for dataset in self.datasets():
            if dataset.address == code and dataset.value is not None:
                return float(dataset.value)
        raise KeyError(code)

    def data_block(self, mode: str = "0", *, cut_after: int | None = None) -> bytes:
        """The text between STX and ETX: data lines, then ``!`` CR LF.

        ``cut_after``: only the first N data lines, and no ``!`` (a readout cut short).
        """
        lines = [
            dataset.address
            + "".join(
                f"({v.value}*{v.unit})" if v.unit is not None else f"({v.value})"
                for v in dataset.values
            )
            for dataset in self.datasets(mode)
        ]
        if cut_after is not None:
            return "".join(f"{line}\r\n" for line in lines[:cut_after]).encode("ascii")
        return ("\r\n".join([*lines, "!"]) + "\r\n").encode("ascii")


def _decimals(template: str) -> int:
    match = _NUMBER.fullmatch(template.strip(" +-"))
    return len(match.group(3)) if match is not None else 0


def _units(template: str, value: float) -> int:
    """Whole units of the template's last digit in ``value`` (a register's pulse count)."""
    return math.floor(value * 10.0 ** _decimals(template) + 1e-6)


def _format_units(template: str, units: int) -> str:
    return _like(template, units / 10 ** _decimals(template))


def _like(template: str, value: float) -> str:
    """``value`` written the way ``template`` is: width, decimals, a leading sign or space."""
    body = template.lstrip(" +")
    match = _NUMBER.fullmatch(body)
    if match is None or not (match.group(2) or match.group(3)):
        return f"{value:g}"
    lead = template[: len(template) - len(body)]
    decimals = len(match.group(3))
    width = len(body)
    if value < 0:
        return f"-{abs(value):0{max(width - 1, 1)}.{decimals}f}"
    return f"{lead}{value:0{width}.{decimals}f}"


@dataclass(slots=True)
class Faults:
    """Line faults; change them at any time, they apply to the next answer."""

    silent: bool = False
    bad_bcc: bool = False
    echo: bool = False
    garbage: bytes = b""
    delay: float = 0.0
    max_clean_baud: int | None = None
    """Data sent faster than this arrives garbled (a long or noisy cable)."""
    noise_before_ident: bytes = b""
    """Bytes glued in front of the identification line (``b"\\x82"``, a second ``/``)."""
    garbled_idents: int = 0
    """This many identification answers arrive garbled (then counts down to 0)."""
    cut_after: int | None = None
    """The readout stops after this many data sets, without ``!``, yet ends with ETX and a
    BCC that is valid over what was sent (a meter that cut its own readout short)."""
    stream: bool = False
    """The readout never ends: its data lines repeat at the line's rate without ETX, until a
    break or a new sign-on."""
    stream_pause: float = 0.0
    """Extra seconds between the lines of an endless readout (a meter that dribbles)."""


@dataclass(slots=True)
class _Session:
    meter: SimulatedMeter
    started: float = field(default_factory=time.monotonic)


class MeterSimulator:
    """Meters on one virtual line. Use as ``async with MeterSimulator(...) as sim:``."""

    def __init__(
        self,
        meters: Sequence[SimulatedMeter] | None = None,
        *,
        reaction_time: float = 0.2,
        switch_timeout: float = 1.0,
        session_timeout: float = 2.2,
        faults: Faults | None = None,
        partial_block_size: int | None = None,
    ) -> None:
        self.meters = list(meters) if meters else [SimulatedMeter()]
        self.reaction_time = reaction_time
        self.switch_timeout = switch_timeout
        self.session_timeout = session_timeout
        self.faults = faults if faults is not None else Faults()
        self.partial_block_size = partial_block_size
        """Send the readout in partial blocks (EOT) of this many bytes, each acknowledged."""
        self.partial_replies: list[bytes] = []
        """ACK/NAK received after each partial block."""
        self.requests: list[str] = []
        """Addresses of every sign-on seen (``""`` for ``/?!``)."""
        self.option_selects: list[str] = []
        """Every option select seen, as ``"VZY"``."""
        self.last_client_baud: int | None = None
        """Baud rate the client's pty ran at when the last readout was sent."""
        self.readouts_sent = 0
        self._port: VirtualSerialPort | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: _Session | None = None
        self._stream: asyncio.Task[None] | None = None
        self._closing = False
        self.streamed_bytes = 0
        """Bytes sent by endless readouts (:attr:`Faults.stream`)."""

    @property
    def path(self) -> str:
        if self._port is None:
            raise RuntimeError("the simulator is not running")
        return self._port.path

    @property
    def port(self) -> VirtualSerialPort:
        if self._port is None:
            raise RuntimeError("the simulator is not running")
        return self._port

    async def __aenter__(self) -> Self:
        self._port = VirtualSerialPort()
        self._port.start()
        self._task = asyncio.create_task(self._serve(), name="iec-meter-simulator")
        return self

    async def __aexit__(self, *exc: object) -> None:
        # The flag as well as the cancel: a cancel that lands as a read's timeout expires can
        # be taken for that timeout (seen on Python 3.14), and the serving loop must end anyway.
        self._closing = True
        await self._stop_stream()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._port is not None:
            self._port.close()

    @property
    def streaming(self) -> bool:
        """An endless readout (:attr:`Faults.stream`) is being sent."""
        return self._stream is not None and not self._stream.done()

    def client_baud(self) -> int | None:
        """The output baud rate the client last configured on its end of the pty."""
        return _TERMIOS_BAUD.get(self.port.client_settings()[1])

    async def _serve(self) -> None:
        port = self.port
        buffer = bytearray()
        while not self._closing:
            chunk = await port.read(timeout=0.5)
            if (
                self._session is not None
                and time.monotonic() - self._session.started > self.session_timeout
            ):
                self._session = None  # the client never sent the option select
            if not chunk:
                continue
            if self.faults.echo:
                port.write(chunk)
            buffer += chunk.translate(_STRIP_PARITY)
            while (message := _take_message(buffer)) is not None:
                await self._handle(message)

    async def _answer_delay(self) -> None:
        await asyncio.sleep(self.reaction_time + self.faults.delay)

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream
            self._stream = None

    async def _handle(self, message: bytes) -> None:
        await self._stop_stream()  # whatever the client sends ends an endless readout
        if message.startswith(b"/?") and message.endswith(b"!"):
            await self._sign_on(message[2:-1].decode("latin-1"))
        elif message[:1] == bytes([ACK]) and len(message) == 4 and self._session is not None:
            await self._option_select(message[1:].decode("latin-1"))
        elif message[:1] == bytes([SOH]) and message[1:3] == b"B0":
            self._session = None

    async def _sign_on(self, address: str) -> None:
        self.requests.append(address)
        self._session = None
        meter = next((m for m in self.meters if address in ("", m.address)), None)
        if meter is None or self.faults.silent:
            return
        await self._answer_delay()
        if self.faults.garbage:
            self.port.write(self.faults.garbage)
        line = meter.identification.to_line()
        if self.faults.garbled_idents > 0:
            self.faults.garbled_idents -= 1
            line = line[:1] + b"\xff" + line[2:]  # a bit error in the manufacturer code
        self.port.write(self.faults.noise_before_ident + line)
        self._session = _Session(meter=meter)

    async def _option_select(self, vzy: str) -> None:
        session, self._session = self._session, None
        assert session is not None
        self.option_selects.append(vzy)
        rate = BAUD_CHARS_MODE_C.get(vzy[1])
        if rate is None or rate > session.meter.identification.baud_rate or self.faults.silent:
            return
        mode = vzy[2]
        if rate != 300:
            deadline = time.monotonic() + self.switch_timeout
            # termios changes raise no event on the master side: poll the slave's settings
            while self.client_baud() != rate and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        self.last_client_baud = self.client_baud()
        await self._answer_delay()
        if mode == "1":
            serial = session.meter.address.encode("ascii")
            body = b"P0" + bytes([STX]) + b"(" + serial + b")" + bytes([ETX])
            self.port.write(bytes([SOH]) + body + bytes([bcc(body)]))
            return
        if self.last_client_baud != rate:
            self.port.write(b"\xf8\x80\xfe\x00" * 8)  # the client listens at the wrong rate
            return
        if self.faults.stream:
            self._stream = asyncio.create_task(
                self._send_endless(session.meter.data_block(mode), rate), name="iec-endless"
            )
            return
        data = session.meter.data_block(mode, cut_after=self.faults.cut_after)
        size = self.partial_block_size
        while size is not None and len(data) > size:
            if not await self._send_partial(data[:size]):
                return
            data = data[size:]
        payload = data + bytes([ETX])
        check = bcc(payload)
        if self.faults.max_clean_baud is not None and rate > self.faults.max_clean_baud:
            # bit errors on a poor line; the BCC catches them (forced, as XOR could cancel out)
            payload = bytes(
                b ^ 0x10 if i % 7 == 3 and b != ETX else b for i, b in enumerate(payload)
            )
            check = bcc(payload) ^ 0x01 if bcc(payload) == check else check
        if self.faults.bad_bcc:
            check = bcc(payload) ^ 0x01
        frame = bytes([STX]) + payload + bytes([check])
        if self.faults.garbage:
            self.port.write(self.faults.garbage)
        self.port.write(frame)
        self.readouts_sent += 1

    async def _send_endless(self, data: bytes, rate: int) -> None:
        """STX, then the data lines again and again at ``rate`` (ten bits a character)."""
        lines = data.replace(b"!\r\n", b"").splitlines(keepends=True)
        self.port.write(bytes([STX]))
        for line in itertools.cycle(lines):
            self.port.write(line)
            self.streamed_bytes += len(line)
            await asyncio.sleep(len(line) * 10 / rate + self.faults.stream_pause)

    async def _send_partial(self, chunk: bytes) -> bool:
        """STX chunk EOT BCC, then wait for ACK (next) or NAK (resend); False if neither."""
        body = chunk + bytes([EOT])
        for _ in range(3):
            self.port.write(bytes([STX]) + body + bytes([bcc(body)]))
            reply = (await self.port.read(timeout=self.session_timeout)).translate(_STRIP_PARITY)
            self.partial_replies.append(reply)
            if reply[:1] == bytes([ACK]):
                return True
            if reply[:1] != bytes([NAK]):
                return False
        return False


def _take_message(buffer: bytearray) -> bytes | None:
    """Cut the next client message (a CR LF line, or SOH … ETX BCC) from ``buffer``."""
    while buffer and buffer[0] not in (SOH, ACK) and not 0x20 < buffer[0] < 0x7F:
        del buffer[0]  # wake-up NULs, line noise
    if not buffer:
        return None
    if buffer[0] == SOH:
        end = buffer.find(bytes([ETX]))
        if end == -1 or end + 1 >= len(buffer):
            return None
        message = bytes(buffer[: end + 2])
        del buffer[: end + 2]
        return message
    end = buffer.find(b"\n")
    if end == -1:
        if len(buffer) > 512:
            buffer.clear()
        return None
    message = bytes(buffer[:end]).rstrip(b"\r")
    del buffer[: end + 1]
    return message
