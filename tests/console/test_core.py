"""The console's Overview, Users, Keys and Audit log pages and the hardened sign-in (TOTP second
factor, lockout), driven through chromium against a live `baas dev`."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pyotp
import pytest

from tests.console.conftest import NARROW, Site, new_page, sign_in
from tests.platform.processes import http

pytestmark = pytest.mark.slow

PASSWORD = "another long operator passphrase"


def accept_dialogs(page: Any) -> list[str]:
    """Confirm every "are you sure?" the page asks; returns the questions asked."""
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked


def new_operator(site: Site) -> str:
    email = f"op{uuid.uuid4().hex[:8]}@example.com"
    site.server.manage("createadmin", "--email", email, "--password", PASSWORD)
    return email


def test_overview_shows_the_platforms_figures(operator_page: Any, site: Site) -> None:
    site.server.rest("POST", "/v1/db/collections", {"name": "overviewed"})
    for n in range(3):
        site.server.rest("POST", "/v1/db/overviewed", {"data": {"n": n}})
    operator_page.goto(site.url("/console/"))
    documents = int(operator_page.locator("[data-figure=documents]").inner_text())
    assert documents >= 3
    users = int(operator_page.locator("[data-figure=users]").inner_text())
    assert users >= 1  # the operator
    assert operator_page.locator("[data-figure=sandbox]").inner_text().startswith("bubblewrap")
    assert re.match(r"\d+\.\d+\.\d+", operator_page.locator("[data-figure=version]").inner_text())
    assert operator_page.locator("td[data-status=dead]").inner_text().isdigit()
    assert operator_page.locator("#unsandboxed-warning").count() == 0  # functions are sandboxed here


def test_users_search_create_claims_disable_revoke_delete(operator_page: Any, site: Site) -> None:
    page = operator_page
    asked = accept_dialogs(page)
    existing = site.app_user()
    page.goto(site.url("/console/users/"))
    page.get_by_label("Search").fill(existing["user"]["email"][:8])
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"search="))
    page.get_by_role("link", name=existing["user"]["email"]).wait_for()
    assert page.locator("table.users tbody tr").count() == 1
    page.get_by_role("link", name=existing["user"]["email"]).click()
    page.wait_for_url(re.compile(r"/console/users/[0-9a-f-]{36}$"))

    # A new user, made in the form.
    email = f"made{uuid.uuid4().hex[:6]}@example.com"
    page.goto(site.url("/console/users/"))
    page.locator("#new-email").fill(email)
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url(re.compile(r"/console/users/[0-9a-f-]{36}$"))
    user_id = page.url.rsplit("/", 1)[1]
    assert page.get_by_role("heading", level=1).inner_text() == email

    # Claims: checked while typing, refused by the server when not an object, saved when valid.
    claims = page.get_by_label("Claims")
    claims.fill('{"editor": tru')
    assert "Not valid JSON" in page.locator("#claims-problem").inner_text()
    claims.fill('{"editor": true, "team": "blue"}')
    assert page.locator("#claims-problem").inner_text() == ""
    page.get_by_role("button", name="Save claims").click()
    page.get_by_text("Claims saved").wait_for()
    assert site.server.rest("GET", f"/v1/admin/users/{user_id}")["claims"] == {"editor": True, "team": "blue"}

    page.get_by_role("button", name="Disable user").click()
    page.get_by_text("is disabled").wait_for()
    assert site.server.rest("GET", f"/v1/admin/users/{user_id}")["disabled"] is True
    page.get_by_role("button", name="Enable user").click()
    page.get_by_text("is enabled").wait_for()
    assert site.server.rest("GET", f"/v1/admin/users/{user_id}")["disabled"] is False

    # Revoking sessions ends the app user's refresh token.
    page.goto(site.url(f"/console/users/{existing['user']['id']}"))
    page.get_by_role("button", name="Revoke sessions").click()
    page.get_by_text("1 session ended").wait_for()
    status, _ = http("POST", site.url("/v1/auth/token/refresh"), body={"refresh": existing["refresh"]})
    assert status == 401

    page.goto(site.url(f"/console/users/{user_id}"))
    page.get_by_role("button", name="Delete user").click()
    page.wait_for_url(site.url("/console/users/"))
    status, _ = http("GET", site.url(f"/v1/admin/users/{user_id}"), token=site.server.key)
    assert status == 404
    assert any("Disable" in q for q in asked) and any("Delete" in q for q in asked)
    assert any("End every session" in q for q in asked)

    # Every change is in the audit log, as the operator's, with before and after.
    page.goto(site.url(f"/console/audit/?target=user:{user_id}"))
    actions = page.locator("table.audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions == ["user.delete", "user.enable", "user.disable", "user.claims.update", "user.create"]
    row = page.locator("tr[data-action='user.claims.update']")
    row.get_by_text("Show the change").click()
    assert '"team": "blue"' in row.locator("pre").nth(1).inner_text()
    assert "operator@example.com" in row.inner_text()


def test_keys_secret_shown_once_then_revoked(operator_page: Any, site: Site) -> None:
    page = operator_page
    accept_dialogs(page)
    page.goto(site.url("/console/keys/"))
    name = f"ci-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("baas_sk_")
    assert http("GET", site.url("/v1/admin/keys"), token=secret)[0] == 200
    page.goto(site.url("/console/keys/"))
    assert secret not in page.content()  # shown once
    assert page.get_by_role("cell", name=name, exact=True).is_visible()
    page.get_by_role("button", name=f"Revoke {name}").click()
    page.get_by_text(f"Key {name} revoked").wait_for()
    assert http("GET", site.url("/v1/admin/keys"), token=secret)[0] == 401

    page.goto(site.url("/console/audit/?action=key"))
    assert page.locator("tr[data-action='key.revoke']:has-text('operator@example.com')").count() >= 1


def test_audit_log_filters_and_pages(operator_page: Any, site: Site) -> None:
    collection = f"audited{uuid.uuid4().hex[:6]}"
    site.server.rest("POST", "/v1/db/collections", {"name": collection})
    for n in range(3):
        site.server.rest("PATCH", f"/v1/db/collections/{collection}", {"rules": {"read": f"{n} == {n}"}})
    page = operator_page
    page.goto(site.url("/console/audit/"))
    page.get_by_label("Target").fill(f"collection:{collection}")
    page.get_by_label("Action").fill("collection.rules")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 3
    first = rows.first
    first.get_by_text("Show the change").click()
    assert '"read": "1 == 1"' in first.locator("pre").first.inner_text()
    assert '"read": "2 == 2"' in first.locator("pre").nth(1).inner_text()
    assert "service:" in first.inner_text()  # the service key that made it


def test_totp_enrolment_then_sign_in_asks_for_the_code(browser: Any, site: Site, page_problems: list) -> None:
    email = new_operator(site)
    page = new_page(browser, page_problems, expected_console_errors=("status of 401",))
    sign_in(page, site, email, PASSWORD)
    page.wait_for_url(site.url("/console/"))
    page.get_by_role("link", name="Two-factor").click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = page.locator("#totp-secret").inner_text()
    assert page.locator("#totp-uri").inner_text().startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code").fill(totp.now())
    page.get_by_role("button", name="Confirm and turn on").click()
    page.get_by_text("Two-factor sign-in is on").wait_for()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, site, email, PASSWORD)
    page.get_by_label("Code").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    assert "code is wrong" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code").fill(totp.at(time.time() + 30))  # the next step's: the enrolment used this one
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(site.url("/console/"))
    assert page.get_by_text(email).is_visible()


def test_console_sign_in_locks_out_after_repeated_failures(browser: Any, site: Site, page_problems: list) -> None:
    email = new_operator(site)
    page = new_page(browser, page_problems, expected_console_errors=("status of 401", "status of 429"))
    for _ in range(5):  # AUTH_LOCKOUT_ADDRESS_THRESHOLD
        sign_in(page, site, email, "not the password")
        assert page.get_by_role("alert").inner_text() == "The email or password is wrong."
    sign_in(page, site, email, PASSWORD)  # the right password, too late
    assert "Too many failed sign-ins" in page.get_by_role("alert").inner_text()
    assert "/console/sign-in" in page.url


def test_users_and_audit_pages_fit_a_phone(browser: Any, site: Site, page_problems: list) -> None:
    page = new_page(browser, page_problems, viewport=NARROW)
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    for path in ("/console/", "/console/users/", "/console/keys/", "/console/audit/"):
        page.goto(site.url(path))
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"], path
