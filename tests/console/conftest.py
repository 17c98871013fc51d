"""Console tests: a real `baas dev` (server, worker and beat) on this run's stack, driven by chromium.

`site` starts one platform per test module, with an operator made by `baas createadmin`;
`operator_page` is a 1280 px wide page already signed in as that operator, and fails the test if
the page logged a console error, threw, or sent a request off the machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser import PageProblems, browser, watched  # noqa: F401  (browser is a fixture)
from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import RunningProcess, http, wait_until
from tests.realtime.conftest import Server, prepare, stack_env

OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "a long operator passphrase"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}  # a phone


@dataclass
class Site:
    """A running platform: its REST helper (with a service key) and the console's address."""

    server: Server

    @property
    def base(self) -> str:
        return self.server.base

    def url(self, path: str = "/console/") -> str:
        return f"{self.server.base}{path}"

    def app_user(self) -> dict[str, Any]:
        """A new app user (signed up through the API), with its tokens."""
        return self.server.user(f"u{uuid.uuid4().hex[:10]}@example.com")


def start_dev(env: dict[str, str]) -> Server:
    port = free_port()
    process = RunningProcess([BAAS_BIN, "dev", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=60):
        process.kill()
        pytest.fail(f"baas dev did not start:\n{process.text}")
    return Server(base=base, key=env["BAAS_TEST_KEY"], env=env, process=process)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for env in stack_env(tmp_path_factory.mktemp("console")):
        prepared = prepare(env)
        running = start_dev(prepared)
        try:
            running.manage("createadmin", "--email", OPERATOR_EMAIL, "--password", OPERATOR_PASSWORD)
            yield Site(server=running)
        finally:
            running.process.stop()


def sign_in(page: Any, site: Site, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD) -> None:
    """Fill in and send the sign-in form (opening the sign-in page first unless it is open)."""
    if "/console/sign-in" not in page.url:
        page.goto(site.url("/console/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def page_problems() -> list[PageProblems]:
    return []


def new_page(
    browser: Any,  # noqa: F811
    problems: list[PageProblems],
    viewport: dict[str, int] = WIDE,
    expected_console_errors: tuple[str, ...] = (),
) -> Any:
    """A page in a fresh browser context (no cookies), watched for problems."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems.append(watched(page, expected_console_errors=expected_console_errors))
    return page


@pytest.fixture
def operator_page(browser: Any, site: Site, page_problems: list[PageProblems]) -> Iterator[Any]:  # noqa: F811
    page = new_page(browser, page_problems)
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    yield page
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()
