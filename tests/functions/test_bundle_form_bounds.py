"""The multipart bundle upload reads only its config fields before the bundle, a few KiB, and
refuses a body larger than any bundle unread (issue 23, item 1)."""

from __future__ import annotations

from tests.storage.test_upload_form_bounds import field, file_part, issue_body, post


def test_unknown_fields_before_the_bundle_are_400_after_reading_little(service_api):
    pieces, length = issue_body()
    response, consumed = post(service_api, "/v1/functions", pieces, min(length, 4 * 1024 * 1024))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["field"] == "f"
    assert consumed < 256 * 1024


def test_config_beyond_the_budget_is_413(service_api):
    body = field("config", b"{" * (5 * 1024 * 1024)) + file_part(b"PK", name="bundle")
    pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
    response, consumed = post(service_api, "/v1/functions", pieces, len(body))
    assert response.status_code == 413
    assert consumed < 256 * 1024


def test_a_declared_length_beyond_any_bundle_is_413_unread(service_api, settings):
    settings.FUNCTIONS_BUNDLE_MAX_BYTES = 1024 * 1024
    pieces, _ = issue_body()
    response, consumed = post(service_api, "/v1/functions", pieces, 5 * 1024 * 1024)
    assert response.status_code == 413
    assert consumed == 0


def test_anonymous_is_refused_unread(api, db):
    pieces, _ = issue_body()
    response, consumed = post(api, "/v1/functions", pieces, 5 * 1024 * 1024)
    assert response.status_code in (401, 403)
    assert consumed == 0


def test_a_bundle_part_under_another_name_is_400(service_api):
    body = field("name", b"f") + file_part(b"PK", name="code")
    response, _ = post(service_api, "/v1/functions", iter([body]), len(body))
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "code"
