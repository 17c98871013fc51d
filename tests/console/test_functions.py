"""The Functions page, driven in chromium against real deployments (bubblewrap sandbox): deploy a
bundle, invoke with a payload, roll back, invocations by status with logs and traceback, retry a
dead one, live logs."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from typing import Any

import pytest

from tests.console.conftest import NARROW, Site, new_page, sign_in
from tests.console.ops import PAGE_BYTES_BUDGET, fits_a_phone, load_figures

pytestmark = pytest.mark.slow

DOUBLER = """
from baas_runtime import on_http

@on_http
def double(event, ctx):
    print("doubling", event["payload"]["n"])
    return {"doubled": event["payload"]["n"] * FACTOR, "version": ctx.version}

FACTOR = %d
"""

FAILING_JOB = """
from baas_runtime import on_document_created

@on_document_created("%s")
def work(event, ctx):
    print("working on", event["id"] if "id" in event else "a job")
    raise RuntimeError("the job broke")
"""

FIXED_JOB = """
from baas_runtime import on_document_created

@on_document_created("%s")
def work(event, ctx):
    print("fixed")
    return {"ok": True}
"""


def function_name() -> str:
    return f"f{uuid.uuid4().hex[:10]}"


def bundle(source: str) -> bytes:
    """A zip bundle with the function's main.py, inside a folder (the server strips it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("project/main.py", source)
    return buffer.getvalue()


def deploy_in_the_page(page: Any, name: str, source: str) -> None:
    page.get_by_label("Function name").fill(name)
    page.get_by_label("Bundle", exact=True).set_input_files(
        {"name": "bundle.zip", "mimeType": "application/zip", "buffer": bundle(source)}
    )
    page.get_by_role("button", name="Deploy", exact=True).click()


def settled(site: Site, name: str, status: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = site.server.rest("GET", f"/v1/functions/{name}/invocations?status={status}")["items"]
        if rows:
            return rows
        time.sleep(0.3)
    raise AssertionError(f"no {status} invocation of {name}")


def test_deploy_invoke_roll_back_and_live_logs(operator_page: Any, site: Site) -> None:
    page, name = operator_page, function_name()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Functions").click()
    deploy_in_the_page(page, name, DOUBLER % 2)
    page.wait_for_url(site.url(f"/console/functions/f/{name}/"), timeout=60_000)
    page.get_by_text(f"Deployed {name} version 1.").wait_for()
    # The runtime, on the function and on each version ("python" also from a server without it).
    assert page.locator("#function-runtime").inner_text().split() == ["Runtime", "python"]
    version_row = page.get_by_role("row").filter(has=page.get_by_text("active", exact=True))
    assert version_row.locator("td.runtime").inner_text() == "python"

    page.get_by_label("Payload (JSON)").fill('{"n": 21}')
    page.get_by_role("button", name="Invoke", exact=True).click()
    result = page.locator("#invoke-result")
    result.wait_for(timeout=60_000)
    assert json.loads(result.inner_text()) == {"doubled": 42, "version": 1}
    assert "doubling 21" in page.locator("#invoke-outcome").inner_text()

    # A second version from the same page, then back to the first.
    deploy_in_the_page(page, name, DOUBLER % 3)
    page.get_by_text(f"Deployed {name} version 2.").wait_for(timeout=60_000)
    page.get_by_label("Payload (JSON)").fill('{"n": 21}')
    page.get_by_role("button", name="Invoke", exact=True).click()
    page.get_by_text('"doubled": 63').wait_for(timeout=60_000)

    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Roll back to 1").click()
    page.get_by_text(f"{name} now runs version 1.").wait_for()
    assert questions == [f"Make version 1 of {name} the active one?"]
    assert site.server.rest("GET", f"/v1/functions/{name}")["version"] == 1

    # Live logs: the page polls; an invocation made elsewhere shows up without a reload.
    site.server.rest("POST", f"/v1/functions/{name}/invoke", {"payload": {"n": 5}})
    page.locator("#live-logs").get_by_text("doubling 5").wait_for(timeout=15_000)

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Functions").click()
    listed = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    assert listed.locator("td.runtime").inner_text() == "python"


def test_a_bad_payload_and_a_failing_deploy_are_shown(browser: Any, site: Site, page_problems: list) -> None:
    name = function_name()
    site.server.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": DOUBLER % 2}})
    page = new_page(browser, page_problems, expected_console_errors=("status of 400",))
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    page.goto(site.url(f"/console/functions/f/{name}/"))
    page.get_by_label("Payload (JSON)").fill('{"n": ')
    page.get_by_role("button", name="Invoke", exact=True).click()
    page.get_by_role("alert").get_by_text("The payload is not acceptable JSON", exact=False).wait_for()

    deploy_in_the_page(page, name, "import nothing_of_that_name\n")
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=60_000)
    assert "The function failed to load" in alert.inner_text()
    assert "ModuleNotFoundError" in page.locator("pre.logs").first.inner_text()
    assert site.server.rest("GET", f"/v1/functions/{name}")["version"] == 1  # unchanged
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()


def test_a_dead_invocation_shows_its_traceback_and_is_retried(operator_page: Any, site: Site) -> None:
    page, name, collection = operator_page, function_name(), f"jobs{uuid.uuid4().hex[:6]}"
    config = {"max_retries": 0, "permissions": [f"db:read:{collection}"]}
    site.server.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": FAILING_JOB % collection}, **config})
    site.server.rest("POST", "/v1/db/collections", {"name": collection})
    site.server.rest("POST", f"/v1/db/{collection}", {"id": "j1", "data": {}})
    (dead,) = settled(site, name, "dead")

    page.goto(site.url(f"/console/functions/f/{name}/"))
    page.get_by_label("Status").select_option("succeeded")
    page.get_by_text("No succeeded invocations.").wait_for()
    page.get_by_label("Status").select_option("dead")
    table = page.locator("#invocations")
    table.get_by_role("cell", name="dead").wait_for()
    table.get_by_role("link", name=dead["id"][:8]).click()
    page.wait_for_url(re.compile(rf"/console/functions/invocations/{dead['id']}/"))
    assert "RuntimeError: the job broke" in page.locator("#traceback").inner_text()
    assert "working on" in page.locator("#logs").inner_text()

    site.server.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": FIXED_JOB % collection}, **config})
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retry").click()
    page.get_by_text("The invocation is queued again.").wait_for()
    deadline = time.monotonic() + 60
    while page.locator("#invocation-status-value").inner_text() != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    assert page.locator("#invocation-status-value").inner_text() == "succeeded"
    assert "fixed" in page.locator("#logs").inner_text()


def test_forms_need_the_csrf_token_even_with_a_session(operator_page: Any, site: Site) -> None:
    name = function_name()
    site.server.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": DOUBLER % 2}})
    for path, form in (
        ("/console/functions/deploy", {"name": name}),
        (f"/console/functions/f/{name}/invoke", {"payload": "{}"}),
        (f"/console/functions/f/{name}/rollback", {"version": "1"}),
        (f"/console/functions/invocations/{uuid.uuid4()}/retry", {}),
    ):
        assert operator_page.request.post(site.url(path), form=form).status == 403, path
    assert site.server.rest("GET", f"/v1/functions/{name}/invocations")["items"] == []


def test_the_pages_work_on_a_phone_and_stay_light(browser: Any, site: Site, page_problems: list) -> None:
    name = function_name()
    site.server.rest("POST", "/v1/functions", {"name": name, "files": {"main.py": DOUBLER % 2}})
    site.server.rest("POST", f"/v1/functions/{name}/invoke", {"payload": {"n": 1}})
    page = new_page(browser, page_problems, viewport=NARROW)
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    for path in ("/console/functions/", f"/console/functions/f/{name}/"):
        page.goto(site.url(path))
        page.wait_for_load_state("load")
        figures = load_figures(page)
        print(f"\n{path}: first paint {figures['first_paint_ms']} ms, {figures['bytes']} bytes")
        assert 0 < figures["bytes"] <= PAGE_BYTES_BUDGET
        assert fits_a_phone(page), path
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()
