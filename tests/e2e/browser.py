"""Chromium through Playwright for the end-to-end tests: is it there (skip, or fail when
``SMARTPOWER_E2E_BROWSER=required``), log in, and read what a page shows."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .harness import frontend_installed, wait_for
from .stack import USER

__all__ = [
    "BROWSER_FLAGS",
    "CHROMIUM",
    "DEEP_TEXT",
    "browser_or_skip",
    "logged_in_page",
    "page_text",
]

# Debian's chromium; SMARTPOWER_CHROMIUM names another Chromium-based browser.
CHROMIUM = Path(os.environ.get("SMARTPOWER_CHROMIUM") or "/usr/bin/chromium")

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_or_skip() -> None:
    required = os.environ.get("SMARTPOWER_E2E_BROWSER") == "required"
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
    elif not frontend_installed():
        problem = "the Home Assistant frontend is not installed (home-assistant-frontend)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (scripts/setup installs requirements-test.txt)"
    if problem is not None:
        if required:
            pytest.fail(f"browser test required (SMARTPOWER_E2E_BROWSER=required): {problem}")
        pytest.skip(problem)


async def page_text(page: Any, must_show: list[str], timeout: float = 30) -> str:  # noqa: ASYNC109
    """Wait until the page (shadow roots included) shows every string; return its text."""

    async def probe() -> str | None:
        text: str = await page.evaluate(DEEP_TEXT)
        return text if all(s in text for s in must_show) else None

    try:
        return await wait_for(probe, f"page {page.url} to show {must_show}", timeout, 0.5)
    except TimeoutError:
        text = await page.evaluate(DEEP_TEXT)
        missing = [s for s in must_show if s not in text]
        raise AssertionError(
            f"{page.url} does not show {missing}; it shows:\n{text[:3000]}"
        ) from None


# innerText does not enter shadow roots; HA's frontend is made of them.
DEEP_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const t = node.textContent.trim(); if (t) out.push(t); return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE
        && node.nodeType !== Node.DOCUMENT_NODE) return;
    if (node.nodeType === Node.ELEMENT_NODE) {
      const style = getComputedStyle(node);
      if (style.display === 'none' || style.visibility === 'hidden') return;
      if (node.shadowRoot) walk(node.shadowRoot);
      if (node.tagName === 'SLOT') { node.assignedNodes({flatten: true}).forEach(walk); }
    }
    node.childNodes.forEach(walk);
  };
  walk(document);
  return out.join('\\n');
}"""


@contextlib.asynccontextmanager
async def logged_in_page(
    url: str, profile_dir: Path, viewport: dict[str, int] | None = None
) -> AsyncIterator[Any]:
    """A Chromium page (light theme, en-US) logged in to Home Assistant at ``url`` as
    :data:`USER`, on its start page."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=BROWSER_FLAGS,
            viewport=viewport or {"width": 1440, "height": 1000},
            locale="en-US",
            color_scheme="light",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(url + "/", wait_until="domcontentloaded")
            await page.locator("input[name='username'], input[autocomplete='username']").first.fill(
                USER["username"]
            )
            await page.locator("input[type='password']").first.fill(USER["password"])
            await page.locator("input[type='password']").first.press("Enter")
            await page.wait_for_url(lambda u: "/auth/authorize" not in u, timeout=30_000)
            # Logged in once the frontend has stored its tokens and drawn the sidebar.
            await page_text(page, ["Overview", "Settings"])
            assert "/auth/authorize" not in page.url, page.url
            yield page
        finally:
            await context.close()
