"""Shared helpers for the Modbus tests: the catalogue and a CLI runner."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType

import pytest

import hardware_bridge
from hardware_bridge.modbus import ProfileCatalogue, load_catalogue


def _load_cli_module() -> ModuleType:
    try:
        from hardware_bridge.cli import _modbus
    except ImportError:
        # The sibling CLI modules may not exist yet in this checkout: load ours on its own.
        path = Path(hardware_bridge.__file__).parent / "cli" / "_modbus.py"
        spec = importlib.util.spec_from_file_location("_modbus_cli_under_test", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return _modbus


_modbus = _load_cli_module()


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
