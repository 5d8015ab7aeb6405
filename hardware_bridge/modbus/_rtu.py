"""Modbus RTU transactions as bytes: the request frames, and finding their answer (sans-I/O).

RTU has no transaction id. A frame is taken as the answer to a read (FC01/02/03/04) only if
its device id, function code and byte count are those of the request and its CRC holds; the
answer to a write is its echo (FC05/FC06: the whole request; FC0F/FC10: the request's device
id, function, address and quantity), compared byte for byte; an exception
frame (function code | 0x80) from the addressed device to the same function is that
device's answer. A well-formed frame that answers something else (another device, another
function, another length) is *foreign*: proof that the line carries traffic that is not the
answer, so the transaction fails rather than wait for a frame that might be stale too.

Bytes that form no frame (noise, a broken CRC) are skipped one at a time, so an answer that
follows garbage is still found. Timing (timeouts, draining a late answer) is the transport's
job: see ``_client.py`` and ``_bus.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Bits",
    "Foreign",
    "Refusal",
    "Registers",
    "ResponseMatcher",
    "Written",
    "bit_read_request",
    "crc16",
    "decode_bits",
    "expected_write_answer",
    "read_request",
    "response_length",
    "write_coil_request",
    "write_coils_request",
    "write_register_request",
    "write_registers_request",
]


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """Modbus CRC-16 (reflected 0xA001, initial 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def _crc_ok(frame: bytes | bytearray) -> bool:
    return crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")


def read_request(device_id: int, function_code: int, address: int, count: int) -> bytes:
    """The FC03/FC04 request frame for ``count`` registers from ``address``."""
    if function_code not in (3, 4):
        raise ValueError(f"function code {function_code} is not a register read")
    if not 1 <= count <= 125 or not 0 <= address <= 0xFFFF:
        raise ValueError(f"cannot read {count} registers from {address}")
    body = bytes([device_id, function_code]) + address.to_bytes(2) + count.to_bytes(2)
    return body + crc16(body).to_bytes(2, "little")


def _framed(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "little")


def bit_read_request(device_id: int, function_code: int, address: int, count: int) -> bytes:
    """The FC01 (coils) / FC02 (discrete inputs) request for ``count`` bits from ``address``."""
    if function_code not in (1, 2):
        raise ValueError(f"function code {function_code} is not a bit read")
    if not 1 <= count <= 2000 or not 0 <= address <= 0xFFFF:
        raise ValueError(f"cannot read {count} bits from {address}")
    return _framed(bytes([device_id, function_code]) + address.to_bytes(2) + count.to_bytes(2))


def write_coil_request(device_id: int, address: int, on: bool) -> bytes:
    """FC05: one coil, FF00 = on, 0000 = off (the answer is an echo)."""
    value = 0xFF00 if on else 0x0000
    return _framed(bytes([device_id, 5]) + address.to_bytes(2) + value.to_bytes(2))


def write_register_request(device_id: int, address: int, value: int) -> bytes:
    """FC06: one holding register (the answer is an echo)."""
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"register value {value} is not 16-bit")
    return _framed(bytes([device_id, 6]) + address.to_bytes(2) + value.to_bytes(2))


def write_coils_request(device_id: int, address: int, states: list[bool]) -> bytes:
    """FC0F: several coils, packed LSB first per byte (the answer echoes address + quantity)."""
    if not 1 <= len(states) <= 1968:
        raise ValueError(f"cannot write {len(states)} coils")
    packed = bytearray((len(states) + 7) // 8)
    for i, state in enumerate(states):
        if state:
            packed[i // 8] |= 1 << (i % 8)
    head = bytes([device_id, 15]) + address.to_bytes(2) + len(states).to_bytes(2)
    return _framed(head + bytes([len(packed)]) + bytes(packed))


def write_registers_request(device_id: int, address: int, values: list[int]) -> bytes:
    """FC10: several holding registers (the answer echoes address + quantity)."""
    if not 1 <= len(values) <= 123 or any(not 0 <= v <= 0xFFFF for v in values):
        raise ValueError(f"cannot write registers {values}")
    head = bytes([device_id, 16]) + address.to_bytes(2) + len(values).to_bytes(2)
    return _framed(head + bytes([2 * len(values)]) + b"".join(v.to_bytes(2) for v in values))


def expected_write_answer(request: bytes) -> bytes:
    """The normal answer to a write request: FC05/06 echo it, FC0F/10 echo its first 6 bytes."""
    if request[1] in (5, 6):
        return bytes(request)
    return _framed(bytes(request[:6]))


def decode_bits(data: bytes | bytearray, count: int) -> tuple[bool, ...]:
    """FC01/FC02 data: bit 0 of the first byte is the first coil/input (LSB first per byte)."""
    return tuple(bool((data[i // 8] >> (i % 8)) & 1) for i in range(count))


def response_length(buf: bytes | bytearray, start: int = 0) -> int | None:
    """Length of the response frame that would start at ``buf[start]``.

    None: not enough bytes to tell; 0: no response frame starts with this function code.
    """
    if len(buf) - start < 3:
        return None
    fc = buf[start + 1]
    if fc & 0x80:
        return 5
    if fc in (1, 2, 3, 4, 12, 17, 20, 21, 23):
        return 5 + buf[start + 2]
    if fc in (5, 6, 8, 11, 15, 16):
        return 8
    return 0


@dataclass(frozen=True, slots=True)
class Registers:
    """The device's registers, in the order asked for."""

    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Bits:
    """Coils or discrete inputs, in the order asked for (first = lowest address)."""

    values: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class Written:
    """The device confirmed a write with the expected echo."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The device answered with a Modbus exception."""

    exception_code: int


@dataclass(frozen=True, slots=True)
class Foreign:
    """A well-formed frame that is not the answer to this request."""

    frame: bytes

    def describe(self) -> str:
        device_id, fc = self.frame[0], self.frame[1]
        if fc & 0x80:
            return f"exception frame from device {device_id} to function {fc & 0x7F}"
        if fc in (1, 2, 3, 4):
            return f"function {fc} answer of {self.frame[2]} bytes from device {device_id}"
        return f"function {fc} frame from device {device_id}"


type Outcome = Registers | Bits | Written | Refusal | Foreign


class ResponseMatcher:
    """Find the answer to one request in the bytes received after sending it.

    ``count``: registers (FC03/04) or bits (FC01/02) asked for. ``reply``: for a write, the
    exact answer expected (:func:`expected_write_answer`).

    ``echo``: the request as the adapter echoes it back (2-wire RS-485 adapters hear
    themselves); it is skipped once if the received bytes start with it. For FC05/FC06 the
    adapter's echo and the device's answer are the same bytes: both are then expected.
    """

    def __init__(
        self,
        device_id: int,
        function_code: int,
        count: int,
        *,
        echo: bytes | None = None,
        reply: bytes | None = None,
    ) -> None:
        if function_code in (5, 6, 15, 16) and reply is None:
            raise ValueError("a write needs the expected reply")
        self.device_id = device_id
        self.function_code = function_code
        self.count = count
        self.reply = reply
        self._echo = echo or b""
        self._buf = bytearray()
        self.outcome: Outcome | None = None
        self.trailing = 0
        """Bytes received after the frame that settled the outcome."""

    def set_echo(self, request: bytes) -> None:
        """Expect the adapter's echo of ``request`` before the answer."""
        self._echo = request

    def feed(self, data: bytes) -> Outcome | None:
        """Add received bytes; return the outcome once there is one (and keep returning it)."""
        if self.outcome is not None:
            return self.outcome
        self._buf += data
        if self._echo:
            if self._buf.startswith(self._echo):
                del self._buf[: len(self._echo)]
                self._echo = b""
            elif self._echo.startswith(self._buf):
                return None
            else:
                self._echo = b""  # no echo after all (or a broken one): hunt as usual
        self.outcome = self._hunt()
        return self.outcome

    def _hunt(self) -> Outcome | None:
        buf = self._buf
        keep_from: int | None = None  # earliest position that may still become a frame
        for start in range(len(buf)):
            length = response_length(buf, start)
            if length is None or (length and len(buf) - start < length):
                if keep_from is None and self._could_be_answer(start):
                    keep_from = start
                continue
            if length >= 4 and _crc_ok(buf[start : start + length]):
                self.trailing = len(buf) - start - length
                return self._judge(bytes(buf[start : start + length]))
        del buf[: len(buf) if keep_from is None else keep_from]
        return None

    def _could_be_answer(self, start: int) -> bool:
        """Whether the (incomplete) bytes at ``start`` may still become a well-formed frame."""
        tail = self._buf[start:]
        if len(tail) >= 2:
            fc = tail[1]
            if not (fc & 0x80 or fc in (1, 2, 3, 4, 5, 6, 8, 11, 12, 15, 16, 17, 20, 21, 23)):
                return False
        return True

    def _judge(self, frame: bytes) -> Outcome:
        device_id, fc = frame[0], frame[1]
        if device_id == self.device_id:
            if fc == self.function_code and self.reply is not None:
                return Written() if frame == self.reply else Foreign(frame)
            if fc == self.function_code and fc in (1, 2):
                if frame[2] == (self.count + 7) // 8:
                    return Bits(decode_bits(frame[3:-2], self.count))
                return Foreign(frame)
            if fc == self.function_code and frame[2] == 2 * self.count:
                data = frame[3:-2]
                return Registers(
                    tuple(int.from_bytes(data[i : i + 2]) for i in range(0, len(data), 2))
                )
            if fc == self.function_code | 0x80:
                return Refusal(frame[2])
        return Foreign(frame)
