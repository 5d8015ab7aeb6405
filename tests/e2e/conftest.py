"""End-to-end tests: a real Home Assistant process, the simulators, and (optionally) Chromium."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


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
