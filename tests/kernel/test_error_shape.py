"""Every failure answers `{"error": {code, message, details}}` with the right status."""

from __future__ import annotations

import json

import pytest
from django.test import Client


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.django_db
def test_unknown_url_is_a_json_404():
    assert_error(Client().get("/v1/no/such/thing"), 404, "not_found")


@pytest.mark.django_db
def test_unknown_url_outside_the_api_is_a_json_404_too():
    assert_error(Client().get("/index.php"), 404, "not_found")


def test_wrong_method_is_405_with_allow_header():
    response = Client().post("/v1/health")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_wrong_method_on_a_plain_django_view_is_405():
    response = Client().post("/metrics")
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.django_db
def test_malformed_json_is_400_invalid_request_and_creates_nothing(service_api):
    from auth.models import ServiceKey

    before = ServiceKey.objects.count()
    response = service_api.generic("POST", "/v1/admin/keys", '{"name": "x",', content_type="application/json")
    error = assert_error(response, 400, "invalid_request")
    assert "JSON" in error["message"]
    assert ServiceKey.objects.count() == before


@pytest.mark.django_db
def test_wrong_content_type_is_415(service_api):
    response = service_api.generic("POST", "/v1/admin/keys", "name=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.django_db
def test_missing_and_wrong_typed_fields_are_400_validation_error_with_field_details(service_api):
    error = assert_error(service_api.post("/v1/admin/keys", {}, format="json"), 400, "validation_error")
    assert error["details"]["name"][0]["code"] == "required"
    error = assert_error(service_api.post("/v1/admin/keys", {"name": ["a"]}, format="json"), 400, "validation_error")
    assert "name" in error["details"]


@pytest.mark.django_db
def test_oversized_body_is_413_before_it_is_read(service_api, settings):
    settings.BAAS_MAX_BODY_BYTES = 2048
    body = json.dumps({"name": "x" * 4096})
    error = assert_error(
        service_api.generic("POST", "/v1/admin/keys", body, content_type="application/json"), 413, "too_large"
    )
    assert error["details"]["limit"] == 2048


@pytest.mark.urls("tests.kernel.urls_failing")
@pytest.mark.parametrize("path", ["/v1/crash/plain", "/v1/crash/api"])
def test_a_crash_is_a_json_500_without_internals(path, caplog):
    client = Client(raise_request_exception=False)
    response = client.get(path)
    error = assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["details"] == {}
    # The cause is in the log, for operators.
    assert "secret internal detail" in caplog.text


@pytest.mark.urls("tests.kernel.urls_failing")
def test_an_html_error_page_is_replaced_by_the_error_shape():
    assert_error(Client().get("/v1/crash/html"), 400, "invalid_request")


def test_every_response_carries_a_request_id():
    response = Client().get("/v1/health")
    assert len(response["X-Request-Id"]) == 32


def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced():
    assert Client().get("/v1/health", HTTP_X_REQUEST_ID="trace-abc.123")["X-Request-Id"] == "trace-abc.123"
    hostile = Client().get("/v1/health", HTTP_X_REQUEST_ID='a" onload=alert(1)')["X-Request-Id"]
    assert hostile != 'a" onload=alert(1)' and len(hostile) == 32
