"""`/v1/schema` describes every operation well enough to generate a client from it: each success
answer with a body has a named schema, each error answer the error envelope, each write its request
body, and the generator reports nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

ERROR_REF = {"$ref": "#/components/schemas/Error"}
BODILESS = {"204", "304"}
# Writes that take no body: the path says everything.
NO_BODY = {
    ("post", "/v1/admin/users/{user_id}/logout"),
    ("post", "/v1/auth/anonymous"),
    ("post", "/v1/auth/verify/request"),
    ("post", "/v1/invocations/{invocation_id}/retry"),
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return Client().get("/v1/schema").json()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_the_generator_has_no_warning_or_error() -> None:
    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    assert [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache] == []


def test_every_success_body_has_a_named_or_typed_schema(schema: dict[str, Any]) -> None:
    vague = []
    for method, path, op in operations(schema):
        for status, response in op["responses"].items():
            if not status.startswith("2") or status in BODILESS:
                continue
            for media, content in response.get("content", {"": {}}).items():
                body = content.get("schema", {})
                if "$ref" not in body and body.get("format") != "binary" and not body.get("properties"):
                    vague.append(f"{method.upper()} {path} {status} {media}")
    assert vague == []


def test_every_error_answer_is_the_error_envelope(schema: dict[str, Any]) -> None:
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    wrong = []
    for method, path, op in operations(schema):
        responses = op["responses"]
        if "default" not in responses:
            wrong.append(f"{method.upper()} {path}: no default")
        for status, response in responses.items():
            is_error = status == "default" or status[0] in "45"
            if is_error and response.get("content", {}).get("application/json", {}).get("schema") != ERROR_REF:
                wrong.append(f"{method.upper()} {path} {status}")
    assert wrong == []


def test_every_write_declares_its_request_body(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, op in operations(schema)
        if method in ("post", "put", "patch") and (method, path) not in NO_BODY and "requestBody" not in op
    ]
    assert missing == []


def test_operation_ids_are_unique_and_unnumbered(schema: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i[-1].isdigit()] == []


def test_every_write_declares_the_idempotency_key_and_its_errors(schema: dict[str, Any]) -> None:
    """SDKs and generated clients send `Idempotency-Key` on writes; the contract must say they may."""
    undeclared = []
    for method, path, op in operations(schema):
        if method not in ("post", "put", "patch", "delete"):
            continue
        headers = {p["name"] for p in op.get("parameters", []) if p.get("in") == "header"}
        errors = {status for status in op["responses"] if status in ("409", "422")}
        if "Idempotency-Key" not in headers or errors != {"409", "422"}:
            undeclared.append(f"{method.upper()} {path}")
    assert undeclared == []
    reads = [op for method, _, op in operations(schema) if method == "get"]
    assert not any(p.get("name") == "Idempotency-Key" for op in reads for p in op.get("parameters", []))
