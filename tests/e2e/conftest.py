"""End-to-end tests: a real Home Assistant process, the simulators, and (optionally) Chromium."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from .terminals import Process, no_traceback


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end tests with a real Home Assistant process (select: -m e2e)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[Any]:
    """Attach the end of Home Assistant's log to a failing end-to-end test."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("home_assistant")
    if report.failed and stack is not None:
        report.sections.append(("Home Assistant log (end)", stack.process.log_tail(80)))
    return report


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Daemons and servers a test starts: stopped at its end, and none may have written a
    traceback or logged an error."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()
    for process in started:
        no_traceback(process)
