"""The example web app, built SDK, chromium, another origin: sign up, a live list, an upload with a
progress bar — and a page on an origin the API does not list cannot call it at all."""

from __future__ import annotations

import uuid

import pytest

from tests.browser import watched
from tests.platform.processes import http

pytestmark = pytest.mark.slow

PASSWORD = "a fine long passphrase"
UPLOAD_SIZE = 3 * 1024 * 1024 + 17


def app_url(origin: str, api) -> str:  # type: ignore[no-untyped-def]
    return f"{origin}/examples/web-app/?api={api.base}"


def sign_up(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-up-button")


def note(api, text: str) -> str:  # type: ignore[no-untyped-def]
    return api.rest("POST", "/v1/db/notes", {"data": {"text": text}})["id"]


def test_sign_up_live_list_and_upload_with_progress(browser, api, origins):
    page = browser.new_page()
    problems = watched(page)
    before = note(api, "written before the page opened")
    page.goto(app_url(origins.allowed, api))
    page.evaluate("window.loadedOnce = true")  # gone if anything reloads the page

    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    sign_up(page, email)
    page.wait_for_selector("#who[data-state=signed-in]", timeout=15_000)
    assert email in page.text_content("#who")

    # The subscription's snapshot shows what exists; what is written afterwards arrives live.
    page.wait_for_selector(f'#notes li[data-id="{before}"]', timeout=15_000)
    live = note(api, "written through the API while the page is open")
    page.wait_for_selector(f'#notes li[data-id="{live}"]', timeout=10_000)
    assert page.text_content(f'#notes li[data-id="{live}"]') == "written through the API while the page is open"
    page.fill("#note-text", "written on the page")
    page.click("#new-note button")
    page.wait_for_function(
        "[...document.querySelectorAll('#notes li')].some(li => li.textContent === 'written on the page')"
    )
    assert page.evaluate("window.loadedOnce") is True
    assert page.get_attribute("#realtime", "data-state") == "live"

    data = bytes(range(256)) * (UPLOAD_SIZE // 256) + b"x" * (UPLOAD_SIZE % 256)
    page.set_input_files("#file", {"name": "photo.bin", "mimeType": "application/octet-stream", "buffer": data})
    page.click("#upload-button")
    page.wait_for_selector("#upload-result[data-path]", timeout=30_000)
    progress = page.evaluate("window.example.progress")
    loaded = [p["loaded"] for p in progress]
    assert loaded == sorted(loaded) and len(set(loaded)) == len(loaded), "progress only grows"
    assert loaded[-1] == UPLOAD_SIZE and all(p["total"] == UPLOAD_SIZE for p in progress)
    assert page.get_attribute("#progress", "value") == "100"
    assert page.text_content("#progress-label") == "100 %"
    path = page.get_attribute("#upload-result", "data-path")
    listed = api.rest("GET", "/v1/storage/objects/uploads")["items"]
    assert [(o["path"], o["size"]) for o in listed if o["path"] == path] == [(path, UPLOAD_SIZE)]

    # The websocket takes this origin too (the Origin check uses the same list).
    assert websocket_outcome(page, api) == "open"
    problems.assert_clean()
    page.close()


def test_a_page_on_an_origin_not_listed_cannot_call_the_api(browser, api, origins):
    page = browser.new_page()
    # Chromium logs each refused request; that refusal is what this test provokes.
    problems = watched(page, expected_console_errors=("CORS policy", "Failed to load resource", "WebSocket"))
    page.goto(app_url(origins.other, api))
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    sign_up(page, email)
    page.wait_for_selector("#error[data-code]", timeout=30_000)
    assert page.get_attribute("#error", "data-code") == "network_error"
    assert page.get_attribute("#who", "data-state") == "signed-out"
    # The browser sent the preflight only: no account was made, so the address is still free.
    status, answer = http("POST", f"{api.base}/v1/auth/signup", body={"email": email, "password": PASSWORD})
    assert status == 201, answer
    assert websocket_outcome(page, api) == "refused"
    problems.assert_clean()
    page.close()


def websocket_outcome(page, api) -> str:  # type: ignore[no-untyped-def]
    """Open the realtime websocket from the page with a service key: "open" or "refused"."""
    url = api.ws + "?token=" + api.key
    return page.evaluate(
        """url => new Promise(done => {
            const ws = new WebSocket(url)
            ws.onopen = () => { done('open'); ws.close() }
            ws.onclose = () => done('refused')
        })""",
        url,
    )
