"""Shared helpers for the Modbus tests: the catalogue and a CLI runner."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable, Sequence

import pytest

from hardware_bridge.cli import _modbus
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> ProfileCatalogue:
    return load_catalogue()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartpower-bridge")
    sub = parser.add_subparsers(dest="command", required=True)
    _modbus.register(sub)
    return parser


def _run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """Run a Modbus sub-command the way ``smartpower-bridge`` does; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = _parser().parse_args(list(argv))
            code = int(args.handler(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


async def _run_cli_async(argv: Sequence[str]) -> tuple[int, str, str]:
    """The CLI runs its own event loop: run it in a thread while the simulator serves here."""
    return await asyncio.to_thread(_run_cli, argv)


@pytest.fixture
def run_cli() -> Callable[[Sequence[str]], tuple[int, str, str]]:
    return _run_cli


@pytest.fixture
def run_cli_async() -> Callable[[Sequence[str]], Awaitable[tuple[int, str, str]]]:
    return _run_cli_async
