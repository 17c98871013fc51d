"""Who gets into the console: operators only, by session, with CSRF on every form."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest

from tests.console.conftest import NARROW, OPERATOR_EMAIL, Site, new_page, sign_in
from tests.platform.processes import http

pytestmark = pytest.mark.slow

PAGES = {
    "Overview": "/console/",
    "Users": "/console/users/",
    "Collections": "/console/collections/",
    "Storage": "/console/storage/",
    "Functions": "/console/functions/",
    "Realtime": "/console/realtime/",
    "Keys": "/console/keys/",
    "Audit log": "/console/audit/",
}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """Status and headers (looked up case-insensitively) of a GET that does not follow redirects."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_every_page_sends_a_stranger_to_the_sign_in_page(site: Site) -> None:
    user = site.app_user()
    for path in PAGES.values():
        for headers in ({}, {"Authorization": f"Bearer {user['access']}"}):
            status, answer = fetch(site.url(path), headers=headers)
            assert status == 302, (path, status)
            assert answer["Location"].startswith("/console/sign-in?next="), answer["Location"]


def test_an_htmx_request_without_a_session_is_told_where_to_sign_in(site: Site) -> None:
    status, answer = fetch(site.url("/console/users/"), headers={"HX-Request": "true"})
    assert status == 401
    assert answer["HX-Redirect"].startswith("/console/sign-in")


def test_the_operator_signs_in_sees_every_section_and_signs_out(browser: Any, site: Site, page_problems: list) -> None:
    page = new_page(browser, page_problems)
    page.goto(site.url("/console/keys/"))
    page.wait_for_url(re.compile(r"/console/sign-in\?next="))
    sign_in(page, site)
    page.wait_for_url(site.url("/console/keys/"))  # back where the operator was going
    assert page.get_by_text(OPERATOR_EMAIL).is_visible()
    navigation = page.get_by_role("navigation", name="Console")
    for name, path in PAGES.items():
        navigation.get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(site.url(path))
        assert page.get_by_role("heading", level=1).first.inner_text() == name
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/console/sign-in"))
    page.goto(site.url("/console/users/"))
    page.wait_for_url(re.compile(r"/console/sign-in\?next="))
    for problems in page_problems:
        problems.assert_clean()


def test_an_app_user_and_a_wrong_password_are_refused_alike(browser: Any, site: Site, page_problems: list) -> None:
    user = site.app_user()
    page = new_page(browser, page_problems, expected_console_errors=("status of 401",))
    for email, password in ((user["user"]["email"], "a fine long passphrase"), (OPERATOR_EMAIL, "not the password")):
        sign_in(page, site, email, password)
        assert page.get_by_role("alert").inner_text() == "The email or password is wrong."
        assert "/console/sign-in" in page.url
    status, _ = fetch(site.url("/console/"))
    assert status == 302


def test_forms_without_the_csrf_token_are_refused(site: Site) -> None:
    status, _ = http("POST", site.url("/console/sign-in"), body={"email": OPERATOR_EMAIL})
    assert status == 403


def test_a_phone_wide_page_keeps_every_section_reachable_by_keyboard(
    browser: Any, site: Site, page_problems: list
) -> None:
    page = new_page(browser, page_problems, viewport=NARROW)
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    reached = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.textContent.trim()"))
    assert set(PAGES) <= reached, reached
    focused_outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused_outline != "none"
