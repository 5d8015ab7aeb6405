"""The port list, stable by-id paths and the open test behind the config flow."""

from __future__ import annotations

import errno
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import pytest
import serial

from custom_components.smartpower_terminal import serial_ports
from custom_components.smartpower_terminal.serial_ports import (
    SerialPortInfo,
    check_port,
    list_serial_ports,
    serial_by_id,
)


def test_by_id_link_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    folder = tmp_path / "by-id"
    folder.mkdir()
    (folder / "usb-other").symlink_to(tmp_path / "ttyUSB1")
    (folder / "usb-FTDI_A10K-if00-port0").symlink_to(device)
    (folder / "not-a-link").touch()
    monkeypatch.setattr(serial_ports, "BY_ID_DIR", folder)

    assert serial_by_id(str(device)) == str(folder / "usb-FTDI_A10K-if00-port0")
    assert serial_by_id(str(tmp_path / "ttyACM0")) == str(tmp_path / "ttyACM0")


def test_without_udev_links_the_port_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serial_ports, "BY_ID_DIR", tmp_path / "missing")
    assert serial_by_id("/dev/ttyUSB0") == "/dev/ttyUSB0"


def test_ports_are_listed_with_a_readable_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serial_ports, "BY_ID_DIR", tmp_path / "missing")
    found = [
        SimpleNamespace(
            device="/dev/ttyUSB0",
            description="FT232R USB UART",
            manufacturer="FTDI",
            vid=0x0403,
            pid=0x6001,
        ),
        SimpleNamespace(
            device="/dev/ttyS0", description="n/a", manufacturer=None, vid=None, pid=None
        ),
    ]
    with patch.object(serial_ports.list_ports, "comports", return_value=found):
        ports = list_serial_ports()
    assert ports == [
        SerialPortInfo("/dev/ttyS0", "/dev/ttyS0"),
        SerialPortInfo("/dev/ttyUSB0", "FT232R USB UART - FTDI - 0403:6001 (/dev/ttyUSB0)"),
    ]


def test_network_ports_are_left_to_the_bridge() -> None:
    assert check_port("rfc2217://panel:4001") is None


def test_an_unreadable_port(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    with patch.object(serial_ports.os, "access", return_value=False):
        assert check_port(str(port)) == ("permission_denied", str(port))


@pytest.mark.parametrize(
    ("code", "key"),
    [
        (errno.EBUSY, "port_busy"),
        (errno.EAGAIN, "port_busy"),
        (errno.EACCES, "permission_denied"),
        (errno.ENOENT, "port_missing"),
        (None, "cannot_open"),
    ],
)
def test_open_failures_are_named(tmp_path: Path, code: int | None, key: str) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    failure = (
        serial.SerialException(code, "could not open port")
        if code
        else serial.SerialException("odd")
    )
    with patch.object(serial_ports.serial, "Serial", side_effect=failure):
        problem = check_port(str(port))
    assert problem is not None
    assert problem[0] == key


def test_a_free_pty_opens(tmp_path: Path) -> None:
    import os
    import pty

    master, slave = pty.openpty()
    try:
        assert check_port(os.ttyname(slave)) is None
    finally:
        os.close(master)
        os.close(slave)


def test_settings_the_port_refuses_are_named(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    with patch.object(
        serial_ports.serial, "Serial", side_effect=ValueError("Not a valid baudrate: 7")
    ) as opened:
        assert check_port(str(port), 7, "E") == ("cannot_open", "Not a valid baudrate: 7")
    opened.assert_called_once_with(str(port), baudrate=7, parity="E", exclusive=True)


def test_development_ports_are_listed_after_the_real_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/develop links its simulators' ptys here; the port scan does not see ptys."""
    folder = tmp_path / "serial"
    folder.mkdir()
    target = tmp_path / "pts5"
    target.touch()
    (folder / "modbus-line").symlink_to(target)
    (folder / "stopped-meter").symlink_to(tmp_path / "gone")
    monkeypatch.setenv(serial_ports.DEV_PORTS_ENV, str(folder))
    real = SimpleNamespace(
        device="/dev/ttyS0", description="n/a", manufacturer=None, vid=None, pid=None
    )
    with patch.object(serial_ports.list_ports, "comports", return_value=[real]):
        ports = list_serial_ports()
    link = str(folder / "modbus-line")
    assert ports == [
        SerialPortInfo("/dev/ttyS0", "/dev/ttyS0"),
        SerialPortInfo(link, f"modbus-line ({link})"),
    ]


def test_no_development_ports_without_their_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(serial_ports.DEV_PORTS_ENV, str(tmp_path / "missing"))
    with patch.object(serial_ports.list_ports, "comports", return_value=[]):
        assert list_serial_ports() == []
