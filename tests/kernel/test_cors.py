"""Browsers on other origins: CORS headers, preflights on every /v1/ path, and production's refusal of "*"."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from documents import services as documents
from tests.platform.test_production_settings import GOOD, run_check

APP = "http://localhost:5173"
FOREIGN = "https://evil.example"

PATHS = [
    "/v1/db/notes",  # a collection (lean path for bearer callers)
    "/v1/db/notes/some-id",  # a document: needs credentials
    "/v1/db/batch",
    "/v1/auth/signup",
    "/v1/auth/user",  # needs credentials
    "/v1/functions/hello/invoke",  # the invoke path, routed apart by baas.asgi
    "/v1/storage/objects/photos/a/b.png",
]


def preflight(client: APIClient, path: str, origin: str = APP, method: str = "POST"):  # type: ignore[no-untyped-def]
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_a_preflight_from_an_allowed_origin_is_answered_on_every_path(path):
    response = preflight(APIClient(), path)
    assert response.status_code in (200, 204)
    assert response["Access-Control-Allow-Origin"] == APP
    allowed_headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "range",
        "idempotency-key",
        "x-baas-metadata",
    } <= allowed_headers
    assert {"POST", "PUT", "PATCH", "DELETE", "GET"} <= {
        m.strip() for m in response["Access-Control-Allow-Methods"].split(",")
    }
    assert int(response["Access-Control-Max-Age"]) > 0
    assert response.content == b""
    assert response["X-Request-Id"]


@pytest.mark.django_db
def test_a_preflight_with_a_body_and_bad_credentials_is_still_answered():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = client.generic(
        "OPTIONS",
        "/v1/db/notes/x",
        b"{not json",
        content_type="application/json",
        HTTP_ORIGIN=APP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT",
    )
    assert response.status_code in (200, 204)
    assert response["Access-Control-Allow-Origin"] == APP


@pytest.mark.django_db
def test_preflights_are_not_counted_against_rate_limits(settings):
    # More preflights than signups an address may make in an hour (20): the real signup still passes.
    for _ in range(30):
        response = preflight(APIClient(), "/v1/auth/signup")
        assert response.status_code in (200, 204)
    body = {"email": "dora@example.com", "password": "correct horse battery"}
    assert APIClient().post("/v1/auth/signup", body, format="json", HTTP_ORIGIN=APP).status_code == 201


@pytest.mark.django_db
def test_a_foreign_origin_gets_no_cors_headers():
    response = preflight(APIClient(), "/v1/db/notes", origin=FOREIGN)
    assert "Access-Control-Allow-Origin" not in response
    response = APIClient().get("/v1/health", HTTP_ORIGIN=FOREIGN)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("origin", ["http://127.0.0.1:8080", "http://[::1]:3000", "https://localhost"])
def test_dev_allows_loopback_origins_on_any_port(origin):
    response = APIClient().get("/v1/health", HTTP_ORIGIN=origin)
    assert response["Access-Control-Allow-Origin"] == origin


@pytest.mark.django_db
def test_lookalike_loopback_origins_are_not_allowed():
    for origin in ("http://localhost.evil.example", "http://127.0.0.1.nip.io", "http://evil.example/localhost"):
        response = APIClient().get("/v1/health", HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in response, origin


def test_answers_expose_the_headers_clients_read(service_api):
    documents.create_collection(name="notes", rules={"read": "true", "create": "true"})
    created = service_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1}}, format="json", HTTP_ORIGIN=APP)
    assert created.status_code == 201
    assert created["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip().lower() for h in created["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "x-request-id", "retry-after", "content-range", "content-length", "accept-ranges"} <= exposed
    # Errors too: a browser app must be able to read the error body and its request id.
    missing = service_api.get("/v1/db/notes/nope", HTTP_ORIGIN=APP)
    assert missing.status_code == 404 and missing["Access-Control-Allow-Origin"] == APP
    refused = APIClient().get("/v1/auth/user", HTTP_ORIGIN=APP)
    assert refused.status_code == 401 and refused["Access-Control-Allow-Origin"] == APP


@pytest.mark.django_db
def test_a_configured_list_replaces_the_dev_default(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    settings.CORS_ALLOWED_ORIGIN_REGEXES = []
    assert APIClient().get("/v1/health", HTTP_ORIGIN="https://app.example.com")["Access-Control-Allow-Origin"]
    assert "Access-Control-Allow-Origin" not in APIClient().get("/v1/health", HTTP_ORIGIN=APP)


# --- production start-up -------------------------------------------------------------------------


@pytest.mark.slow  # starts a `baas check` process
def test_production_refuses_a_wildcard_origin(tmp_path):
    result = run_check(tmp_path, **GOOD, CORS_ALLOWED_ORIGINS="*")
    assert result.returncode != 0
    assert "CORS_ALLOWED_ORIGINS" in result.stderr and "CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION" in result.stderr


@pytest.mark.slow  # starts a `baas check` process
def test_production_takes_a_wildcard_when_told_explicitly(tmp_path):
    result = run_check(tmp_path, **GOOD, CORS_ALLOWED_ORIGINS="*", CORS_ALLOW_ANY_ORIGIN_IN_PRODUCTION="true")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # starts a `baas check` process
def test_a_malformed_origin_is_refused_at_start(tmp_path):
    result = run_check(tmp_path, CORS_ALLOWED_ORIGINS="https://app.example.com/path")
    assert result.returncode != 0
    assert "CORS_ALLOWED_ORIGINS" in result.stderr


@pytest.mark.django_db
def test_answers_without_origin_still_vary_on_it():
    # A cache in front must not hand a browser an answer made for a call without Origin (or the reverse).
    response = APIClient().get("/v1/health")
    assert "origin" in response["Vary"].lower()
    assert "Access-Control-Allow-Origin" not in response
