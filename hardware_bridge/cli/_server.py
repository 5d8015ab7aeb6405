"""``server``: the SmartPower server — terminals upload to it, Home Assistant claims through it.

``smartpower-bridge server --listen HOST:PORT`` keeps everything in a SQLite file in the state
directory (the working directory unless ``--state-dir``); ``--database postgresql://…`` puts
it in PostgreSQL. It prints ``listening on http://HOST:PORT`` once it serves, applies the
retention at start and daily, and stops cleanly on SIGTERM or SIGINT (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["parse_command_expiry", "parse_listen", "parse_retention", "register", "run_server"]

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

_LOGGER = logging.getLogger("hardware_bridge.server")
_DURATION = re.compile(r"^([0-9]{1,6})([smhdw]?)$")
_UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_listen(value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected HOST:PORT (0.0.0.0:8080)")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_retention(value: str) -> timedelta | None:
    """``90d``, ``12w``, ``36h``; ``0`` or ``forever`` keeps everything."""
    if value.strip().lower() in ("0", "forever", "none"):
        return None
    match = _DURATION.match(value.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a duration such as 90d or 12w")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_command_expiry(value: str) -> timedelta:
    """``1h``, ``30m``, ``2h``: a positive duration (a bare number is minutes)."""
    match = _DURATION.match(value.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a duration such as 30m or 2h")
    unit = match.group(2) or "m"
    return timedelta(seconds=int(match.group(1)) * _UNITS[unit])


def register(subparsers: Any) -> None:
    server = subparsers.add_parser(
        "server",
        help="run a SmartPower server for many terminals",
        description="Serves the SmartPower API for every terminal that enrols with it.",
    )
    server.add_argument(
        "--listen", type=parse_listen, required=True, metavar="HOST:PORT", help="where to serve"
    )
    server.add_argument(
        "--database",
        metavar="URL",
        help="postgresql://user@host/db, or a SQLite file (default: in the state directory)",
    )
    server.add_argument(
        "--state-dir",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="where the SQLite file is kept (default: the working directory)",
    )
    server.add_argument(
        "--enrolment-key-file",
        type=Path,
        metavar="F",
        help="terminals must present the key this file holds to enrol",
    )
    server.add_argument(
        "--retention",
        type=parse_retention,
        default=timedelta(days=90),
        metavar="DURATION",
        help="how long readings are kept (default 90d; 0 keeps them for ever)",
    )
    server.add_argument(
        "--command-expiry",
        type=parse_command_expiry,
        metavar="DURATION",
        help="the longest a relay command waits for its terminal to fetch it (default 1h; "
        "within that, two send periods and a minute)",
    )
    server.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a reverse proxy whose X-Forwarded-For is believed (repeatable; CIDR allowed)",
    )
    server.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="info"
    )
    server.set_defaults(handler=run_server)


def _fail(code: int, message: str) -> int:
    print(f"smartpower-bridge server: {message}", file=sys.stderr)
    return code


def run_server(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    enrolment_key = None
    if args.enrolment_key_file is not None:
        try:
            enrolment_key = args.enrolment_key_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            return _fail(EXIT_INPUT, f"--enrolment-key-file: {err.strerror}: {err.filename}")
        if not enrolment_key:
            return _fail(EXIT_INPUT, f"--enrolment-key-file {args.enrolment_key_file} is empty")
    try:
        return asyncio.run(_serve(args, enrolment_key))
    except ImportError as err:  # installed without the extra: say which, not a traceback
        return _fail(
            EXIT_FAILED,
            f"the server needs the server extra "
            f"(pip install 'smartpower-hardware-bridge[server]'): {err}",
        )
    except (OSError, RuntimeError, ValueError) as err:
        return _fail(EXIT_FAILED, str(err))


async def _serve(args: argparse.Namespace, enrolment_key: str | None) -> int:
    from aiohttp import web  # noqa: PLC0415 - only this command needs the server

    from hardware_bridge.api.http_app import build_app  # noqa: PLC0415
    from hardware_bridge.server._description_files import (  # noqa: PLC0415
        import_description_files,
    )
    from hardware_bridge.server.service import (  # noqa: PLC0415
        DEFAULT_COMMAND_EXPIRY,
        ServerService,
    )
    from hardware_bridge.server.storage import open_storage  # noqa: PLC0415

    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    storage = await open_storage(args.database, state_dir=state_dir, retention=args.retention)
    try:
        await import_description_files(storage, state_dir / "descriptions")
    except BaseException:
        await storage.close()
        raise
    service = ServerService(
        storage,
        enrolment_key=enrolment_key,
        command_expiry=args.command_expiry or DEFAULT_COMMAND_EXPIRY,
    )
    notifier = None
    if args.database is not None and args.database.startswith(("postgresql://", "postgres://")):
        from hardware_bridge.server._notify import PostgresNotifier  # noqa: PLC0415

        notifier = PostgresNotifier(args.database, service.events_hub)
        await notifier.start()
        service.notifier = notifier
    app = build_app(service, service, trusted_proxies=args.trusted_proxy)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    retention = asyncio.create_task(service.run_retention())
    expiry = asyncio.create_task(service.run_command_expiry())
    try:
        await runner.setup()
        host, port = args.listen
        site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
        await site.start()
        bound = port
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        for sock in sockets:
            bound = sock.getsockname()[1]
            break
        shown = f"[{host}]" if ":" in host else host
        print(f"listening on http://{shown}:{bound}", flush=True)
        await stop.wait()
        _LOGGER.info("stopping")
    finally:
        for task in (retention, expiry):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        service.close()
        await runner.cleanup()
        if notifier is not None:
            await notifier.close()
        await storage.close()
    return EXIT_OK
