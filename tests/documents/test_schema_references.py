"""Collection schemas never make the server fetch anything: a `$ref` must point inside the schema.

A local HTTP server counts the requests it gets; it must stay at zero whatever the schema says.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from documents import validation
from documents.models import Collection

pytestmark = pytest.mark.django_db


class CountingServer:
    def __init__(self) -> None:
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                body = b'{"type": "string"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/schema+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def remote_forms(base: str) -> list[tuple[dict[str, Any], str]]:
    """Schemas with a reference outside themselves, and the JSON pointer of that reference."""
    return [
        ({"$ref": f"{base}/schema.json"}, "/$ref"),
        ({"properties": {"a": {"$ref": f"{base}/a.json#/x"}}}, "/properties/a/$ref"),
        ({"items": {"$ref": "https://127.0.0.1:1/s.json"}}, "/items/$ref"),
        ({"$ref": "file:///etc/passwd"}, "/$ref"),
        ({"$ref": "urn:example:not-here"}, "/$ref"),
        ({"$ref": "other.json"}, "/$ref"),
        ({"$ref": "https://json-schema.org/draft/2020-12/schema"}, "/$ref"),
        ({"allOf": [{"type": "object"}, {"$ref": f"{base}/b.json"}]}, "/allOf/1/$ref"),
        ({"$defs": {"a": {"$id": f"{base}/a", "$ref": f"{base}/b"}}}, "/$defs/a/$ref"),
        ({"$dynamicRef": f"{base}/d.json"}, "/$dynamicRef"),
    ]


def test_every_remote_reference_is_refused_at_save_and_nothing_is_fetched(service_api, counting_server):
    for schema, pointer in remote_forms(counting_server.url):
        response = service_api.post("/v1/db/collections", {"name": "posts", "schema": schema}, format="json")
        assert response.status_code == 400, (schema, response.content)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"]["schema"][0]["code"] == "remote_ref", schema
        assert error["details"]["schema"][0]["pointer"] == pointer
    service_api.post("/v1/db/collections", {"name": "posts"}, format="json")
    for schema, _ in remote_forms(counting_server.url):
        response = service_api.patch("/v1/db/collections/posts", {"schema": schema}, format="json")
        assert response.status_code == 400, (schema, response.content)
    assert service_api.get("/v1/db/collections/posts").json()["schema"] is None
    assert counting_server.hits == 0


def test_a_dangling_local_reference_is_refused_at_save(service_api):
    schema = {"properties": {"a": {"$ref": "#/$defs/missing"}}}
    response = service_api.post("/v1/db/collections", {"name": "posts", "schema": schema}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["schema"][0] == {
        "code": "unresolvable_ref",
        "message": "The reference '#/$defs/missing' points nowhere inside the schema.",
        "pointer": "/properties/a/$ref",
    }


LOCAL_SCHEMA = {
    "$id": "https://schemas.example/post",
    "type": "object",
    "$defs": {
        "title": {"type": "string", "maxLength": 5},
        "tag": {"$anchor": "tag", "type": "string", "enum": ["a", "b"]},
        "nested": {"$id": "https://schemas.example/nested", "$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"},
    },
    "properties": {
        "title": {"$ref": "#/$defs/title"},
        "tag": {"$ref": "#tag"},
        "count": {"$ref": "https://schemas.example/nested"},
        "self": {"$ref": "https://schemas.example/post#/$defs/title"},
        "example": {"const": {"$ref": "http://127.0.0.1:1/not-a-reference"}},
    },
    "required": ["title"],
}


def test_local_references_validate_documents(service_api, counting_server):
    created = service_api.post("/v1/db/collections", {"name": "posts", "schema": LOCAL_SCHEMA}, format="json")
    assert created.status_code == 201, created.content
    good = {"title": "hi", "tag": "a", "count": 3, "self": "ok"}
    assert service_api.post("/v1/db/posts", {"data": good}, format="json").status_code == 201
    for bad, pointer in [
        ({"title": "too long"}, "/title"),
        ({"title": "x", "tag": "c"}, "/tag"),
        ({"title": "x", "count": "3"}, "/count"),
        ({"title": "x", "self": 1}, "/self"),
        ({}, "/"),
    ]:
        response = service_api.post("/v1/db/posts", {"data": bad}, format="json")
        assert response.status_code == 400, bad
        assert [d["pointer"] for d in response.json()["error"]["details"]["data"]] == [pointer]
    assert counting_server.hits == 0


def test_a_remote_reference_saved_before_the_check_answers_400_without_fetching(service_api, counting_server):
    service_api.post("/v1/db/collections", {"name": "posts"}, format="json")
    Collection.objects.filter(name="posts").update(schema={"$ref": f"{counting_server.url}/s.json"})
    response = service_api.post("/v1/db/posts", {"data": {"a": 1}}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["schema"][0]["code"] == "remote_ref"
    assert counting_server.hits == 0


def test_the_validator_is_built_once_per_schema_not_per_write(service_api):
    validation._validator_for_text.cache_clear()
    service_api.post("/v1/db/collections", {"name": "posts", "schema": LOCAL_SCHEMA}, format="json")
    for n in range(5):
        assert service_api.post("/v1/db/posts", {"data": {"title": str(n)}}, format="json").status_code == 201
    assert validation._validator_for_text.cache_info().misses == 1
    service_api.patch("/v1/db/collections/posts", {"schema": {"type": "object"}}, format="json")
    assert service_api.post("/v1/db/posts", {"data": {"title": "long title"}}, format="json").status_code == 201
    assert validation._validator_for_text.cache_info().misses == 2


def test_a_schema_nested_too_deeply_to_check_is_400(service_api):
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(3000):
        schema = {"properties": {"a": schema}}
    from documents.validation import check_schema

    with pytest.raises(Exception) as raised:
        check_schema(schema)
    assert getattr(raised.value, "http_status", None) == 400
    assert raised.value.details["schema"][0]["code"] == "too_deep"
