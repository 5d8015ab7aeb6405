"""``smartpower-bridge`` command line.

Each protocol family registers its sub-commands from its own module; this module only
builds the parser and maps errors to exit codes: 0 success, 1 the device or line failed,
2 bad input (a file that is not a readout, an unknown profile, a bad argument).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hardware_bridge import __version__
from hardware_bridge.cli import _demo, _iec, _modbus, _simulate

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartpower-bridge",
        description="Read IEC 62056-21 meters and Modbus RTU devices over serial lines.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _iec.register(sub)
    _modbus.register(sub)
    _simulate.register(sub)
    _demo.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
