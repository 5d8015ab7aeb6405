"""Serial ports for the config flow: what is plugged in, stable paths, can it be opened.

Everything here blocks (sysfs, termios); call it in the executor.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import serial
from serial.tools import list_ports

__all__ = [
    "BY_ID_DIR",
    "DEV_PORTS_ENV",
    "SerialPortInfo",
    "check_port",
    "list_serial_ports",
    "serial_by_id",
]

# udev keeps one stable link per adapter here (named after its vendor, model and serial).
BY_ID_DIR = Path("/dev/serial/by-id")
# Development: a folder of links to simulated lines (ptys, which the port scan does not see),
# e.g. scripts/develop's ``.dev/serial/modbus -> /dev/pts/5``. Each entry is offered by its path.
DEV_PORTS_ENV = "SMARTPOWER_DEV_SERIAL_DIR"

# Why a port cannot be used, as config flow error keys.
PORT_MISSING = "port_missing"
PERMISSION_DENIED = "permission_denied"
PORT_BUSY = "port_busy"
CANNOT_OPEN = "cannot_open"


@dataclass(frozen=True, slots=True)
class SerialPortInfo:
    """A port as the user picks it: the stable path to store and a label to read."""

    path: str
    label: str


def serial_by_id(device: str) -> str:
    """The ``/dev/serial/by-id/…`` link pointing at ``device``, else ``device`` itself.

    ``/dev/ttyUSB0`` changes with the plug order; the by-id link survives reboots.
    """
    if not BY_ID_DIR.is_dir():
        return device
    target = os.path.realpath(device)
    for link in sorted(BY_ID_DIR.iterdir()):
        if link.is_symlink() and os.path.realpath(link) == target:
            return str(link)
    return device


def list_serial_ports() -> list[SerialPortInfo]:
    """The serial ports on this host, by-id path where there is one."""
    found: list[SerialPortInfo] = []
    for port in list_ports.comports():
        path = serial_by_id(port.device)
        details = [port.description or "", port.manufacturer or ""]
        if port.vid is not None and port.pid is not None:
            details.append(f"{port.vid:04X}:{port.pid:04X}")
        text = " - ".join(d for d in details if d and d != "n/a")
        found.append(SerialPortInfo(path=path, label=f"{text} ({path})" if text else path))
    return sorted(found, key=lambda p: p.path) + _development_ports()


def _development_ports() -> list[SerialPortInfo]:
    folder = os.environ.get(DEV_PORTS_ENV)
    if not folder or not os.path.isdir(folder):
        return []
    return [
        SerialPortInfo(path=str(link), label=f"{link.name} ({link})")
        for link in sorted(Path(folder).iterdir())
        if link.exists()  # a link to a simulator that has stopped leads nowhere
    ]


def check_port(port: str, baudrate: int = 9600, parity: str = "N") -> tuple[str, str] | None:
    """Open ``port`` once (exclusively, with these settings) and close it.

    ``(error_key, detail)`` if that fails. Network ports (``rfc2217://``, ``socket://``) are
    left to the bridge.
    """
    if "://" in port:
        return None
    if not os.path.exists(port):
        return PORT_MISSING, port
    if not os.access(port, os.R_OK | os.W_OK):
        return PERMISSION_DENIED, port
    try:
        with serial.Serial(port, baudrate=baudrate, parity=parity, exclusive=True):
            pass
    except ValueError as err:  # settings the port (driver) does not support
        return CANNOT_OPEN, str(err)
    except serial.SerialException as err:
        code = err.errno
        if code in (errno.EBUSY, errno.EAGAIN):
            return PORT_BUSY, str(err)
        if code in (errno.EACCES, errno.EPERM):
            return PERMISSION_DENIED, str(err)
        if code == errno.ENOENT:
            return PORT_MISSING, str(err)
        return CANNOT_OPEN, str(err)
    return None
