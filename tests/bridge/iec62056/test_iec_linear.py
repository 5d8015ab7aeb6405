"""Capture parsing time grows linearly with the input (``iec-parse`` on any file).

Linearity is checked as a ratio measured in the same run: 4× the input may take at most 8×
the time (linear ≈ 4×, quadratic ≈ 16× and rising). CPU time of this process, best of five
runs each, so a busy machine does not decide the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hardware_bridge.iec62056 import parse_readout, scan_datasets

RATIO_BOUND = 8.0


def _best_time(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def _ratio(make: Callable[[int], bytes], parse: Callable[[bytes], object], base: int) -> float:
    small, large = make(base), make(4 * base)
    parse(small)  # warm up
    return _best_time(lambda: parse(large)) / _best_time(lambda: parse(small))


def _scan(data: bytes) -> object:
    return scan_datasets(data.decode("latin-1"), strict=False)


@pytest.mark.parametrize(
    ("make", "parse", "base"),
    [
        (lambda n: b"1.8.0" + b"(0001.000*kWh)" * n, parse_readout, 60_000),
        (lambda n: b"1.8.0" + b"(1)" * n + b"!", parse_readout, 150_000),
        (lambda n: b"1.8.0(00001\r\n" * n + b"1.8.0(1)!", _scan, 40_000),
        (lambda n: b"#\n" * n + b"1.8.0(1*kWh)\r\n!\r\n", parse_readout, 200_000),
    ],
    ids=[
        "one line of value groups",
        "value groups without a newline",
        "lines that never close their value",
        "leading comment lines",
    ],
)
def test_capture_parsing_is_linear(
    make: Callable[[int], bytes], parse: Callable[[bytes], object], base: int
) -> None:
    ratio = _ratio(make, parse, base)
    assert ratio < RATIO_BOUND, f"4x input took {ratio:.1f}x the time"
