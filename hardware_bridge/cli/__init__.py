"""``smartpower-bridge`` command line.

Each protocol family registers its sub-commands from its own module; this module only
builds the parser and maps errors to exit codes: 0 success, 1 the device or line failed,
2 bad input (a file that is not a readout, an unknown profile, a bad argument).

Sub-command modules are imported only when their command is chosen: they pull in pymodbus,
asyncio, the simulators and their data, which ``--help`` and ``--version`` never need.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["COMMANDS", "build_parser", "main"]

PROG = "smartpower-bridge"

COMMANDS: dict[str, tuple[str, str]] = {
    "iec-parse": ("_iec", "parse a captured IEC 62056-21 readout"),
    "read-meter": ("_iec", "read an IEC 62056-21 meter (mode C)"),
    "modbus-read": ("_modbus", "read a Modbus RTU device with a profile"),
    "modbus-write": ("_modbus", "switch a relay of a Modbus RTU device and read it back"),
    "scan": ("_modbus", "find Modbus RTU devices on a line and suggest profiles"),
    "simulate": ("_simulate", "run simulated meters or Modbus devices on a virtual serial line"),
    "demo": ("_demo", "simulated panel: meters and Modbus devices on virtual lines, read live"),
    "gpio": ("_gpio", "read GPIO inputs and relays, switch relays, watch inputs"),
    "modem": ("_cellular", "show SIM, registration, operator and signal of an AT modem"),
    "sms": ("_cellular", "send an SMS through an AT modem"),
    "run": ("_daemon", "run the terminal daemon"),
    "init": ("_init", "write a starter terminal.yaml from a bus scan"),
    "status": ("_daemon", "show the daemon's queue depth, last upload, last error and signal"),
    "auth-code": ("_daemon", "make a new auth code (Yetki Kodu) and revoke every access token"),
    "upload-now": ("_daemon", "make the running daemon send its queue at once"),
    "server": ("_server", "run a SmartPower server for many terminals"),
}
"""Command → (module in this package that registers it, the help shown in the command list)."""


class _Parser(argparse.ArgumentParser):
    """Bad input is one line on stderr and exit 2 (argparse would add the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from hardware_bridge import __version__  # noqa: PLC0415 - the package imports every engine

    return f"{PROG} {__version__}"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(_version())
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` one where only that command's module is imported.

    The other commands are listed (for ``--help``) but not registered.
    """
    if command is None:
        return _parser(list(dict.fromkeys(module for module, _ in COMMANDS.values())))
    return _parser([COMMANDS[command][0]] if command in COMMANDS else [])


def _parser(modules: list[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Read IEC 62056-21 meters and Modbus RTU devices over serial lines.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registered: set[str] = set()
    for module in modules:
        before = set(sub.choices)
        importlib.import_module(f"{__name__}.{module}").register(sub)
        registered |= set(sub.choices) - before
    for name, (_, help_text) in COMMANDS.items():
        if name not in registered:  # listed in --help, parsed only when chosen
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``: the first word that is not an option."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
        if arg == "--":
            break
    return None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = _chosen_command(arguments)
    if command not in COMMANDS:
        _parser([]).parse_args(arguments)  # prints the help, the version or the error; exits
        return 2
    args = build_parser(command).parse_args(arguments)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. head, which stopped reading
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
