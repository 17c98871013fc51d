"""`/v1/health`, `/v1/ready`, `/metrics`, `/v1/schema`, `/v1/docs` in process."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client


def test_health_answers_ok():
    response = Client().get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "sandbox": "bubblewrap"}


@pytest.mark.django_db
def test_ready_answers_ok_with_its_checks():
    response = Client().get("/v1/ready")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    # On the production stack Redis is checked as well.
    assert ("redis" in checks) == bool(settings.REDIS_URL)


@pytest.mark.django_db
def test_metrics_count_requests_by_route_and_status():
    client = Client()
    client.get("/v1/health")
    client.get("/v1/no/such/route")
    text = client.get("/metrics").content.decode()
    assert re.search(r'baas_http_requests_total\{method="GET",route="/v1/health",status="200"\} \d', text)
    assert re.search(r'baas_http_requests_total\{method="GET",route="unmatched",status="404"\} \d', text)
    assert 'baas_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/health"}' in text


@pytest.mark.django_db
def test_schema_is_openapi_3_and_documents_the_error_free_paths():
    response = Client().get("/v1/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/v1/health" in schema["paths"]
    assert "/v1/admin/keys" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_and_its_assets_are_served_locally():
    client = Client()
    page = client.get("/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, "the docs page must load its assets from this server"
    assert not re.search(r'(?:src|href)="https?://', html), "no asset may come from the internet"
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(content) > 100, asset
