"""Browser tests: Playwright driving Debian's chromium (never a downloaded browser).

`browser` (one per test module) launches /usr/bin/chromium headless; `watched(page)` records what a
page did wrong — console errors, uncaught exceptions, requests to anything but this machine — so a
test can assert that a page stayed clean. Import the fixtures into a conftest:
`from tests.browser import browser  # noqa: F401`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import service_missing

CHROMIUM = os.environ.get("BAAS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests run as root, where chromium's own sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# Module scope, not session: Playwright's sync API keeps an event loop running in the test's thread
# while it is started, and with it running every later test of the worker that calls asyncio.run()
# or touches the ORM (Django refuses sync database calls inside a running loop) would fail. Stopped
# at the end of each browser module, it leaves the worker as it found it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        service_missing(f"chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class PageProblems:
    """What went wrong on a page while a test drove it."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.page_errors, f"uncaught exceptions: {self.page_errors}"
        assert not self.remote_requests, f"requests that left the machine: {self.remote_requests}"


def watched(page: Any, *, expected_console_errors: tuple[str, ...] = ()) -> PageProblems:
    """Record a page's console errors, uncaught exceptions and requests to other machines.

    `expected_console_errors`: substrings of console errors a test provokes on purpose (a 4xx the
    page is meant to show, which chromium logs as "Failed to load resource")."""
    problems = PageProblems()

    def on_console(message: Any) -> None:
        if message.type == "error" and not any(text in message.text for text in expected_console_errors):
            problems.console_errors.append(message.text)

    def on_request(request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            problems.remote_requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on("request", on_request)
    return problems


def wait_for_expression(page: Any, expression: str, timeout: float = 10) -> None:
    """Wait until a JavaScript expression is true on the page, polling from here.

    Playwright's `wait_for_function` polls by evaluating the string inside the page, which a page
    whose Content-Security-Policy forbids eval (the console's) refuses; `page.evaluate` is not
    subject to the page's policy."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
