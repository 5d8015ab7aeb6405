"""Coverage-guided fuzzing of the IEC 62056-21 parsers and framer with atheris (libFuzzer).

Not part of the test suite (pytest does not collect this file, and atheris is not in the test
requirements). The hypothesis tests in ``tests/bridge/iec62056/test_iec_fuzz*.py`` run by
default; this harness is for long runs looking for new crashers. Any crasher it finds becomes
a regression test there.

    pip install atheris        # a wheel exists for CPython 3.13 on Linux x86-64
    python tests/fuzz/fuzz_iec62056.py -max_total_time=300 [corpus_dir]

What counts as a crash: any exception other than the typed protocol errors, or a framer that
produces more events than it was given bytes (it would never stop).
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from hardware_bridge.iec62056 import (
        CLOSED,
        NEED_DATA,
        Framer,
        NotAReadoutError,
        RemoteProtocolError,
        find_identification,
        parse_identification,
        parse_readout,
        scan_datasets,
    )


def _frame(data: bytes, chunk: int, lines_only: bool) -> None:
    framer = Framer(strict_bcc=False, strip_parity=True, max_frame_size=4096, lines_only=lines_only)
    events = 0
    try:
        for start in range(0, len(data), chunk):
            framer.receive_data(data[start : start + chunk])
            while framer.next_event() is not NEED_DATA:
                events += 1
                if events > len(data) + 1:
                    raise AssertionError("the framer produces events without consuming input")
        framer.receive_data(b"")
        while framer.next_event() not in (NEED_DATA, CLOSED):
            events += 1
            if events > len(data) + 1:
                raise AssertionError("the framer produces events without consuming input")
    except RemoteProtocolError:
        pass


def test_one_input(raw: bytes) -> None:
    provider = atheris.FuzzedDataProvider(raw)
    chunk = provider.ConsumeIntInRange(1, 64)
    lines_only = provider.ConsumeBool()
    data = provider.ConsumeBytes(provider.remaining_bytes())
    _frame(data, chunk, lines_only)
    find_identification(data)
    with contextlib.suppress(RemoteProtocolError):
        parse_identification(data)
    text = data.decode("latin-1")
    scan_datasets(text, strict=False)
    with contextlib.suppress(RemoteProtocolError):
        scan_datasets(text, strict=True)
    try:
        readout = parse_readout(data)
    except NotAReadoutError:
        return
    if readout.complete and b"!" not in data:
        raise AssertionError("a readout without '!' reported complete")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
