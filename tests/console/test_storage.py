"""The Storage page, driven in chromium: buckets (create, limits and rules, delete), browsing by
folder, upload with progress, image preview, signed links, deleting objects."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from typing import Any

import pytest

from tests.browser import wait_for_expression
from tests.console.conftest import NARROW, Site, new_page, sign_in
from tests.console.ops import PAGE_BYTES_BUDGET, fits_a_phone, load_figures, put_object, tiny_png
from tests.platform.processes import http

pytestmark = pytest.mark.slow


def bucket_name() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


def accept_confirmations(page: Any, questions: list[str]) -> None:
    def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)


def test_an_operator_creates_edits_and_deletes_a_bucket(operator_page: Any, site: Site) -> None:
    page, name = operator_page, bucket_name()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Storage").click()
    page.get_by_label("Bucket name").fill(name)
    page.get_by_label("Max size (bytes, empty: the server's limit)").fill("5000")
    page.get_by_label("Allowed types").fill("image/*, text/plain")
    page.get_by_label("Read rule").fill("auth != null")
    page.get_by_role("button", name="Create bucket").click()
    page.wait_for_url(site.url(f"/console/storage/b/{name}/"))
    assert page.get_by_role("heading", level=1).inner_text() == name
    stored = site.server.rest("GET", f"/v1/storage/buckets/{name}")
    assert stored["max_size"] == 5000 and stored["allowed_types"] == ["image/*", "text/plain"]
    assert stored["rules"]["read"] == "auth != null" and stored["rules"]["create"] is None

    page.get_by_label("Max size (bytes, empty: the server's limit)").fill("9000")
    page.get_by_label("Create rule").fill("auth != null")
    page.get_by_label("Public (anyone may read its objects)").check()
    page.get_by_role("button", name="Save bucket").click()
    page.get_by_text(f"Bucket {name} saved.").wait_for()
    stored = site.server.rest("GET", f"/v1/storage/buckets/{name}")
    assert stored["max_size"] == 9000 and stored["public"] is True
    assert stored["rules"]["create"] == "auth != null" and stored["rules"]["read"] == "auth != null"

    questions: list[str] = []
    accept_confirmations(page, questions)
    page.get_by_role("button", name="Delete bucket").click()
    page.wait_for_url(site.url("/console/storage/"))
    assert questions == [f"Delete bucket {name}?"]
    assert http("GET", site.url(f"/v1/storage/buckets/{name}"), token=site.server.key)[0] == 404
    assert page.get_by_role("link", name=name).count() == 0


def test_a_rule_that_does_not_parse_is_refused_and_changes_nothing(
    browser: Any, site: Site, page_problems: list
) -> None:
    name = bucket_name()
    site.server.rest("POST", "/v1/storage/buckets", {"name": name, "max_size": 5000})
    page = new_page(browser, page_problems, expected_console_errors=("status of 400",))
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    page.goto(site.url(f"/console/storage/b/{name}/"))
    page.get_by_label("Max size (bytes, empty: the server's limit)").fill("9000")
    page.get_by_label("Create rule").fill("auth.id ==")
    page.get_by_role("button", name="Save bucket").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "The create rule is invalid: expected a value after '=='" in alert.inner_text()
    assert page.get_by_label("Create rule").input_value() == "auth.id =="  # kept for correcting
    assert site.server.rest("GET", f"/v1/storage/buckets/{name}")["max_size"] == 5000
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()


def test_a_bucket_with_objects_is_not_deleted(operator_page: Any, site: Site) -> None:
    page, name = operator_page, bucket_name()
    site.server.rest("POST", "/v1/storage/buckets", {"name": name})
    put_object(site, name, "keep.txt", b"still here")
    page.goto(site.url(f"/console/storage/b/{name}/"))
    accept_confirmations(page, [])
    page.get_by_role("button", name="Delete bucket").click()
    page.get_by_text("still holds objects", exact=False).first.wait_for()
    assert site.server.rest("GET", f"/v1/storage/buckets/{name}")["name"] == name


def test_browse_upload_preview_sign_and_delete(operator_page: Any, site: Site) -> None:
    page, name = operator_page, bucket_name()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    site.server.rest("POST", "/v1/storage/buckets", {"name": name})
    put_object(site, name, "top.txt", b"top")
    put_object(site, name, "docs/readme.txt", b"read me")
    put_object(site, name, "docs/deep/note.txt", b"deep")
    page.goto(site.url(f"/console/storage/b/{name}/"))
    objects = page.locator("table.objects")
    assert objects.get_by_role("link", name="docs/").is_visible()
    assert objects.get_by_text("top.txt").is_visible()
    assert objects.get_by_text("readme.txt").count() == 0  # inside the folder, not at the top
    objects.get_by_role("link", name="docs/").click()
    page.wait_for_url(re.compile(r"prefix=docs(/|%2F)$"))
    assert objects.get_by_text("readme.txt").is_visible()
    assert objects.get_by_role("link", name="deep/").is_visible()
    assert objects.get_by_text("top.txt").count() == 0

    # Upload into this folder, with a progress bar that ends full.
    image = tiny_png()
    page.get_by_label("File to upload").set_input_files({"name": "red.png", "mimeType": "image/png", "buffer": image})
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploaded docs/red.png.").first.wait_for()
    page.get_by_role("cell", name="red.png").wait_for()
    assert (
        urllib.request.urlopen(
            urllib.request.Request(
                site.url(f"/v1/storage/objects/{name}/docs/red.png"),
                headers={"Authorization": f"Bearer {site.server.key}"},
            )
        ).read()
        == image
    )

    # Preview: the image is drawn from the console's own address.
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("img", name="Preview of docs/red.png")
    preview.wait_for()
    wait_for_expression(page, "document.getElementById('preview-image').complete")
    assert preview.evaluate("img => img.naturalWidth") == 3
    page.get_by_role("button", name="Close preview").click()

    # A signed link, shown and copied, that works without credentials.
    row = page.get_by_role("row").filter(has_text="readme.txt")
    row.get_by_role("button", name="Signed link").click()
    link = page.get_by_label("Signed link to docs/readme.txt (valid 60 minutes)")
    link.wait_for()
    url = link.input_value()
    assert url.startswith(site.url("/v1/storage/objects/")) and "signature=" in url
    page.get_by_role("button", name="Copy link").click()
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == url
    assert urllib.request.urlopen(url).read() == b"read me"

    questions: list[str] = []
    accept_confirmations(page, questions)
    row.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_text("Deleted docs/readme.txt.").wait_for()
    assert questions == ["Delete docs/readme.txt?"]
    assert http("GET", site.url(f"/v1/storage/objects/{name}/docs/readme.txt"), token=site.server.key)[0] == 404
    assert re.search(r"prefix=docs(/|%2F)$", page.url)  # still in the folder


def test_a_refused_upload_says_why_and_stores_nothing(browser: Any, site: Site, page_problems: list) -> None:
    name = bucket_name()
    site.server.rest("POST", "/v1/storage/buckets", {"name": name, "allowed_types": ["image/*"]})
    page = new_page(browser, page_problems, expected_console_errors=("status of 415",))
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    page.goto(site.url(f"/console/storage/b/{name}/"))
    page.get_by_label("File to upload").set_input_files({"name": "a.txt", "mimeType": "text/plain", "buffer": b"hi"})
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Upload failed: This bucket does not accept text/plain.", exact=False).wait_for()
    assert http("GET", site.url(f"/v1/storage/objects/{name}/a.txt"), token=site.server.key)[0] == 404
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()


def test_a_large_upload_streams_through_the_console(operator_page: Any, site: Site) -> None:
    page, name = operator_page, bucket_name()
    site.server.rest("POST", "/v1/storage/buckets", {"name": name})
    size = 20 * 1024 * 1024
    data = bytes(range(256)) * (size // 256)
    page.goto(site.url(f"/console/storage/b/{name}/"))
    page.get_by_label("File to upload").set_input_files(
        {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": data}
    )
    # Watch the progress bar (kept across the reload that follows the upload).
    page.evaluate(
        """() => new MutationObserver(() => {
          const seen = JSON.parse(sessionStorage.getItem('seen') || '[]');
          seen.push(document.getElementById('upload-progress').value);
          sessionStorage.setItem('seen', JSON.stringify(seen));
        }).observe(document.getElementById('upload-progress'), {attributes: true})"""
    )
    started = time.monotonic()
    with page.expect_response(lambda response: "/console/storage/upload/" in response.url, timeout=120_000) as sent:
        page.get_by_role("button", name="Upload", exact=True).click()
    seconds = time.monotonic() - started
    assert sent.value.status == 201
    page.get_by_text("Uploaded big.bin.").first.wait_for()
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('seen') || '[]')")
    # The bar only moves forward and ends full. (How many steps it shows in between is the browser's
    # business: on an idle loopback chromium may send 20 MiB in one burst and report only 0 and 100.)
    assert seen and seen[-1] == 100 and seen == sorted(seen), seen
    print(f"\nconsole upload of 20 MiB: {seconds:.2f} s, {size / seconds / 1e6:.1f} MB/s")
    listed = site.server.rest("GET", f"/v1/storage/objects/{name}")
    assert [(item["path"], item["size"]) for item in listed["items"]] == [("big.bin", size)]


def test_forms_need_the_csrf_token_even_with_a_session(operator_page: Any, site: Site) -> None:
    name = bucket_name()
    site.server.rest("POST", "/v1/storage/buckets", {"name": name})
    for path, form in (
        ("/console/storage/create", {"name": bucket_name()}),
        (f"/console/storage/b/{name}/delete", {}),
        (f"/console/storage/b/{name}/settings", {"max_size": "1"}),
        (f"/console/storage/b/{name}/sign", {"path": "x"}),
    ):
        assert operator_page.request.post(site.url(path), form=form).status == 403, path
    upload = operator_page.request.post(site.url(f"/console/storage/upload/{name}?path=x.txt"), data=b"x")
    assert upload.status == 403
    assert site.server.rest("GET", f"/v1/storage/buckets/{name}")["max_size"] is None


def test_the_pages_work_on_a_phone_and_stay_light(browser: Any, site: Site, page_problems: list) -> None:
    name = bucket_name()
    site.server.rest("POST", "/v1/storage/buckets", {"name": name})
    put_object(site, name, "a/very/long/folder/name/that/goes/on/file-with-a-long-name.txt", b"x")
    put_object(site, name, "picture.png", tiny_png(), "image/png")
    page = new_page(browser, page_problems, viewport=NARROW)
    sign_in(page, site)
    page.wait_for_url(site.url("/console/"))
    for path in ("/console/storage/", f"/console/storage/b/{name}/"):
        page.goto(site.url(path))
        page.wait_for_load_state("load")
        figures = load_figures(page)
        print(f"\n{path}: first paint {figures['first_paint_ms']} ms, {figures['bytes']} bytes")
        assert 0 < figures["bytes"] <= PAGE_BYTES_BUDGET
        assert fits_a_phone(page), path
    page.get_by_label("File to upload").focus()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.context.close()
    for problems in page_problems:
        problems.assert_clean()
