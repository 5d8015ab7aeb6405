"""The install test: Home Assistant installs the integration's requirements itself.

It builds a fresh virtual environment with Home Assistant from the package index, so it takes a
while the first time (about a minute with warm caches). It runs when ``SMARTPOWER_INSTALL_TEST``
is set (``.ci/run`` and the CI workflow set it to ``required``); otherwise it is skipped.
"""

from __future__ import annotations

import os

import pytest

ENV = "SMARTPOWER_INSTALL_TEST"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "install: installs the integration the way HACS users do, in a fresh Home Assistant venv",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(ENV, "").strip() not in ("", "0"):
        return
    skip = pytest.mark.skip(
        reason=f"builds a fresh Home Assistant venv from the package index (a minute or more); "
        f"run it with {ENV}=1 (CI sets {ENV}=required)"
    )
    for item in items:
        if item.get_closest_marker("install") is not None:
            item.add_marker(skip)
