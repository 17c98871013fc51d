"""The API answers as `/v1/schema` says: schemathesis generates requests for every REST operation,
as a service key and as a signed-up user, and checks each answer (no 5xx; status, content type,
body and headers declared by the schema).

Requests go to the WSGI application in process, inside the test's transaction, so they run on
whichever database the suite runs on. Examples are derandomized (the same run every time);
`BAAS_CONTRACT_EXAMPLES` sets how many per operation and persona. Half of them name things that
exist in their path, so success answers are checked too, not only 404s; the destructive admin
routes aim at a spare key and a spare user, never at the test's own credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from baas.wsgi import application
from tests.conftest import signup

# Every test's world deploys a function, which starts a sandbox (tests/process_level.py).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

schema = schemathesis.openapi.from_wsgi("/v1/schema", application)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

EXAMPLES = settings(
    # 25 per operation and persona keeps a pass near a minute on 2 cores; raise it for a deeper hunt.
    max_examples=int(os.environ.get("BAAS_CONTRACT_EXAMPLES", "25")),
    derandomize=True,
    deadline=None,
    database=None,
    # The schema's own examples (the explicit phase) cannot mix with `given(aim=…)`; the examples are
    # checked against their schemas by test_openapi_document.py instead.
    phases=[phase for phase in Phase if phase != Phase.explicit],
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


SIGNED_IN = "auth != null"
HELLO = """
from baas_runtime import on_http

@on_http
def hello(event, ctx):
    return {"echo": event["payload"]}
"""


@pytest.fixture
def user() -> dict[str, Any]:
    return signup(APIClient(), "contract@example.com")


@pytest.fixture
def world(service_key: str, user: dict[str, Any]) -> dict[str, str]:
    """Things that exist, so generated requests reach success answers as well as 404s: a collection
    and a bucket any signed-in user may use, a document and an object of the user, a function, a
    spare service key and a spare user (targets of the destructive admin routes)."""
    service, owner = APIClient(), APIClient()
    service.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {user['access']}")
    rules = dict.fromkeys(("read", "create", "update", "delete"), SIGNED_IN)

    def created(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201, 202), response.content
        return response.json()

    created(service.post("/v1/db/collections", {"name": "notes", "rules": rules}, format="json"))
    doc = created(owner.post("/v1/db/notes", {"data": {"title": "first", "n": 1}}, format="json"))
    created(service.post("/v1/storage/buckets", {"name": "files", "rules": rules}, format="json"))
    created(owner.put("/v1/storage/objects/files/hello.txt", data=b"hello", content_type="text/plain"))
    created(service.post("/v1/functions", {"name": "hello", "files": {"main.py": HELLO}}, format="json"))
    # Queued, never run: inside the test's transaction the message to the workers is never sent.
    invocation = created(service.post("/v1/functions/hello/invoke?async=true", {"payload": 1}, format="json"))
    spare_key = created(service.post("/v1/admin/keys", {"name": "spare"}, format="json"))
    spare_user = signup(APIClient(), "spare@example.com")["user"]
    return {
        "collection": "notes",
        "doc_id": doc["id"],
        "bucket": "files",
        "path": "hello.txt",
        "key_id": spare_key["id"],
        "invocation_id": invocation["invocation"]["id"],
        "user_id": spare_user["id"],
    }


def aimed(case: Any, world: dict[str, str], aim: bool) -> Any:
    """Half the examples name existing things in their path (the other half keep generated names)."""
    # A synchronous invoke (and a webhook's request) waits for a worker's commit, which never comes
    # inside the test's transaction.
    if aim and case.path_parameters and not case.path.endswith("/invoke") and "/http/" not in case.path:
        service = case.path.split("/")[2]
        names = dict(world, name={"db": "notes", "storage": "files", "functions": "hello"}.get(service, ""))
        for parameter in case.path_parameters:
            if parameter in names:
                case.path_parameters[parameter] = names[parameter]
    return case


@schema.parametrize()
@schema.given(aim=st.booleans())
@EXAMPLES
def test_as_service_key(case: Any, aim: bool, service_key: str, world: dict[str, str]) -> None:
    with connection_kept_between_requests():
        aimed(case, world, aim).call_and_validate(headers={"Authorization": f"Bearer {service_key}"}, checks=CHECKS)


@schema.parametrize()
@schema.given(aim=st.booleans())
@EXAMPLES
def test_as_user(case: Any, aim: bool, user: dict[str, Any], world: dict[str, str]) -> None:
    with connection_kept_between_requests():
        aimed(case, world, aim).call_and_validate(headers={"Authorization": f"Bearer {user['access']}"}, checks=CHECKS)
