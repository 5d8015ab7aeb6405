"""Modbus RTU frame boundaries and CRC, for the simulator's line taps.

RTU frame (Modbus over Serial Line V1.02 §2.5.1): address (1) · function (1) · data · CRC-16
(2, low byte first; polynomial 0xA001 reflected, initial 0xFFFF). Frame length follows from
the function code (and a byte count for the variable-length ones), so a tap can cut a byte
stream into frames without relying on silence timing, which ptys do not keep.
"""

from __future__ import annotations

from typing import Literal

from hardware_bridge.modbus import crc16

__all__ = ["RtuFrameSplitter", "crc16", "with_crc"]


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its CRC, low byte first."""
    return body + crc16(body).to_bytes(2, "little")


def _request_length(buf: bytes | bytearray) -> int | None:
    """Whole length of the request frame at the start of ``buf`` (None = need more bytes)."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        return None if len(buf) < 7 else 9 + buf[6]
    if fc in (7, 11, 12, 17):
        return 4
    return -1  # unknown: hand the rest through unframed


def _response_length(buf: bytes | bytearray) -> int | None:
    if len(buf) < 3:
        return None
    fc = buf[1]
    if fc & 0x80:
        return 5
    if fc in (1, 2, 3, 4, 12, 17):
        return 5 + buf[2]
    if fc in (5, 6, 15, 16):
        return 8
    return -1


class RtuFrameSplitter:
    """Buffer bytes and return whole frames (plus any bytes that are not a valid frame)."""

    def __init__(self, kind: Literal["request", "response"]) -> None:
        self._length = _request_length if kind == "request" else _response_length
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[bytes, bool]]:
        """Add bytes; return ``(bytes, is_frame)`` pieces ready to pass on, in order.

        ``is_frame`` is False for bytes that could not be framed (bad CRC, unknown function):
        they are handed on one byte at a time so the receiver resynchronises the same way.
        """
        self._buffer += chunk
        out: list[tuple[bytes, bool]] = []
        while self._buffer:
            length = self._length(self._buffer)
            if length is None or length > len(self._buffer):
                break
            if length < 0 or length < 4:
                out.append((bytes(self._buffer), False))
                self._buffer.clear()
                break
            frame = bytes(self._buffer[:length])
            if crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little"):
                out.append((frame, True))
                del self._buffer[:length]
            else:
                out.append((bytes(self._buffer[:1]), False))
                del self._buffer[:1]
        return out
