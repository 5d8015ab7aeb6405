"""``run``, ``status``, ``auth-code`` and ``upload-now``: the terminal daemon and its controls.

``run`` loads the configuration (errors name file, line and field; exit 2), opens or creates
the terminal's identity (first start: the slip with Modem No, auth code and a QR code is
printed once, never logged), and runs until SIGTERM/SIGINT. The other commands read the state
directory without disturbing a running daemon: ``status`` reads the status file the daemon
rewrites atomically, ``upload-now`` sends SIGUSR1 to the pid held in the locked pid file, and
``auth-code --renew`` changes the identity under its file lock (the daemon rereads it).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from hardware_bridge.cli._args import text
from hardware_bridge.daemon.config import ConfigError, DaemonConfig, format_duration, load_config
from hardware_bridge.daemon.slip import format_slip
from hardware_bridge.daemon.state_files import read_status, running_pid
from hardware_bridge.uplink import IdentityError, StorageError, TerminalIdentity

__all__ = ["register", "run_auth_code", "run_daemon", "run_status", "run_upload_now"]

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

_LOGGER = logging.getLogger("hardware_bridge.daemon")

_CONFIG = text("a configuration file")


def _make_uplink(config: DaemonConfig, identity: TerminalIdentity) -> Any:
    """The uploader over the SmartPower API (:mod:`hardware_bridge.daemon.uplink_client`)."""
    import aiohttp  # noqa: F401, PLC0415 - the api extra: refused at start, not at each upload

    from hardware_bridge.daemon.uplink_client import ApiUplink  # noqa: PLC0415

    assert config.upstream is not None
    return ApiUplink(
        identity,
        config.state_dir,
        server=config.upstream.url,
        enrolment_key=config.upstream.enrolment_key,
    )


uplink_factory: Callable[[DaemonConfig, TerminalIdentity], Any] | None = _make_uplink
"""Makes the :class:`~hardware_bridge.daemon.Uplink` for a configured upstream (None: no
uploader in this build, readings stay queued until one sends them)."""


def _make_local_api(config: DaemonConfig) -> Any:
    """The local API on ``listen``, served by the API's HTTP app
    (``hardware_bridge.api.http_app.build_app``) when this build has it."""
    try:
        http_app = importlib.import_module("hardware_bridge.api.http_app")
    except ImportError:
        _LOGGER.info("This build has no HTTP app for the local API: it is not served")
        return None
    from hardware_bridge.daemon.local_api import make_local_api  # noqa: PLC0415 - aiohttp

    return make_local_api(http_app.build_app, config.listen_host, config.listen_port)


local_api_factory: Callable[[DaemonConfig], Any] | None = _make_local_api
"""Makes the daemon's local API server (:class:`~hardware_bridge.daemon.LocalApi`)."""


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the terminal daemon",
        description="Polls every configured line, commits every reading to the local queue "
        "and sends it upstream. The first start prints the Modem No and the auth code.",
    )
    _config_option(run)
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="what to log (default info)",
    )
    run.add_argument(
        "--no-qr", action="store_true", help="print the first-start slip without a QR code"
    )
    run.set_defaults(handler=run_daemon)

    status = subparsers.add_parser(
        "status",
        help="show the daemon's queue depth, last upload, last error and signal",
        description="Reads the state directory; does not disturb a running daemon.",
    )
    _config_option(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=run_status)

    auth = subparsers.add_parser(
        "auth-code",
        help="make a new auth code (Yetki Kodu) and revoke every access token",
        description="The auth code is stored only hashed, so it cannot be shown again: "
        "--renew makes a new one, prints it once and revokes every token issued.",
    )
    _config_option(auth)
    auth.add_argument("--renew", action="store_true", help="make a new code (required)")
    auth.add_argument("--no-qr", action="store_true", help="print the slip without a QR code")
    auth.set_defaults(handler=run_auth_code)

    now = subparsers.add_parser(
        "upload-now",
        help="make the running daemon send its queue at once",
        description="Signals the daemon running on the configuration's state directory "
        "(SIGUSR1); it sends without waiting for its send period.",
    )
    _config_option(now)
    now.set_defaults(handler=run_upload_now)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", required=True, type=_CONFIG, metavar="FILE", help="terminal.yaml"
    )


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge: {message}", file=sys.stderr)
    return code


def _load(path: str) -> DaemonConfig:
    return load_config(path)


# -- run ------------------------------------------------------------------------------------


def _setup_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    from hardware_bridge.modbus._client import quiet_pymodbus_logging  # noqa: PLC0415

    quiet_pymodbus_logging()


def run_daemon(args: argparse.Namespace) -> int:
    """Handler of ``run``."""
    from hardware_bridge.daemon.runner import Runner  # noqa: PLC0415 - engines on demand
    from hardware_bridge.daemon.state_files import DaemonRunningError  # noqa: PLC0415
    from hardware_bridge.io import GpioError  # noqa: PLC0415

    try:
        config = _load(args.config)
    except ConfigError as err:
        return _fail(EXIT_INPUT, str(err))
    _setup_logging(args.log_level)
    for warning in config.warnings:
        _LOGGER.warning("%s", warning)
    try:
        opened = TerminalIdentity.open(config.state_dir)
    except IdentityError as err:
        return _fail(EXIT_INPUT, str(err))
    identity = opened.identity
    if opened.new_auth_code is not None:
        # Kept for the uploader before anything slower (the slip's QR code): a stop in between
        # would lose the only plain copy, and the terminal could never enrol by itself.
        if config.upstream is not None:  # the uploader enrols with it, then deletes it
            from hardware_bridge.daemon.uplink_client import (  # noqa: PLC0415
                write_pending_auth_code,
            )

            try:
                write_pending_auth_code(config.state_dir, opened.new_auth_code)
            except OSError as err:
                return _fail(EXIT_FAILED, f"{config.state_dir}: {err.strerror or err}")
        print(format_slip(identity.modem_no, opened.new_auth_code, qr=not args.no_qr), flush=True)
    uplink = None
    if config.upstream is not None:
        if uplink_factory is None:
            _LOGGER.warning(
                "Upstream %s is configured but this build has no uploader: readings are kept "
                "in the queue until one sends them",
                config.upstream.url,
            )
        else:
            try:
                uplink = uplink_factory(config, identity)
            except ImportError as err:
                return _fail(
                    EXIT_FAILED,
                    "an upstream needs the api extra "
                    f"(pip install 'smartpower-hardware-bridge[api]'): {err}",
                )
    local_api = local_api_factory(config) if local_api_factory is not None else None

    def ready(runner: Runner) -> None:
        print(f"Modem No: {identity.modem_no}")
        print(f"state dir: {config.state_dir}")
        for poller in runner.pollers:
            line = poller.terminal.config
            count = len(poller.terminal.device_keys)
            print(
                f"line {poller.name}: {line.serial.port} ({line.protocol.value}, "
                f"{count} device{'' if count == 1 else 's'})"
            )
        if config.upstream is None:
            print("upstream: none (LAN-only mode)")
        else:
            print(f"upstream: {config.upstream.url}, every {format_duration(config.send_period)}")
        if runner.api_url is not None:
            print(f"listening on {runner.api_url}")
        sys.stdout.flush()

    runner = Runner(config, identity, uplink=uplink, local_api=local_api, on_ready=ready)
    if uplink is not None and hasattr(uplink, "attach"):
        uplink.attach(runner)  # relay commands from the server go through the runner

    async def main() -> None:
        try:
            await runner.run(handle_signals=True)
        finally:
            if uplink is not None and hasattr(uplink, "close"):
                await uplink.close()

    try:
        asyncio.run(main())
    except DaemonRunningError as err:
        return _fail(EXIT_FAILED, str(err))
    except (GpioError, StorageError, OSError) as err:
        return _fail(EXIT_FAILED, str(err))
    return EXIT_OK


# -- status ---------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    """Handler of ``status``."""
    try:
        config = _load(args.config)
    except ConfigError as err:
        return _fail(EXIT_INPUT, str(err))
    try:
        status = read_status(config.state_dir)
        pid = running_pid(config.state_dir)
    except ValueError as err:
        return _fail(EXIT_FAILED, str(err))
    except OSError as err:  # e.g. the state directory belongs to the service's user
        return _fail(EXIT_FAILED, f"{config.state_dir}: {err.strerror or err}")
    if status is None:
        status = {"modem_no": _modem_no(config), "queue_depth": None, "last_upload": None}
        status.update(last_error=None, signal_dbm=None, started=None)
    status["running"] = pid is not None  # a daemon that died cannot have said so
    status["pid"] = pid
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return EXIT_OK
    _print_status(status)
    return EXIT_OK


def _modem_no(config: DaemonConfig) -> str | None:
    try:
        return TerminalIdentity.load(config.state_dir).modem_no
    except IdentityError:
        return None


def _print_status(status: dict[str, Any]) -> None:
    running = f"running (pid {status['pid']})" if status["running"] else "not running"
    signal_dbm = status.get("signal_dbm")
    rows = [
        ("Modem No", status.get("modem_no") or "none yet (the daemon creates it at first start)"),
        ("daemon", running),
        ("queue depth", status.get("queue_depth")),
        ("last upload", status.get("last_upload") or "never"),
        ("last error", status.get("last_error") or "none"),
        ("signal", "unknown" if signal_dbm is None else f"{signal_dbm} dBm"),
        ("registration", status.get("registration") or "unknown"),
        ("mode", status.get("mode") or "unknown"),
        ("updated", status.get("updated") or "never"),
    ]
    for name, value in rows:
        print(f"{name + ':':14} {value}")


# -- auth-code ------------------------------------------------------------------------------


def run_auth_code(args: argparse.Namespace) -> int:
    """Handler of ``auth-code``."""
    if not args.renew:
        return _fail(
            EXIT_INPUT,
            "auth-code: the auth code is stored only hashed and cannot be shown again; "
            "use --renew to make a new one (every access token is revoked)",
        )
    try:
        config = _load(args.config)
        identity = TerminalIdentity.load(config.state_dir)
    except (ConfigError, IdentityError) as err:
        return _fail(EXIT_INPUT, str(err))
    owner = identity.path.stat().st_uid
    if owner != os.geteuid():  # a file rewritten by root would lock the service's user out
        return _fail(
            EXIT_INPUT,
            f"auth-code: {identity.path} belongs to user id {owner}; run this command as that "
            "user (sudo -u USER smartpower-bridge auth-code …)",
        )
    try:
        revoked = identity.token_count
        code = identity.renew_auth_code()
    except (IdentityError, OSError) as err:
        return _fail(EXIT_FAILED, f"auth-code: {err}")
    print(format_slip(identity.modem_no, code, qr=not args.no_qr), end="")
    print(f"{revoked} access tokens revoked: every client must claim the modem again")
    if config.upstream is not None:
        from hardware_bridge.daemon.uplink_client import send_renewed_auth_code  # noqa: PLC0415

        url = config.upstream.url
        try:
            told = asyncio.run(send_renewed_auth_code(identity, config.state_dir, url, code))
        except OSError as err:
            return _fail(EXIT_FAILED, f"auth-code: the server is not told the new code: {err}")
        if told:
            print(f"{url} has the new code")
        else:  # left pending: the daemon's uploader sends it at its next contact
            print(f"{url} is told the new code at the daemon's next upload")
    return EXIT_OK


# -- upload-now -----------------------------------------------------------------------------


def run_upload_now(args: argparse.Namespace) -> int:
    """Handler of ``upload-now``."""
    try:
        config = _load(args.config)
    except ConfigError as err:
        return _fail(EXIT_INPUT, str(err))
    try:
        pid = running_pid(config.state_dir)
    except OSError as err:
        return _fail(EXIT_FAILED, f"{config.state_dir}: {err.strerror or err}")
    if pid is None:
        return _fail(EXIT_FAILED, f"no daemon runs on {config.state_dir}")
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return _fail(EXIT_FAILED, f"no daemon runs on {config.state_dir}")
    except PermissionError:
        return _fail(EXIT_FAILED, f"not allowed to signal the daemon (pid {pid}): run as its user")
    if config.upstream is None:
        print(f"daemon (pid {pid}) signalled; it runs LAN-only: there is no upstream to send to")
    else:
        print(f"daemon (pid {pid}) sends its queue to {config.upstream.url} now")
    return EXIT_OK
