"""The API answers as `/v1/schema` says: schemathesis generates requests for every REST operation,
as a service key and as a signed-up user, and checks each answer (no 5xx; status, content type,
body and headers declared by the schema)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from baas.wsgi import application
from tests.conftest import signup

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/v1/schema", application)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

EXAMPLES = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@contextmanager
def connection_kept_between_requests() -> Iterator[None]:
    """Django closes the database connection after each request; the test's transaction lives on it.
    Django's own test client disconnects the same handlers while it serves a request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def user_token() -> str:
    return signup(APIClient(), "contract@example.com")["access"]


@schema.parametrize()
@EXAMPLES
def test_as_service_key(case: Any, service_key: str) -> None:
    with connection_kept_between_requests():
        case.call_and_validate(headers={"Authorization": f"Bearer {service_key}"}, checks=CHECKS)


@schema.parametrize()
@EXAMPLES
def test_as_user(case: Any, user_token: str) -> None:
    with connection_kept_between_requests():
        case.call_and_validate(headers={"Authorization": f"Bearer {user_token}"}, checks=CHECKS)
