"""The daemon's configuration file (YAML): what runs where, checked before anything opens.

Every error is a :class:`ConfigError` naming the file, the line and the field
(``terminal.yaml:14: lines[0].devices[1].address: expected 1..247, got 300``). Advice that does
not stop the daemon (a send period under a minute, plain ``http://`` to a remote server) is
collected in :attr:`DaemonConfig.warnings` for the caller to log.

Layout (see ``docs/examples/terminal.yaml`` for a complete file)::

    state_dir: /var/lib/smartpower-bridge     identity, reading queue, status, pid file
    listen: 0.0.0.0:8470                      the local API (HOST:PORT)
    upstream: {url: https://…, enrolment_key: …}   optional: none is LAN-only mode
    send_period: 15m                          1–240 min (under 1 min: tests and demos only)
    command_wait: 5m                          a wait for relay commands kept open (0/off: none)
    retention: 7d                             local history kept after upload
    profiles_dir: /etc/smartpower/profiles    optional user profiles
    lines:                                    serial lines, as the integration knows them
      - port: /dev/serial/by-id/…
        protocol: modbus | iec62056
        baudrate: 9600
        parity: N | E | O
        poll_interval: 30s                    instantaneous values (a meter: its readout)
        slow_interval: 15m                    counters (Modbus only; default 15m)
        io_interval: 1s                       relays and inputs of I/O boards (default 1s)
        devices: [{name, address, profile}]   Modbus: address 1..247; meters: address text
    gpio: {chip, inputs: […], relays: […], controller_timeout}
    mains: {device: NAME} or {input: NAME}    where mains presence is seen
    modem: {port, poll_interval}              optional AT modem: signal and registration

Text values may take ``${NAME}`` or ``${NAME:-default}`` from the environment (a systemd
``EnvironmentFile``, or the ports a simulator printed).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import voluptuous as vol
import yaml

from hardware_bridge.daemon._yaml import FieldPath, parse_with_lines
from hardware_bridge.io import (
    Bias,
    GpioConfig,
    GpioConfigError,
    GpioInputConfig,
    GpioRelayConfig,
    RelayFailSafe,
)
from hardware_bridge.modbus import ProfileCatalogue, ProfileError, load_catalogue
from hardware_bridge.models import LineProtocol
from hardware_bridge.serial_line import SerialSettings
from hardware_bridge.terminal import LineConfig, MeterConfig, ModbusDeviceConfig

__all__ = [
    "MAX_CONFIG_SIZE",
    "ConfigError",
    "DaemonConfig",
    "GpioSection",
    "LineSection",
    "MainsSection",
    "ModemSection",
    "UpstreamConfig",
    "format_duration",
    "load_config",
    "load_config_text",
    "parse_duration",
]

MAX_CONFIG_SIZE = 1024 * 1024
"""Largest configuration file read (247 devices on a few lines take about 30 KiB)."""
MIN_SEND_PERIOD = timedelta(minutes=1)
MAX_SEND_PERIOD = timedelta(minutes=240)
DEFAULT_COMMAND_WAIT = timedelta(minutes=5)
MAX_COMMAND_WAIT = timedelta(seconds=300)
"""The server holds a wait for commands at most 300 s (``GET …/pending-commands``)."""
DEFAULT_LISTEN = "0.0.0.0:8470"
_BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION_RE = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)(ms|s|m|h|d)")
_ENV_RE = re.compile(r"\$\{([A-Z_][A-Z0-9_]{0,63})(?::-([^}]*))?\}")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid: file, line, field and what is wrong."""

    def __init__(self, source: str, line: int | None, field_path: str, reason: str) -> None:
        self.source = source
        self.line = line
        self.field = field_path
        self.reason = reason
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {field_path}: {reason}" if field_path else f"{where}: {reason}")


# -- durations ------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """``"15m"``, ``"30s"``, ``"1h30m"``, ``"250ms"``, ``"7d"`` → a timedelta (ValueError else)."""
    if not isinstance(text, str) or not text or _DURATION_RE.sub("", text.strip()) != "":
        raise ValueError(f"expected a duration such as 30s, 15m, 1h or 7d, got {_shown(text)}")
    seconds = sum(float(n) * _UNITS[unit] for n, unit in _DURATION_RE.findall(text.strip()))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest of ``1h``, ``15m``, ``30s``, ``250ms`` that is exactly ``value``."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        count = seconds / _UNITS[unit]
        if count >= 1 and math.isclose(count, round(count)):
            return f"{round(count)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- the parsed configuration ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    url: str
    enrolment_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineSection:
    """One serial line: the engine's :class:`LineConfig` and how often each group is polled."""

    name: str
    config: LineConfig
    poll_interval: timedelta
    slow_interval: timedelta
    io_interval: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class GpioSection:
    config: GpioConfig
    fail_safes: Mapping[str, RelayFailSafe]
    controller_timeout: timedelta | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MainsSection:
    """Where mains presence is seen: a device's phase voltages or a contact on a GPIO input."""

    device: str | None = None
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemSection:
    port: str
    baudrate: int
    poll_interval: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    source: str
    state_dir: Path
    listen_host: str
    listen_port: int
    upstream: UpstreamConfig | None
    send_period: timedelta
    retention: timedelta
    lines: tuple[LineSection, ...]
    command_wait: timedelta = field(default_factory=lambda: DEFAULT_COMMAND_WAIT)
    """How long each request for relay commands waits at the server (a terminal with relays
    and an upstream keeps one open); zero: none, commands come with the uploads' replies."""
    gpio: GpioSection | None = None
    mains: MainsSection | None = None
    modem: ModemSection | None = None
    profiles_dir: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def listen(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"

    @property
    def lan_only(self) -> bool:
        return self.upstream is None


# -- schema ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a non-empty string")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise vol.Invalid("expected text without control characters")
    return value.strip()


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise vol.Invalid(
            f"expected a name of letters, digits, '_', '.', '-' (at most 64), got {_shown(value)}"
        )
    return value


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise vol.Invalid(f"expected {low}..{high}, got {_shown(value)}")
        return int(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {_shown(value)}")
    return value


def _one_of(*choices: object) -> Callable[[Any], Any]:
    shown = ", ".join(str(choice) for choice in choices)

    def check(value: Any) -> Any:
        if isinstance(value, bool) or value not in choices:
            raise vol.Invalid(f"expected one of {shown}, got {_shown(value)}")
        return value

    return check


def _duration(low: timedelta | None = None, high: timedelta | None = None) -> Any:
    def check(value: Any) -> timedelta:
        try:
            parsed = parse_duration(value)
        except ValueError as err:
            raise vol.Invalid(str(err)) from None
        if (low is not None and parsed < low) or (high is not None and parsed > high):
            span = (
                f"{format_duration(low or timedelta())}..{format_duration(high)}"
                if high
                else (f"at least {format_duration(low or timedelta())}")
            )
            raise vol.Invalid(f"expected {span}, got {value}")
        return parsed

    return check


def _command_wait(value: Any) -> timedelta:
    """``5m``, ``90s`` (whole seconds, 1s..5m: the server holds a request at most 300 s), or
    ``0``/``off``: no wait, commands come with the uploads' replies."""
    if value is False or value == 0 or value in ("0", "off"):
        return timedelta(0)
    parsed: timedelta = _duration(timedelta(seconds=1), MAX_COMMAND_WAIT)(value)
    if parsed.total_seconds() != int(parsed.total_seconds()):
        raise vol.Invalid(f"expected whole seconds, got {value}")
    return parsed


def _listen(value: Any) -> tuple[str, int]:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected HOST:PORT, got {_shown(value)}")
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise vol.Invalid(f"expected HOST:PORT with a port 1..65535, got {_shown(value)}")
    return host, int(port)


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected an http:// or https:// URL, got {_shown(value)}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise vol.Invalid(f"expected an http:// or https:// URL, got {_shown(value)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise vol.Invalid(f"expected an http:// or https:// URL, got {_shown(value)}")
    if parts.username or parts.password:
        raise vol.Invalid("the URL must not carry a user or password (use enrolment_key)")
    return value.rstrip("/")


_DEVICE = vol.Schema(
    {
        vol.Required("name"): _name,
        vol.Optional("address"): vol.Any(int, str),
        vol.Optional("profile"): _name,
        vol.Optional("mode"): _one_of("full", "short"),
        vol.Optional("max_baud"): _one_of(300, 600, 1200, 2400, 4800, 9600, 19200),
    }
)

_LINE = vol.Schema(
    {
        vol.Optional("name"): _name,
        vol.Required("port"): _text,
        vol.Required("protocol"): _one_of("modbus", "iec62056"),
        vol.Optional("baudrate"): _one_of(*_BAUDRATES),
        vol.Optional("parity"): _one_of("N", "E", "O"),
        vol.Optional("stopbits"): _one_of(1, 2),
        vol.Required("poll_interval"): _duration(timedelta(seconds=1), timedelta(hours=24)),
        vol.Optional("slow_interval"): _duration(timedelta(seconds=1), timedelta(hours=24)),
        vol.Optional("io_interval"): _duration(timedelta(milliseconds=200), timedelta(seconds=60)),
        vol.Optional("timeout"): _duration(timedelta(milliseconds=10), timedelta(seconds=10)),
        vol.Optional("retries"): _integer(0, 5),
        vol.Required("devices"): vol.All(list, vol.Length(min=1, max=247), [_DEVICE]),
    }
)

_GPIO_INPUT = vol.Schema(
    {
        vol.Required("name"): _name,
        vol.Required("offset"): _integer(0, 1023),
        vol.Optional("active_low"): _boolean,
        vol.Optional("bias"): _one_of(*(bias.value for bias in Bias)),
        vol.Optional("debounce"): _duration(timedelta(), timedelta(seconds=10)),
    }
)

_GPIO_RELAY = vol.Schema(
    {
        vol.Required("name"): _name,
        vol.Required("offset"): _integer(0, 1023),
        vol.Optional("active_low"): _boolean,
        vol.Optional("max_on"): _duration(timedelta(seconds=1), timedelta(days=7)),
        vol.Optional("on_controller_loss"): _one_of("on", "off", "keep"),
    }
)

_SCHEMA = vol.Schema(
    {
        vol.Required("state_dir"): _text,
        vol.Optional("listen"): _listen,
        vol.Optional("upstream"): vol.Any(
            None,
            vol.Schema({vol.Required("url"): _url, vol.Optional("enrolment_key"): _text}),
        ),
        vol.Required("send_period"): _duration(timedelta(seconds=1), MAX_SEND_PERIOD),
        vol.Optional("command_wait"): _command_wait,
        vol.Optional("retention"): _duration(timedelta(hours=1), timedelta(days=366)),
        vol.Optional("profiles_dir"): _text,
        vol.Required("lines"): vol.All(list, vol.Length(min=1, max=32), [_LINE]),
        vol.Optional("gpio"): vol.Schema(
            {
                vol.Optional("chip"): _text,
                vol.Optional("inputs"): vol.All(list, vol.Length(max=64), [_GPIO_INPUT]),
                vol.Optional("relays"): vol.All(list, vol.Length(max=64), [_GPIO_RELAY]),
                vol.Optional("controller_timeout"): _duration(
                    timedelta(seconds=10), timedelta(days=7)
                ),
            }
        ),
        vol.Optional("mains"): vol.Schema(
            vol.Any({vol.Required("device"): _name}, {vol.Required("input"): _name}),
        ),
        vol.Optional("modem"): vol.Schema(
            {
                vol.Required("port"): _text,
                vol.Optional("baudrate"): _one_of(*_BAUDRATES),
                vol.Optional("poll_interval"): _duration(
                    timedelta(seconds=10), timedelta(hours=24)
                ),
            }
        ),
    }
)


# -- loading --------------------------------------------------------------------------------


def _dotted(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Checker:
    """Raises :class:`ConfigError` for a field path, with its line from the file."""

    def __init__(self, source: str, lines: Mapping[FieldPath, int]) -> None:
        self.source = source
        self.lines = lines

    def line(self, path: FieldPath) -> int | None:
        for end in range(len(path), -1, -1):
            if (line := self.lines.get(path[:end])) is not None:
                return line
        return None

    def fail(self, path: FieldPath, reason: str) -> ConfigError:
        return ConfigError(self.source, self.line(path), _dotted(path), reason)


def _schema_error(check: _Checker, exc: vol.Invalid) -> ConfigError:
    errors = exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc]
    first = min(errors, key=lambda e: (check.line(_path(e)) or 0, [str(p) for p in e.path]))
    message = first.error_message or str(first.msg)
    if message in ("extra keys not allowed", "not a valid option"):
        message = "unknown field"
    elif message == "required key not provided":
        message = "required field missing"
    elif message.startswith("length of value must be"):
        message = f"expected a list ({message.removeprefix('length of value must be ')} entries)"
    elif message == "expected list":
        message = "expected a list"
    elif message.startswith("expected dict"):
        message = "expected a mapping of fields"
    return check.fail(_path(first), message)


def _path(error: vol.Invalid) -> FieldPath:
    return tuple(p if isinstance(p, int) else str(p) for p in error.path)


def load_config(
    path: str | Path,
    *,
    catalogue: ProfileCatalogue | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonConfig:
    """Read and check a configuration file (blocking: call it before the event loop, or in an
    executor). ``catalogue`` defaults to the shipped profiles plus ``profiles_dir``."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(source, None, "", "not a regular file")
            raw = file.read(MAX_CONFIG_SIZE + 1)
    except OSError as err:
        raise ConfigError(source, None, "", f"cannot read: {err.strerror or err}") from None
    if len(raw) > MAX_CONFIG_SIZE:
        raise ConfigError(source, None, "", f"too large (over {MAX_CONFIG_SIZE} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(source, None, "", f"not UTF-8 text ({err.reason})") from None
    return load_config_text(text, source=source, catalogue=catalogue, environ=environ)


def load_config_text(
    text: str,
    *,
    source: str = "<config>",
    catalogue: ProfileCatalogue | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonConfig:
    """Check configuration text; ``source`` names it in errors. ``${NAME}`` and
    ``${NAME:-default}`` in text values are taken from ``environ`` (the process's)."""
    if len(text) > MAX_CONFIG_SIZE:
        raise ConfigError(source, None, "", f"too large (over {MAX_CONFIG_SIZE} bytes)")
    try:
        data, lines = parse_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or type(exc).__name__
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, line, "", f"invalid YAML: {problem}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ConfigError(source, None, "", f"invalid YAML: {exc}") from None
    check = _Checker(source, lines)
    if not isinstance(data, dict):
        raise check.fail((), "expected a mapping of fields (state_dir, send_period, lines, …)")
    data = _expand(check, data, (), os.environ if environ is None else environ)
    try:
        doc: dict[str, Any] = _SCHEMA(data)
    except vol.Invalid as exc:
        raise _schema_error(check, exc) from None
    return _build(check, doc, catalogue)


def _expand(check: _Checker, value: Any, path: FieldPath, environ: Mapping[str, str]) -> Any:
    """``${NAME}`` / ``${NAME:-default}`` in text values, from the environment: a systemd
    ``EnvironmentFile`` or a shell can point one file at ports that change (a simulator's)."""
    if isinstance(value, dict):
        return {k: _expand(check, v, (*path, str(k)), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(check, v, (*path, i), environ) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match[1], match[2]
        found = environ.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                raise check.fail(path, f"environment variable {name} is not set (no default)")
            return default
        return found

    if _ENV_RE.search(value) is None:
        raise check.fail(path, "expected ${NAME} or ${NAME:-default} (NAME: A-Z, 0-9, _)")
    return _ENV_RE.sub(substitute, value)


def _build(
    check: _Checker, doc: dict[str, Any], catalogue: ProfileCatalogue | None
) -> DaemonConfig:
    warnings: list[str] = []
    send_period: timedelta = doc["send_period"]
    if send_period < MIN_SEND_PERIOD:
        warnings.append(
            f"{check.source}:{check.line(('send_period',))}: send_period "
            f"{format_duration(send_period)} is under one minute: for tests and demos, not for a "
            "SIM card's data allowance"
        )
    upstream = None
    if (up := doc.get("upstream")) is not None:
        upstream = UpstreamConfig(url=up["url"], enrolment_key=up.get("enrolment_key"))
        parts = urlsplit(upstream.url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
            warnings.append(
                f"{check.source}:{check.line(('upstream', 'url'))}: upstream.url is plain "
                "http:// to a host that is not this one: readings and the upload secret cross "
                "the network unencrypted (use https://)"
            )
    profiles_dir = doc.get("profiles_dir")
    if catalogue is None and any(line["protocol"] == "modbus" for line in doc["lines"]):
        try:
            catalogue = load_catalogue(profiles_dir)
        except (ProfileError, OSError) as err:
            raise check.fail(("profiles_dir",), str(err)) from None
    line_sections = _lines(check, doc["lines"], catalogue, profiles_dir)
    gpio = _gpio(check, doc["gpio"]) if "gpio" in doc else None
    mains = None
    if (section := doc.get("mains")) is not None:
        mains = MainsSection(device=section.get("device"), input=section.get("input"))
        devices = {d.key for line in line_sections for d in (*line.config.devices,)}
        devices |= {m.key for line in line_sections for m in line.config.meters}
        inputs = {i.name for i in gpio.config.inputs} if gpio is not None else set()
        if mains.device is not None and mains.device not in devices:
            raise check.fail(("mains", "device"), f"no device named {mains.device!r} in lines")
        if mains.input is not None and mains.input not in inputs:
            raise check.fail(("mains", "input"), f"no GPIO input named {mains.input!r}")
    modem = None
    if (section := doc.get("modem")) is not None:
        modem = ModemSection(
            port=section["port"],
            baudrate=section.get("baudrate", 115200),
            poll_interval=section.get("poll_interval", timedelta(minutes=5)),
        )
    host, port = doc.get("listen") or _listen(DEFAULT_LISTEN)
    return DaemonConfig(
        source=check.source,
        state_dir=Path(doc["state_dir"]),
        listen_host=host,
        listen_port=port,
        upstream=upstream,
        send_period=send_period,
        command_wait=doc.get("command_wait", DEFAULT_COMMAND_WAIT),
        retention=doc.get("retention", timedelta(days=7)),
        lines=line_sections,
        gpio=gpio,
        mains=mains,
        modem=modem,
        profiles_dir=profiles_dir,
        warnings=tuple(warnings),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lines(
    check: _Checker,
    lines: list[dict[str, Any]],
    catalogue: ProfileCatalogue | None,
    profiles_dir: str | None,
) -> tuple[LineSection, ...]:
    out: list[LineSection] = []
    ports: dict[str, int] = {}
    names: dict[str, FieldPath] = {}
    for index, line in enumerate(lines):
        where: FieldPath = ("lines", index)
        port = line["port"]
        if port in ports:
            raise check.fail(
                (*where, "port"), f"port {port} is already used by lines[{ports[port]}]"
            )
        ports[port] = index
        protocol = LineProtocol(line["protocol"])
        iec = protocol is LineProtocol.IEC62056
        default_baud, default_parity = (300, "E") if iec else (9600, "N")
        bytesize: Literal[7, 8] = 7 if iec else 8
        serial = SerialSettings(
            port=port,
            baudrate=line.get("baudrate", default_baud),
            bytesize=bytesize,
            parity=line.get("parity", default_parity),
            stopbits=line.get("stopbits", 1),
        )
        meters: list[MeterConfig] = []
        devices: list[ModbusDeviceConfig] = []
        addresses: dict[object, int] = {}
        for number, device in enumerate(line["devices"]):
            at: FieldPath = (*where, "devices", number)
            name = device["name"]
            if name in names:
                raise check.fail(
                    (*at, "name"), f"name {name!r} is already used by {_dotted(names[name])}"
                )
            names[name] = at
            address = device.get("address")
            if iec:  # no address is the plain sign-on: one such meter per line
                address = "" if address is None else str(address)
            if address in addresses:
                raise check.fail(
                    (*at, "address"),
                    f"address {address!r} is already used by devices[{addresses[address]}] "
                    "on this line",
                )
            if iec:
                meters.append(_meter(check, at, device))
            else:
                devices.append(_modbus_device(check, at, device, catalogue))
            addresses[address] = number
        config = LineConfig(
            protocol=protocol,
            serial=serial,
            meters=tuple(meters),
            devices=tuple(devices),
            timeout=line["timeout"].total_seconds() if "timeout" in line else 0.5,
            retries=line.get("retries", 1),
            profiles_dir=profiles_dir,
        )
        out.append(
            LineSection(
                name=line.get("name", f"line{index + 1}"),
                config=config,
                poll_interval=line["poll_interval"],
                slow_interval=line.get("slow_interval", timedelta(minutes=15)),
                io_interval=line.get("io_interval", timedelta(seconds=1)),
            )
        )
    line_names = [section.name for section in out]
    for index, name in enumerate(line_names):
        if line_names.index(name) != index:
            raise check.fail(("lines", index, "name"), f"line name {name!r} is used twice")
    return tuple(out)


def _meter(check: _Checker, at: FieldPath, device: dict[str, Any]) -> MeterConfig:
    if "profile" in device:
        raise check.fail((*at, "profile"), "a meter on an iec62056 line has no profile")
    address = device.get("address", "")
    if isinstance(address, bool) or not isinstance(address, int | str):
        raise check.fail((*at, "address"), f"expected the meter's address text, got {address!r}")
    address = str(address)
    if len(address) > 32 or any(c in "/?!" or not c.isprintable() for c in address):
        raise check.fail(
            (*at, "address"),
            f"expected up to 32 printable characters without / ? !, got {address!r}",
        )
    mode: Literal["full", "short"] = device.get("mode", "full")
    return MeterConfig(
        key=device["name"],
        name=device["name"],
        address=address,
        mode=mode,
        max_baud=device.get("max_baud", 9600),
    )


def _modbus_device(
    check: _Checker, at: FieldPath, device: dict[str, Any], catalogue: ProfileCatalogue | None
) -> ModbusDeviceConfig:
    for key in ("mode", "max_baud"):
        if key in device:
            raise check.fail((*at, key), "only a meter on an iec62056 line has this field")
    if "address" not in device:
        raise check.fail((*at, "address"), "required field missing")
    address = device["address"]
    if isinstance(address, bool) or not isinstance(address, int) or not 1 <= address <= 247:
        raise check.fail(
            (*at, "address"), f"expected a Modbus address 1..247, got {_shown(address)}"
        )
    if "profile" not in device:
        raise check.fail((*at, "profile"), "required field missing")
    profile = device["profile"]
    if catalogue is not None and profile not in catalogue:
        raise check.fail(
            (*at, "profile"),
            f"unknown profile {profile!r} (known: {', '.join(catalogue.ids())})",
        )
    return ModbusDeviceConfig(
        key=device["name"], name=device["name"], device_id=address, profile_id=profile
    )


def _gpio(check: _Checker, section: dict[str, Any]) -> GpioSection:
    chip = section.get("chip", "/dev/gpiochip0")
    inputs = tuple(
        GpioInputConfig(
            name=entry["name"],
            offset=entry["offset"],
            active_low=entry.get("active_low", True),
            bias=Bias(entry.get("bias", Bias.PULL_UP.value)),
            debounce=entry.get("debounce", timedelta(milliseconds=50)),
        )
        for entry in section.get("inputs", [])
    )
    relays = []
    fail_safes: dict[str, RelayFailSafe] = {}
    for entry in section.get("relays", []):
        relays.append(
            GpioRelayConfig(
                name=entry["name"],
                offset=entry["offset"],
                active_low=entry.get("active_low", False),
            )
        )
        loss = {"on": True, "off": False, "keep": None}[entry.get("on_controller_loss", "keep")]
        max_on = entry["max_on"].total_seconds() if "max_on" in entry else None
        if max_on is not None or loss is not None:
            fail_safes[entry["name"]] = RelayFailSafe(max_on=max_on, on_controller_loss=loss)
    timeout = section.get("controller_timeout")
    if timeout is None and any(f.on_controller_loss is not None for f in fail_safes.values()):
        raise check.fail(
            ("gpio", "controller_timeout"),
            "required when a relay sets on_controller_loss (how long without the controller)",
        )
    try:
        config = GpioConfig(chip=chip, inputs=inputs, relays=tuple(relays))
    except GpioConfigError as err:
        raise check.fail(("gpio",), str(err)) from None
    return GpioSection(config=config, fail_safes=fail_safes, controller_timeout=timeout)
