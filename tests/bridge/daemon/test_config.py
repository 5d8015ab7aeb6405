"""The daemon's configuration file: a wrong value is refused with its file, line and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hardware_bridge.daemon import ConfigError, load_config, load_config_text, parse_duration
from hardware_bridge.models import LineProtocol

GOOD = """\
state_dir: /var/lib/smartpower-bridge
listen: 127.0.0.1:8470
upstream:
  url: https://api.example.net/api/v1
  enrolment_key: k-123
send_period: 15m
lines:
  - name: rs485
    port: /dev/ttyUSB0
    protocol: modbus
    baudrate: 9600
    parity: N
    poll_interval: 30s
    devices:
      - name: analyser
        address: 1
        profile: eastron_sdm630
      - name: relays
        address: 2
        profile: bestep_2ch_io
  - name: optical
    port: /dev/ttyUSB1
    protocol: iec62056
    poll_interval: 15m
    devices:
      - name: main_meter
gpio:
  chip: /dev/gpiochip0
  inputs:
    - {name: in1, offset: 17, debounce: 50ms}
  relays:
    - {name: c1, offset: 22, max_on: 30m, on_controller_loss: "off"}
  controller_timeout: 10m
mains:
  device: analyser
modem:
  port: /dev/ttyUSB2
"""


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="terminal.yaml")
    return caught.value


def test_a_complete_file_becomes_the_engine_s_line_configs() -> None:
    config = load_config_text(GOOD, source="terminal.yaml")
    assert config.warnings == ()
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8470)
    assert config.send_period == timedelta(minutes=15)
    assert config.upstream is not None
    assert config.upstream.enrolment_key == "k-123"
    assert "k-123" not in repr(config.upstream)
    modbus, optical = config.lines
    assert modbus.config.protocol is LineProtocol.MODBUS
    assert [(d.key, d.device_id, d.profile_id) for d in modbus.config.devices] == [
        ("analyser", 1, "eastron_sdm630"),
        ("relays", 2, "bestep_2ch_io"),
    ]
    assert modbus.poll_interval == timedelta(seconds=30)
    assert optical.config.protocol is LineProtocol.IEC62056
    assert (optical.config.serial.baudrate, optical.config.serial.parity) == (300, "E")
    assert optical.config.meters[0].key == "main_meter"
    assert config.gpio is not None
    assert config.gpio.fail_safes["c1"].max_on == 1800
    assert config.gpio.fail_safes["c1"].on_controller_loss is False
    assert config.modem is not None
    assert config.modem.port == "/dev/ttyUSB2"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", timedelta(minutes=5)),  # on by default (used when there is a relay)
        ("command_wait: 90s\n", timedelta(seconds=90)),
        ("command_wait: 0\n", timedelta(0)),
        ("command_wait: off\n", timedelta(0)),
        ("command_wait: 'off'\n", timedelta(0)),
    ],
)
def test_command_wait(line: str, expected: timedelta) -> None:
    text = GOOD.replace("send_period: 15m\n", "send_period: 15m\n" + line)
    assert load_config_text(text).command_wait == expected


def test_no_upstream_is_lan_only() -> None:
    text = GOOD.replace(
        "upstream:\n  url: https://api.example.net/api/v1\n  enrolment_key: k-123\n", ""
    )
    assert load_config_text(text).lan_only


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "reason"),
    [
        ("send_period: 15m", "send_period: 15 minutes", 6, "send_period", "expected a duration"),
        ("send_period: 15m", "send_period: 5h", 6, "send_period", "expected 1s..4h"),
        (
            "send_period: 15m",
            "send_period: 15m\ncommand_wait: 10m",
            7,
            "command_wait",
            "expected 1s..5m",
        ),
        ("send_period: 15m", "send_period: 15m\ncommand_wait: 1.5s", 7, "command_wait", "whole"),
        ("send_period: 15m", "send_period: 15m\ncommand_wait: soon", 7, "command_wait", "30s"),
        (
            "    poll_interval: 30s",
            "    poll_interval: 30",
            13,
            "lines[0].poll_interval",
            "duration",
        ),
        ("    parity: N\n", "    parity: N\n    speed: 3\n", 13, "lines[0].speed", "unknown field"),
        ("listen: 127.0.0.1:8470", "listen: 127.0.0.1:99999", 2, "listen", "HOST:PORT"),
        ("listen: 127.0.0.1:8470", "listen: localhost", 2, "listen", "HOST:PORT"),
        (
            "        address: 2\n",
            "        address: 300\n",
            19,
            "lines[0].devices[1].address",
            "1..247",
        ),
        (
            "        address: 2\n",
            "        address: 1\n",
            19,
            "lines[0].devices[1].address",
            "already used",
        ),
        ("    baudrate: 9600", "    baudrate: 9601", 11, "lines[0].baudrate", "expected one of"),
        ("    protocol: modbus", "    protocol: dlms", 10, "lines[0].protocol", "iec62056"),
        (
            "profile: bestep_2ch_io",
            "profile: no_such",
            20,
            "lines[0].devices[1].profile",
            "unknown profile",
        ),
        ("    port: /dev/ttyUSB1", "    port: /dev/ttyUSB0", 22, "lines[1].port", "already used"),
        ("  device: analyser", "  device: nobody", 35, "mains.device", "no device named"),
        ("  controller_timeout: 10m\n", "", 27, "gpio.controller_timeout", "required when"),
        ("  url: https://api.example.net/api/v1", "  url: ftp://x", 4, "upstream.url", "http://"),
    ],
)
def test_errors_name_file_line_and_field(
    old: str, new: str, line: int, field: str, reason: str
) -> None:
    assert old in GOOD
    error = _error(GOOD.replace(old, new, 1))
    assert (error.source, error.line, error.field) == ("terminal.yaml", line, field)
    assert reason in error.reason
    assert str(error).startswith(f"terminal.yaml:{line}: {field}: ")


def test_yaml_that_could_blow_up_or_smuggle_types_is_refused() -> None:
    assert "alias" in _error("a: &x [1]\nb: *x\n").reason
    assert "tag" in _error("state_dir: !!python/name:os.system x\n").reason
    error = _error("state_dir: a\nstate_dir: b\n")
    assert error.line == 2
    assert error.reason.startswith("invalid YAML: duplicate key")


def test_missing_fields_and_the_file_itself(tmp_path: Path) -> None:
    error = _error("state_dir: /x\nsend_period: 1m\n")
    assert (error.field, error.reason) == ("lines", "required field missing")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    path = tmp_path / "t.yaml"
    path.write_text(GOOD)
    assert load_config(path).source == str(path)


def test_warnings_for_a_short_period_and_plain_http_to_a_remote_host() -> None:
    text = GOOD.replace("send_period: 15m", "send_period: 20s").replace(
        "https://api.example.net", "http://192.0.2.7:8080"
    )
    warnings = load_config_text(text, source="t.yaml").warnings
    assert len(warnings) == 2
    assert "under one minute" in warnings[0]
    assert "unencrypted" in warnings[1]
    loopback = GOOD.replace("https://api.example.net", "http://127.0.0.1:8080")
    assert load_config_text(loopback).warnings == ()


def test_durations() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    for bad in ("", "15", "m", "1x", "-1s", "1e3s"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_environment_values_fill_text_fields() -> None:
    text = GOOD.replace("/dev/ttyUSB0", "${MODBUS_PORT}").replace(
        "/var/lib/smartpower-bridge", "${STATE:-/tmp/state}"
    )
    config = load_config_text(text, environ={"MODBUS_PORT": "/dev/pts/4"})
    assert config.lines[0].config.serial.port == "/dev/pts/4"
    assert str(config.state_dir) == "/tmp/state"
    error = _error_env(text, {})
    assert (error.line, error.field) == (9, "lines[0].port")
    assert "MODBUS_PORT is not set" in error.reason


def _error_env(text: str, environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="terminal.yaml", environ=environ)
    return caught.value
