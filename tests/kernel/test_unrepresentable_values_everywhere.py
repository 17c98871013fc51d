"""Every JSON endpoint, fed the values no store can represent, answers a 4xx in the error shape and
writes nothing — never a 500 (issue 14.14; the policy is baas/jsonvalues.py).

The endpoints are enumerated from the URL resolver, so a new endpoint is covered without editing
this file. Each body method (POST, PUT, PATCH) of each route gets every bad body, anonymously,
with a user's token and with a service key (the lean document path and DRF's both); each GET gets
bad query strings; storage uploads get bad `X-Baas-Metadata`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from tests.conftest import bearer

pytestmark = pytest.mark.django_db

OPEN = {"read": "true", "create": "true", "update": "true", "delete": "true"}

# Raw JSON texts (not built with json.dumps: most of them cannot be).
BAD_BODIES = {
    "deep_array": "[" * 5000 + "]" * 5000,
    "deep_data": '{"data": ' + '{"a": ' * 70 + "1" + "}" * 70 + ', "email": "x@example.com"}',
    "deep_just_past_limit": "[" * 65 + "]" * 65,
    "lone_surrogate": '{"data": {"a": "\\ud800"}, "email": "s@example.com", "password": "pw-1234567", "name": "n"}',
    "lone_surrogate_key": '{"data": {"\\udc00": 1}, "name": "n", "payload": {"\\udc00": 1}}',
    "lone_surrogate_deep": '{"ops": [{"op": "create", "collection": "posts", "data": {"a": ["x\\ud83d"]}}]}',
    "nul": '{"data": {"status": "approved\\u0000x"}, "email": "n\\u0000@example.com", "name": "a\\u0000"}',
    "nul_key": '{"data": {"a\\u0000": 1}, "payload": {"a\\u0000": 1}}',
    "overflow_1e400": '{"data": {"n": 1e400}, "payload": 1e400, "expires_in": 1e400}',
    "overflow_digits": '{"data": {"n": ' + "9" * 400 + "}, " + '"version": ' + "9" * 400 + "}",
    "unsafe_integer": '{"data": {"n": 9007199254740993}, "expires_in": 9007199254740993, "version": 9007199254740993}',
    "unsafe_negative": '{"data": {"n": -9007199254740992}, "ops": {"n": {"increment": -9007199254740992}}}',
    "nan": '{"data": {"n": NaN}, "payload": NaN}',
    "infinity": '{"data": {"n": -Infinity}, "payload": Infinity}',
    "not_utf8": b'{"data": {"a": "\xed\xa0\x80"}}',
}


def _cursor(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


BAD_QUERIES = {
    "cursor": [
        "!!!not-base64",
        _cursor("garbage"),
        _cursor({"a": 1}),
        _cursor("[1e400]"),
        _cursor("[" * 3000 + "]" * 3000),
        _cursor('["\\u0000", "x"]'),
        _cursor('["\\ud800", "x"]'),
        _cursor([[], {}]),
        _cursor([10**30, "a"]),
        _cursor(["x", "2024-13-45T00:00:00Z", True]),
        _cursor(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        _cursor([None, None, None, None]),
        _cursor(["2024-01-01T00:00:00", str(uuid.uuid4())]),
        "A" * 100_000,
    ],
    "filter": ['a == "x\\u0000"', 'a == "\\ud800"', "a == 1e400", "a == 9007199254740993", "size(size(a))",
               "!size($version)", "a == NaN"],
    "search": ["\x00", "a\x00b"],
    "prefix": ["\x00"],
    "order": ["a\x00", "-\x00"],
    "status": ["\x00"],
    "limit": ["1e400", "\x00", "9" * 400],
}  # fmt: skip

# Body methods whose body is not JSON: the object's bytes; a call without a body.
# A webhook route hands the raw body to the function as bytes: the platform reads no JSON there.
WEBHOOK_ROUTES = ("function-http", "function-http-root")
NOT_JSON_BODIES = {
    ("storage-object", "PUT"),
    ("admin-user-logout", "POST"),
    *((route, method) for route in WEBHOOK_ROUTES for method in ("POST", "PUT", "PATCH")),
}

SAMPLE_KWARGS = {
    "collection": "posts",
    "doc_id": "d1",
    "name": "posts",
    "bucket": "posts",
    "path": "a.txt",
    "subpath": "hook",
    "invocation_id": str(uuid.uuid4()),
    "delivery_id": str(uuid.uuid4()),
}


def _routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, Any, list[str]]]:
    """(url name, view callback, parameter names) of every named route."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "console":
                continue  # HTML forms for operators, not the JSON API (tests/console covers them)
            yield from _routes(entry.url_patterns, prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            pattern = entry.pattern
            names = list(getattr(pattern, "converters", {}) or pattern.regex.groupindex)
            yield entry.name, entry.callback, names


def _methods(callback: Any) -> list[str]:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return ["GET"]
    return [m.upper() for m in ("get", "post", "put", "patch") if hasattr(view_class, m)]


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models() if model._meta.managed}


@pytest.fixture
def world(service_api: APIClient, alice: dict[str, Any]) -> dict[str, Any]:
    """A collection, a document and a bucket named like the sample URL parameters, so that the
    routes reach the point where they read their input."""
    assert service_api.post("/v1/db/collections", {"name": "posts", "rules": OPEN}, format="json").status_code == 201
    assert service_api.post("/v1/db/posts", {"id": "d1", "data": {"a": 1}}, format="json").status_code == 201
    bucket = {"name": "posts", "public": True, "rules": {"read": "true", "create": "true", "update": "true"}}
    assert service_api.post("/v1/storage/buckets", bucket, format="json").status_code == 201
    key = service_api.get("/v1/admin/keys").json()["items"][0]["id"]
    return {**SAMPLE_KWARGS, "user_id": alice["user"]["id"], "key_id": key}


@pytest.fixture
def clients(service_api: APIClient, alice: dict[str, Any]) -> dict[str, APIClient]:
    clients = {"anonymous": APIClient(), "user": bearer(alice["access"]), "service": service_api}
    for client in clients.values():
        client.raise_request_exception = False  # a 500 is an answer to assert on, not a crash
    return clients


def _url(name: str, params: list[str], world: dict[str, Any]) -> str:
    return reverse(name, kwargs={param: world[param] for param in params})


def _assert_refused(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.content[:300])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}, what
    assert isinstance(error["code"], str) and isinstance(error["message"], str), what


def test_every_body_endpoint_refuses_every_unrepresentable_value(world, clients) -> None:  # type: ignore[no-untyped-def]
    before = _row_counts()
    tried = set()
    failures: list[tuple[Any, ...]] = []
    for name, callback, params in _routes():
        url = _url(name, params, world)
        for method in _methods(callback):
            if method == "GET" or (name, method) in NOT_JSON_BODIES:
                continue
            tried.add(url)
            for body_name, body in BAD_BODIES.items():
                for persona, client in clients.items():
                    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
                    response = client.generic(method, url, data, content_type="application/json")
                    if not 400 <= response.status_code < 500:
                        failures.append((persona, method, url, body_name, response.status_code))
                        continue
                    _assert_refused(response, f"{persona} {method} {url} {body_name}")
    # The resolver found the routes this test is about (a broken enumeration must not pass silently).
    assert {"/v1/auth/signup", "/v1/db/posts", "/v1/db/posts/d1", "/v1/db/batch", "/v1/admin/users"} <= tried
    assert failures == []
    assert _row_counts() == before


def test_every_list_endpoint_refuses_crafted_query_strings(world, clients) -> None:  # type: ignore[no-untyped-def]
    before = _row_counts()
    tried = set()
    for name, callback, params in _routes():
        if "GET" not in _methods(callback) or name in ("docs", "schema", "metrics"):
            continue
        url = _url(name, params, world)
        tried.add(url)
        for parameter, values in BAD_QUERIES.items():
            for value in values:
                for persona, client in clients.items():
                    response = client.get(url, {parameter: value})
                    what = f"{persona} GET {url}?{parameter}={value[:60]!r}"
                    assert response.status_code < 500, (what, response.content[:300])
                    if response.status_code >= 400:
                        _assert_refused(response, what)
    assert {"/v1/db/posts", "/v1/storage/objects/posts", "/v1/admin/users", "/v1/admin/keys"} <= tried
    assert _row_counts() == before


REFUSED_WHERE_READ = {
    "/v1/db/posts": {"cursor": BAD_QUERIES["cursor"], "filter": BAD_QUERIES["filter"][:4],
                     "order": BAD_QUERIES["order"], "limit": BAD_QUERIES["limit"]},
    "/v1/db/posts/count": {"filter": BAD_QUERIES["filter"][:4]},
    "/v1/storage/objects/posts": {"cursor": BAD_QUERIES["cursor"], "prefix": BAD_QUERIES["prefix"]},
    "/v1/storage/buckets": {"cursor": BAD_QUERIES["cursor"]},
    "/v1/admin/users": {"cursor": BAD_QUERIES["cursor"], "search": BAD_QUERIES["search"]},
    "/v1/admin/keys": {"cursor": BAD_QUERIES["cursor"]},
    "/v1/functions": {"cursor": BAD_QUERIES["cursor"]},
}  # fmt: skip


@pytest.mark.parametrize("url", sorted(REFUSED_WHERE_READ))
def test_crafted_query_values_are_refused_where_they_are_read(world, clients, url: str) -> None:  # type: ignore[no-untyped-def]
    """Where an endpoint reads the parameter, a crafted value is a 400, not a silent 200."""
    for parameter, values in REFUSED_WHERE_READ[url].items():
        for value in values:
            response = clients["service"].get(url, {parameter: value})
            _assert_refused(response, f"GET {url}?{parameter}={value[:60]!r}")
            assert response.status_code == 400


def test_size_of_the_unsized_as_a_condition_is_false_on_both_databases(world, clients) -> None:  # type: ignore[no-untyped-def]
    for text, expected in (("size(size(a))", []), ("!size($version)", ["d1"]), ("!size(size(a)) && a == 1", ["d1"])):
        response = clients["service"].get("/v1/db/posts", {"filter": text})
        assert response.status_code == 200, (text, response.content[:300])
        assert [doc["id"] for doc in response.json()["items"]] == expected, text


@pytest.mark.parametrize(
    "metadata",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e400}',
        '{"a": ' + "1" * 400 + "}",
        '{"a": 9007199254740993}',
        '{"a": ' + "[" * 100 + "]" * 100 + "}",
        "[" * 5000 + "]" * 5000,
        '{"a": "\\ud800"}',
        '{"\\udfff": 1}',
        '{"a": "\\u0000"}',
    ],
)
def test_uploads_refuse_unrepresentable_metadata(world, clients, metadata: str) -> None:  # type: ignore[no-untyped-def]
    before = _row_counts()
    for persona, client in clients.items():
        put = client.put(
            "/v1/storage/objects/posts/a.txt", b"hello", content_type="text/plain", HTTP_X_BAAS_METADATA=metadata
        )
        _assert_refused(put, f"{persona} PUT metadata {metadata[:40]}")
        assert put.json()["error"]["code"] == "validation_error"
        assert "metadata" in put.json()["error"]["details"]
        form = client.post(
            "/v1/storage/objects/posts/b.txt",
            {"metadata": metadata, "file": _upload()},  # fields before the file part are read
            format="multipart",
        )
        _assert_refused(form, f"{persona} POST metadata {metadata[:40]}")
    assert _row_counts() == before


def _upload() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("b.txt", b"hello", content_type="text/plain")


def test_nul_in_paths_and_headers_is_refused_before_any_database(world, clients) -> None:  # type: ignore[no-untyped-def]
    before = _row_counts()
    for persona, client in clients.items():
        for url in (
            "/v1/db/posts/d%001",
            "/v1/db/po%00sts",
            "/v1/storage/objects/posts/a%00.txt",
            "/v1/admin/users/%00",
        ):
            _assert_refused(client.get(url), f"{persona} GET {url}")
        put = client.put("/v1/storage/objects/posts/c.txt", b"x", content_type="text/plain\x00")
        _assert_refused(put, f"{persona} PUT content type with NUL")
        header = client.get("/v1/db/posts", HTTP_IDEMPOTENCY_KEY="k\x00")
        _assert_refused(header, f"{persona} NUL in a header")
    assert _row_counts() == before
