"""Per-request bookkeeping kept cheap: request ids and the HTTP metrics (baas/middleware.py,
baas/metrics.py). Each answer still carries its id and is still counted and timed."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from baas.middleware import new_request_id


def test_a_new_request_id_is_the_hex_of_a_random_uuid4():
    seen = set()
    for _ in range(2000):
        request_id = new_request_id()
        parsed = uuid.UUID(hex=request_id)
        assert parsed.hex == request_id  # 32 lowercase hex digits, as uuid4().hex
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(request_id)
    assert len(seen) == 2000


def test_an_answer_without_an_incoming_id_carries_a_uuid4_id():
    request_id = Client().get("/v1/health")["X-Request-Id"]
    assert uuid.UUID(hex=request_id).version == 4


def test_the_incoming_id_is_read_whatever_the_header_case():
    # A WSGI server hands every spelling of the header over as HTTP_X_REQUEST_ID.
    assert Client().get("/v1/health", headers={"x-request-id": "trace-1"})["X-Request-Id"] == "trace-1"
    assert Client().get("/v1/health", headers={"X-REQUEST-ID": "trace-2"})["X-Request-Id"] == "trace-2"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_every_request_is_counted_and_timed_each_time():
    labels = {"method": "GET", "route": "/v1/health"}
    counted = _sample("baas_http_requests_total", **labels, status="200")
    timed = _sample("baas_http_request_duration_seconds_count", **labels)
    missing = _sample("baas_http_requests_total", method="GET", route="unmatched", status="404")
    client = Client()
    for _ in range(3):
        client.get("/v1/health")
    client.get("/v1/no/such/route")
    client.get("/v1/no/such/route")
    assert _sample("baas_http_requests_total", **labels, status="200") == counted + 3
    assert _sample("baas_http_request_duration_seconds_count", **labels) == timed + 3
    assert _sample("baas_http_requests_total", method="GET", route="unmatched", status="404") == missing + 2


@pytest.mark.django_db
def test_answers_of_one_route_are_counted_by_their_own_status(api, service_api):
    route = {"method": "GET", "route": "/v1/db/collections"}
    refused = _sample("baas_http_requests_total", **route, status="401")
    served = _sample("baas_http_requests_total", **route, status="200")
    assert api.get("/v1/db/collections", HTTP_AUTHORIZATION="Bearer baas_sk_unknown").status_code == 401
    assert service_api.get("/v1/db/collections").status_code == 200
    assert service_api.get("/v1/db/collections").status_code == 200
    assert _sample("baas_http_requests_total", **route, status="401") == refused + 1
    assert _sample("baas_http_requests_total", **route, status="200") == served + 2
