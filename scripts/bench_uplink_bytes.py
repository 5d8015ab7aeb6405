"""Bytes a terminal sends upstream per month, for each candidate batch encoding.

Builds the batches a terminal would upload every 15 minutes — every poll recorded with the
time of its poll — and measures each encoding gzip'd, plus the HTTP/TLS/TCP cost of one
upload. Values come out of the bridge's own register codec (``decode_point``) for the shipped
profiles, so float32 registers carry their real float32 noise and scaled integer registers
their real ``raw × scale`` doubles.

    PYTHONPATH=. python scripts/bench_uplink_bytes.py [--markdown]

Scenarios:
- typical site: one IEC 62056-21 meter readout (30 values) every 15 min, one eastron_sdm630
  and one kael_varkombi polled every 10 s (fast values) and every 15 min (slow values);
- 247 devices on one RS-485 line (eastron_sdm630 and kael_varkombi alternating): fast values
  every 120 s — about what a 9600-baud line allows for 247 devices at ~0.5 s each — and slow
  values every 15 min; and the same line with every value read every 15 min.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hardware_bridge.api._batch import (
    Batch,
    BatchReading,
    _decode_column,
    decode_batch,
    encode_batch,
)
from hardware_bridge.api._fields import format_time
from hardware_bridge.api._model import ModemReport, Registration
from hardware_bridge.modbus import load_catalogue
from hardware_bridge.modbus._codec import decode_point, encode_raw, raw_for_value
from hardware_bridge.modbus._profile import DataType, Point, Profile
from hardware_bridge.terminal import meter_specs

try:
    import cbor2
except ImportError:  # CBOR is measured only where cbor2 is installed
    cbor2 = None

SEND_PERIOD = timedelta(minutes=15)
SLOW_PERIOD = timedelta(minutes=15)
DAYS_PER_MONTH = 30
START = datetime(2026, 11, 30, tzinfo=UTC)

# One upload's cost beyond its body (assumptions, stated in docs/uplink-bytes.md):
# a new TCP connection and TLS 1.3 session per upload (a carrier NAT drops idle connections long
# before 15 minutes), resumed from a session ticket; a full handshake (certificate chain) costs
# about 4.5 kB more and happens when the ticket has expired.
TLS_RESUMED_HANDSHAKE = 700
TLS_RECORD_OVERHEAD = 22
TCP_IP_PACKET = 52
TCP_CONTROL_PACKETS = 7  # SYN, SYN-ACK, ACK, FIN/ACK ×2, final ACKs
MSS = 1400


@dataclass
class Walk:
    """A bounded random walk: a physical quantity that drifts and jitters."""

    value: float
    step: float
    low: float
    high: float
    counter: bool = False
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        if self.counter:
            self.value += abs(self.rng.gauss(self.step, self.step / 3))
        else:
            self.value = min(self.high, max(self.low, self.value + self.rng.gauss(0, self.step)))
        return self.value


def _walk_for(point_unit: str | None, device_class: str | None, rng: random.Random) -> Walk:
    table: dict[str | None, tuple[float, float, float, float, bool]] = {
        "V": (230.0, 0.4, 215.0, 245.0, False),
        "A": (12.0, 0.6, 0.0, 60.0, False),
        "W": (2600.0, 120.0, 0.0, 14000.0, False),
        "var": (600.0, 60.0, -3000.0, 3000.0, False),
        "VA": (2800.0, 120.0, 0.0, 15000.0, False),
        "Hz": (50.0, 0.01, 49.8, 50.2, False),
        "%": (3.0, 0.2, 0.0, 20.0, False),
        "kWh": (12345.6, 0.9, 0.0, 1e9, True),
        "kvarh": (2345.6, 0.2, 0.0, 1e9, True),
        "kW": (2.6, 0.1, 0.0, 14.0, False),
    }
    if device_class == "power_factor":
        return Walk(0.95, 0.005, 0.80, 1.0, rng=rng)
    start, step, low, high, counter = table.get(point_unit, (5.0, 0.0, 5.0, 5.0, False))
    return Walk(start, step, low, high, counter, rng=rng)


class ModbusDevice:
    """A shipped profile read through the bridge's codec: what LineTerminal would record."""

    def __init__(self, key: str, profile: Profile, rng: random.Random) -> None:
        self.key = key
        self.points = [p for p in profile.points if p.enabled_by_default]
        self.walks = {p.key: _walk_for(p.unit, p.device_class, rng) for p in self.points}
        self.rng = rng
        self.ct_ratio = 40

    def _raw_registers(self, point: Point, value: float) -> list[int]:
        factor = self.ct_ratio if point.scale_by else 1
        if point.bits:
            raw: float | int = self.rng.choice((0x0202, 0x0203))  # a few stable status bits
        elif point.key == "ct_ratio":
            raw = self.ct_ratio
        else:
            raw = raw_for_value(point, value, factor)
        if point.type is not DataType.FLOAT32:
            raw = int(raw)
            if point.type.value.startswith("uint"):
                raw = max(0, raw)
        return encode_raw(point.type, point.word_order, raw)

    def poll(self, group: str) -> list[tuple[str, Any, str | None]]:
        out: list[tuple[str, Any, str | None]] = []
        for point in self.points:
            if point.group != group:
                continue
            registers = self._raw_registers(point, self.walks[point.key].next())
            decoded = decode_point(point, registers, {"ct_ratio": self.ct_ratio})
            units = {point.key: point.unit}
            out.extend((key, value, units.get(key)) for key, value in decoded.items())
        return out


class IecMeter:
    """An IEC 62056-21 readout of 30 values: counters and instantaneous values as the meter
    prints them (decimal text parsed to float), plus its clock and a status text."""

    def __init__(self, rng: random.Random) -> None:
        specs = [s for s in meter_specs() if s.kind in ("number", "text", "date")][:30]
        self.specs = specs
        self.walks = {s.key: _walk_for(s.unit, s.device_class, rng) for s in specs}

    def poll(self, now: datetime) -> list[tuple[str, Any, str | None]]:
        out: list[tuple[str, Any, str | None]] = []
        for spec in self.specs:
            if spec.kind == "date":
                value: Any = now.date().isoformat()
            elif spec.kind == "text":
                value = now.strftime("%H:%M:%S") if "time" in spec.key else "0102A1"
            else:
                decimals = 3 if spec.unit in ("kWh", "kvarh", "kW") else 2
                value = float(f"{self.walks[spec.key].next():.{decimals}f}")
            out.append((spec.key, value, spec.unit))
        return out


def readings(
    modbus: list[ModbusDevice], meter: IecMeter | None, fast: timedelta, span: timedelta
) -> Iterator[tuple[datetime, str, list[tuple[str, Any, str | None]]]]:
    """Every poll in time order: (time, device, [(key, value, unit)])."""
    events: list[tuple[datetime, int, str, Callable[[], list[tuple[str, Any, str | None]]]]] = []
    rng = random.Random(7)
    order = 0
    for device in modbus:
        t = START + timedelta(milliseconds=rng.randrange(fast // timedelta(milliseconds=1)))
        while t < START + span:
            events.append((t, order, device.key, lambda d=device: d.poll("fast")))
            order += 1
            t += fast + timedelta(milliseconds=rng.randrange(-40, 40))
        t = START + timedelta(seconds=1)
        while t < START + span:
            events.append((t, order, device.key, lambda d=device: d.poll("slow")))
            order += 1
            t += SLOW_PERIOD
    if meter is not None:
        t = START + timedelta(seconds=5)
        while t < START + span:
            events.append((t, order, "meter", lambda t=t: meter.poll(t)))
            order += 1
            t += SLOW_PERIOD
    events.sort(key=lambda e: (e[0], e[1]))
    for time, _, device, poll in events:
        yield time, device, poll()


def batches(polls: Iterator[tuple[datetime, str, list[Any]]], span: timedelta) -> list[Batch]:
    out: list[Batch] = []
    seq = 1
    pending: list[BatchReading] = []
    boundary = START + SEND_PERIOD
    modem = ModemReport(registration=Registration.HOME, time=START, signal_dbm=-81)

    def flush(at: datetime) -> None:
        nonlocal pending
        if pending:
            out.append(
                Batch(
                    batch_id=f"b{len(out) + 1}",
                    first_seq=pending[0].seq,
                    last_seq=pending[-1].seq,
                    created=at,
                    readings=tuple(pending),
                    modem=ModemReport(
                        registration=modem.registration, time=at, signal_dbm=modem.signal_dbm
                    ),
                )
            )
        pending = []

    for time, device, values in polls:
        while time >= boundary:
            flush(boundary)
            boundary += SEND_PERIOD
        ms_time = time.replace(microsecond=time.microsecond // 1000 * 1000)
        for key, value, unit in values:
            pending.append(
                BatchReading(seq=seq, device=device, key=key, value=value, unit=unit, time=ms_time)
            )
            seq += 1
    flush(boundary)
    return out


# --- candidate encodings ------------------------------------------------------------------


def row_document(batch: Batch) -> dict[str, Any]:
    document = batch.to_json()
    document["readings"] = [
        {
            "seq": r.seq,
            "device": r.device,
            "key": r.key,
            "value": r.value,
            "unit": r.unit,
            "time": format_time(r.time),
        }
        for r in batch.readings
    ]
    return document


def columnar_plain_document(batch: Batch) -> dict[str, Any]:
    """The grouped/delta layout with every column a plain array (no value coding)."""
    document = batch.to_json()
    for group in document["readings"]["groups"]:
        size = len(group["seq"])
        group["columns"] = [_decode_column(c, size, "c") for c in group["columns"]]
    return document


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _gzip(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def candidates() -> dict[str, Callable[[Batch], int]]:
    out: dict[str, Callable[[Batch], int]] = {
        "row JSON": lambda b: _gzip(_json(row_document(b))),
        "columnar/delta JSON": lambda b: _gzip(_json(columnar_plain_document(b))),
        "columnar/delta JSON + exact value coding (chosen)": lambda b: len(encode_batch(b)),
    }
    if cbor2 is not None:
        out["row CBOR"] = lambda b: _gzip(cbor2.dumps(row_document(b)))
        out["columnar/delta CBOR"] = lambda b: _gzip(cbor2.dumps(columnar_plain_document(b)))
        out["columnar/delta CBOR + exact value coding"] = lambda b: _gzip(cbor2.dumps(b.to_json()))
    return out


def http_overhead(body: int) -> int:
    """Bytes on the wire for one upload besides its body (headers, TLS, TCP/IP)."""
    request_headers = (
        "POST /api/v1/modems/SP2611300001/batches HTTP/1.1\r\n"
        "Host: smartpower.example.com\r\n"
        f"Authorization: Bearer {'x' * 43}\r\n"
        "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {body}\r\nAccept: application/json\r\n"
        "Accept-Encoding: gzip, deflate\r\nUser-Agent: smartpower-bridge/0.2.0\r\n\r\n"
    )
    ack = '{"batch_id":"b1","acknowledged_seq":123456,"duplicate":false,"commands":[]}'
    response = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(ack)}\r\nDate: Mon, 30 Nov 2026 00:15:00 GMT\r\n"
        "Server: Python/3.13 aiohttp/3.11\r\n\r\n" + ack
    )
    up = len(request_headers) + body
    down = len(response)
    packets = math.ceil(up / MSS) + math.ceil(down / MSS) + TCP_CONTROL_PACKETS
    records = 2 * TLS_RECORD_OVERHEAD
    return (
        len(request_headers)
        + len(response)
        + TLS_RESUMED_HANDSHAKE
        + records
        + packets * (TCP_IP_PACKET)
    )


@dataclass
class Result:
    scenario: str
    readings_per_day: float
    bytes_per_day: dict[str, float]
    overhead_per_day: float


def run(
    scenario: str,
    modbus: list[ModbusDevice],
    meter: IecMeter | None,
    fast: timedelta,
    span: timedelta,
) -> Result:
    built = batches(readings(modbus, meter, fast, span), span)
    for batch in built[:2]:  # the chosen encoding is exact: check it on real batches
        assert decode_batch(encode_batch(batch)) == batch
    days = span / timedelta(days=1)
    sizes = {name: sum(measure(b) for b in built) / days for name, measure in candidates().items()}
    chosen = [len(encode_batch(b)) for b in built]
    overhead = sum(http_overhead(size) for size in chosen) / days
    count = sum(len(b.readings) for b in built) / days
    return Result(scenario, count, sizes, overhead)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rng = random.Random(1)
    catalogue = load_catalogue()
    sdm, kael = catalogue.get("eastron_sdm630"), catalogue.get("kael_varkombi")
    typical = run(
        "typical site (IEC meter + SDM630 + VARkombi)",
        [ModbusDevice("sdm630", sdm, rng), ModbusDevice("varkombi", kael, rng)],
        IecMeter(rng),
        timedelta(seconds=10),
        timedelta(days=1),
    )
    line = [ModbusDevice(f"dev{n:03d}", sdm if n % 2 else kael, rng) for n in range(1, 248)]
    big = run("247 Modbus devices", line, None, timedelta(seconds=120), timedelta(hours=3))
    slow = run(
        "247 Modbus devices, fast values every 15 min",
        line,
        None,
        timedelta(minutes=15),
        timedelta(hours=12),
    )
    mb = 1_000_000
    for result in (typical, big, slow):
        print(f"## {result.scenario}: {result.readings_per_day:,.0f} readings/day")
        if args.markdown:
            print("\n| encoding (gzip -9) | bytes/reading | MB/month body | MB/month with HTTP |")
            print("|---|---:|---:|---:|")
        for name, per_day in result.bytes_per_day.items():
            per_reading = per_day / result.readings_per_day
            month = per_day * DAYS_PER_MONTH / mb
            total = (per_day + result.overhead_per_day) * DAYS_PER_MONTH / mb
            if args.markdown:
                print(f"| {name} | {per_reading:.2f} | {month:.1f} | {total:.1f} |")
            else:
                print(
                    f"  {name:52s} {per_reading:6.2f} B/reading {month:8.1f} MB/month"
                    f" (+HTTP {total:8.1f})"
                )
        overhead_month = result.overhead_per_day * DAYS_PER_MONTH / mb
        print(
            f"\nHTTP/TLS/TCP overhead: {result.overhead_per_day / 96:.0f} B/upload, "
            f"{overhead_month:.2f} MB/month\n"
        )


if __name__ == "__main__":
    sys.exit(main())
