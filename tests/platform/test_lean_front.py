"""The lean front (baas/front.py) answers exactly as Django's request handling does.

Each case runs the same request through Django's WSGI handler (middlewares, URL resolution, DRF
or the views' lean dispatch) and through `baas.wsgi.application` (the front, as the servers run
it), and compares status, headers and body: rules allowing and refusing, missing documents, bad
input, If-Match, CORS, request ids. Requests the front must leave to Django (cookies,
Idempotency-Key, NUL, oversized bodies, other media types) are checked to reach Django.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from rest_framework.test import APIClient

from baas import wsgi
from baas.front import LeanFront, RouteTable
from documents import services
from tests.conftest import signup

pytestmark = pytest.mark.django_db(transaction=True)

OPEN = {"read": "true", "create": "auth != null", "update": "true", "delete": "true"}
OWNED = {
    "read": "$owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


@pytest.fixture(autouse=True)
def connection_kept_between_requests() -> Iterator[None]:
    """Django closes the database connection after each request (the test's database lives on it
    for SQLite in memory); its test client disconnects the same handlers while serving."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class Recording:
    """Django's WSGI app, noting whether the front handed it a request."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return wsgi.django_application(environ, start_response)


@pytest.fixture
def front() -> tuple[LeanFront, Recording]:
    django = Recording()
    return LeanFront(django), django


@pytest.fixture
def world(service_key: str) -> dict[str, Any]:
    services.create_collection(name="open", rules=OPEN, schema=SCHEMA)
    services.create_collection(name="owned", rules=OWNED)
    services.create_collection(name="closed", rules={})
    alice = signup(APIClient(), "alice@example.com")
    bob = signup(APIClient(), "bob@example.com")
    service = APIClient()
    service.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {alice['access']}")
    for i in range(5):
        assert owner.post("/v1/db/open", {"id": f"o{i}", "data": {"n": i}}, format="json").status_code == 201
        assert owner.post("/v1/db/owned", {"id": f"w{i}", "data": {"n": i}}, format="json").status_code == 201
    assert service.post("/v1/db/closed", {"id": "c0", "data": {}}, format="json").status_code == 201
    return {"service": service_key, "alice": alice["access"], "bob": bob["access"], "bogus": "not.a.jwt"}


def environ(method: str, path: str, token: str | None, body: Any = None, query: str = "", **headers: str) -> dict:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if token is not None:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if raw:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(raw))
    for name, value in headers.items():
        env[name] = value
    return env


def run(app: Any, env: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}
    env = {**env, "wsgi.input": io.BytesIO(env["wsgi.input"].getvalue())}
    chunks = app(env, lambda status, headers, exc_info=None: answer.update(status=status, headers=headers))
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    names = [name.lower() for name, _ in answer["headers"]]
    assert len(names) == len(set(names)), answer["headers"]  # no header twice
    return answer["status"], {name.lower(): value for name, value in answer["headers"]}, body


def compare(
    front: tuple[LeanFront, Recording], env: dict[str, Any], *, served: bool = True, same_id: bool = False
) -> tuple:
    """Django's answer and the front's to `env`; equal but for a new request id."""
    app, django = front
    expected = run(wsgi.django_application, env)
    calls = django.calls
    got = run(app, env)
    assert (django.calls == calls) is served, "the front served it" if not served else "Django served it"
    assert_same(expected, got, keep_request_id=same_id)
    return got


def assert_same(expected: tuple, got: tuple, *, keep_request_id: bool = False) -> None:
    (status, headers, body), (got_status, got_headers, got_body) = expected, got
    headers, got_headers = dict(headers), dict(got_headers)
    if not keep_request_id:
        assert len(got_headers.pop("x-request-id")) == 32 and headers.pop("x-request-id")
    assert (got_status, got_headers, got_body) == (status, headers, body)


# --- reads --------------------------------------------------------------------------------------------

READS = [
    ("GET", "/v1/db/open/o1", ""),
    ("GET", "/v1/db/open/missing", ""),
    ("GET", "/v1/db/owned/w1", ""),  # alice's: bob and anonymous-less bearers refused
    ("GET", "/v1/db/owned/missing", ""),
    ("GET", "/v1/db/closed/c0", ""),
    ("GET", "/v1/db/nowhere/x", ""),
    ("GET", "/v1/db/open", "limit=2"),
    ("GET", "/v1/db/open", "limit=2&cursor=bad"),
    ("GET", "/v1/db/open", "filter=n%20%3E%3D%202&limit=10"),
    ("GET", "/v1/db/open", "filter=n%20%3E%3D"),  # a filter that does not parse
    ("GET", "/v1/db/open", "limit=zero"),
    ("GET", "/v1/db/open", "order=-n"),
    ("GET", "/v1/db/owned", ""),
    ("GET", "/v1/db/closed", ""),
    ("GET", "/v1/db/nowhere", ""),
    ("GET", "/v1/db/open/count", "filter=n%20%3C%203"),
    ("GET", "/v1/db/owned/count", ""),
    ("GET", "/v1/db/closed/count", ""),
    ("GET", "/v1/auth/user", ""),
]


@pytest.mark.parametrize("who", ["service", "alice", "bob", "bogus"])
@pytest.mark.parametrize(("method", "path", "query"), READS)
def test_reads_answer_alike(front, world, who, method, path, query):  # type: ignore[no-untyped-def]
    compare(front, environ(method, path, world[who], query=query))


# --- writes: each is made once per path, on documents of its own, and the answers compared ----------


def normalized(answer: tuple, *names: str) -> tuple:
    """An answer with the given ids and its own timestamps replaced (two writes made at two moments)."""
    status, headers, body = answer
    headers = {k: v for k, v in headers.items() if k not in ("x-request-id", "content-length")}
    try:
        value = json.loads(body)
    except ValueError:
        return status, headers, body
    text = json.dumps(value)
    for name in names:
        text = text.replace(name, "ID")
    value = json.loads(text)
    if isinstance(value, dict):
        for key in ("created_at", "updated_at"):
            if key in value:
                value[key] = "T"
    return status, headers, value


WRITES = [
    # (method, path with {id}, body, If-Match, who)
    ("POST", "/v1/db/open", {"id": "{id}", "data": {"n": 1}}, None, "alice"),
    ("POST", "/v1/db/open", {"id": "{id}", "data": {"n": "not a number"}}, None, "alice"),  # schema
    ("POST", "/v1/db/open", {"id": "{id}", "data": {"n": 1}, "extra": 1}, None, "alice"),  # unknown field
    ("POST", "/v1/db/open", [1, 2], None, "alice"),  # not an object
    ("POST", "/v1/db/open", b"{not json", None, "alice"),
    ("POST", "/v1/db/open", {"id": "o1", "data": {}}, None, "alice"),  # exists: 409
    ("POST", "/v1/db/closed", {"id": "{id}", "data": {}}, None, "alice"),  # no create rule: 403
    ("POST", "/v1/db/closed", {"id": "{id}", "data": {}}, None, "service"),
    ("POST", "/v1/db/nowhere", {"data": {}}, None, "alice"),
    ("POST", "/v1/db/open", {"id": "{id}", "data": {}}, None, "bogus"),
    ("PUT", "/v1/db/owned/{id}", {"data": {"n": 2}}, None, "alice"),  # created
    ("PUT", "/v1/db/owned/w2", {"data": {"n": 2}}, '"9"', "alice"),  # If-Match fails: 412
    ("PUT", "/v1/db/owned/w2", {"data": {"n": 2}}, '"9"', "bob"),  # refused first
    ("PATCH", "/v1/db/owned/w3", {"data": {"m": 1}}, "nonsense", "alice"),  # bad If-Match
    ("PATCH", "/v1/db/owned/missing", {"data": {"m": 1}}, None, "bob"),
    ("DELETE", "/v1/db/owned/w4", None, '"7"', "alice"),
    ("DELETE", "/v1/db/owned/w4", None, None, "bob"),
]


@pytest.mark.parametrize(("method", "path", "body", "if_match", "who"), WRITES)
def test_writes_answer_alike(front, world, method, path, body, if_match, who):  # type: ignore[no-untyped-def]
    app, django = front
    answers = []
    for new_id, target in (("slow1", wsgi.django_application), ("fast1", app)):
        text = body if isinstance(body, bytes | None) else json.dumps(body).replace("{id}", new_id).encode()
        extra = {"HTTP_IF_MATCH": if_match} if if_match else {}
        calls = django.calls
        answers.append(normalized(run(target, environ(method, path.replace("{id}", new_id), world[who], text, **extra)),
                                  new_id))  # fmt: skip
        if target is app:
            assert django.calls == calls, "the front served it"
    assert answers[0] == answers[1]


def test_a_conditional_write_that_passes_answers_alike(front, world):  # type: ignore[no-untyped-def]
    app, _ = front
    slow = run(wsgi.django_application, environ("PUT", "/v1/db/owned/w1", world["alice"], {"data": {"n": 9}},
                                                HTTP_IF_MATCH='"1"'))  # fmt: skip
    fast = run(app, environ("PUT", "/v1/db/owned/w2", world["alice"], {"data": {"n": 9}}, HTTP_IF_MATCH='"1"'))
    assert slow[0] == fast[0] == "200 OK" and slow[1]["etag"] == fast[1]["etag"] == '"2"'
    assert normalized(slow, "w1") == normalized(fast, "w2")


# --- what the middlewares add ------------------------------------------------------------------------


def test_a_sane_request_id_is_kept_and_a_bad_one_replaced(front, world):  # type: ignore[no-untyped-def]
    env = environ("GET", "/v1/db/open/o1", world["alice"], HTTP_X_REQUEST_ID="abc-123")
    got = compare(front, env, same_id=True)
    assert got[1]["x-request-id"] == "abc-123"
    got = compare(front, environ("GET", "/v1/db/open/o1", world["alice"], HTTP_X_REQUEST_ID="bad id!"))
    assert got[1]["x-request-id"] != "bad id!"


@pytest.mark.parametrize("origin", ["https://app.example.com", "https://evil.example.com", "not a url"])
def test_cors_headers_alike(front, world, settings, origin):  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    got = compare(front, environ("GET", "/v1/db/open/o1", world["alice"], HTTP_ORIGIN=origin))
    allowed = origin == "https://app.example.com"
    assert (got[1].get("access-control-allow-origin") == origin) is allowed
    assert got[1]["vary"] == "origin" and got[1]["x-content-type-options"] == "nosniff"


def test_any_origin_alike(front, world, settings):  # type: ignore[no-untyped-def]
    settings.CORS_ALLOW_ALL_ORIGINS = True
    got = compare(front, environ("GET", "/v1/db/open", world["alice"], HTTP_ORIGIN="https://x.example"))
    assert got[1]["access-control-allow-origin"] == "*"


def test_strict_transport_security_behind_a_trusted_proxy_alike(front, world, settings):  # type: ignore[no-untyped-def]
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    django = WSGIHandler()  # the security settings are read when the middlewares start
    app = LeanFront(django)
    env = environ("GET", "/v1/db/open/o1", world["alice"], HTTP_X_FORWARDED_PROTO="https")
    expected = run(django, env)
    got = run(app, env)
    assert got[1]["strict-transport-security"] == "max-age=3600"
    assert_same(expected, got)
    # From an untrusted peer the header is dropped (ClientAddressMiddleware): no HSTS either way.
    env["REMOTE_ADDR"] = "203.0.113.9"
    expected, got = run(django, env), run(app, env)
    assert "strict-transport-security" not in got[1]
    assert_same(expected, got)


def test_the_access_log_and_metrics_are_alike(front, world, caplog):  # type: ignore[no-untyped-def]
    from baas import metrics

    caplog.set_level(logging.INFO, logger="baas.access")
    route = "/v1/db/<str:collection>/<str:doc_id>"
    counter = metrics.REQUESTS.labels(method="GET", route=route, status="200")
    before = counter._value.get()
    compare(front, environ("GET", "/v1/db/open/o1", world["alice"]))
    assert counter._value.get() == before + 2
    lines = [(r.getMessage(), r.status, r.route) for r in caplog.records if r.name == "baas.access"]
    assert lines == [("GET /v1/db/open/o1 200", 200, route)] * 2


# --- what the front leaves to Django -----------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_COOKIE": "theme=dark"},
        {"HTTP_ACCEPT": "text/html"},
        {"HTTP_X_CUSTOM": "a\x00b"},
        {"HTTP_HOST": "bad host name"},
    ],
)
def test_requests_left_to_django(front, world, extra):  # type: ignore[no-untyped-def]
    compare(front, environ("GET", "/v1/db/open/o1", world["alice"], **extra), served=False)


def test_a_body_over_the_limit_and_an_idempotency_key_are_left_to_django(front, world, settings):  # type: ignore[no-untyped-def]
    settings.BAAS_MAX_BODY_BYTES = 10
    compare(front, environ("POST", "/v1/db/open", world["alice"], {"data": {"n": 12345}}), served=False)
    settings.BAAS_MAX_BODY_BYTES = 10_000
    env = environ("POST", "/v1/db/open", world["alice"], {"id": "idem", "data": {}}, HTTP_IDEMPOTENCY_KEY="k1")
    app, django = front
    calls = django.calls
    assert run(app, env)[0] == "201 Created" and django.calls == calls + 1


def test_a_request_without_a_bearer_is_left_to_django(front, world):  # type: ignore[no-untyped-def]
    compare(front, environ("GET", "/v1/db/open/o1", None), served=False)


# --- routing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/db/open",
        "/v1/db/open/count",
        "/v1/db/open/o1",
        "/v1/db/collections",
        "/v1/db/collections/open",
        "/v1/db/collections/count",
        "/v1/db/batch",
        "/v1/db/open/o1/extra",
        "/v1/auth/user",
        "/v1/auth/users",
        "/v1/health",
        "/v1/db/caf\u00e9/d%C3%A9",
        "/v1/storage/buckets",
        "/v1/storage/buckets/photos",
        "/v1/storage/objects/photos",
        "/v1/storage/objects/photos/",
        "/v1/storage/objects/photos/a/b c.png",
        "/v1/storage/objects/photos/line\nbreak",
        "/v1/storage/sign/photos/a/b.png",
        "/v1/functions/f/http",
    ],
)
def test_the_route_table_resolves_as_django(path):  # type: ignore[no-untyped-def]
    table = RouteTable()
    found = table.match(path[1:])
    try:
        match = resolve(path)
    except Exception:
        assert found is None or found[0].lean is None
        return
    if found is None:  # beyond the last lean route: only Django's resolver looks
        return
    route, kwargs = found
    assert route.view_class is getattr(match.func, "view_class", None)
    assert kwargs == match.kwargs
    assert route.route == match.route


@pytest.mark.parametrize("path", ["a.png", "dir/sub/b c.png", "", "line\nbreak"])
def test_object_requests_reach_the_front(path):  # type: ignore[no-untyped-def]
    """Downloads and small uploads are answered before Django's middlewares (the object view's
    `front_answer`): the object routes compile into the front's table, odd paths included."""
    found = RouteTable().match(f"v1/storage/objects/photos/{path}")
    assert found is not None
    route, kwargs = found
    assert route.lean is not None and route.view_class.__name__ == "ObjectView"
    assert kwargs == {"bucket": "photos", "path": path}


# --- refreshing a session ----------------------------------------------------------------------------


def refresh_environ(token: Any, **headers: str) -> dict[str, Any]:
    return environ("POST", "/v1/auth/token/refresh", None, {"refresh": token}, **headers)


def test_a_refresh_answers_alike_and_rotates(front, world):  # type: ignore[no-untyped-def]
    app, django = front
    slow, fast = signup(APIClient(), "slow@example.com"), signup(APIClient(), "fast@example.com")
    expected = run(wsgi.django_application, refresh_environ(slow["refresh"]))
    calls = django.calls
    got = run(app, refresh_environ(fast["refresh"]))
    assert django.calls == calls, "the front served it"
    assert expected[0] == got[0] == "200 OK"
    assert normalized(expected)[:2] == normalized(got)[:2]
    pair = json.loads(got[2])
    assert set(pair) == {"access", "refresh"} and pair["refresh"] != fast["refresh"]
    # The new pair works; the spent token is reuse: the session ends, on both paths alike.
    assert run(app, environ("GET", "/v1/auth/user", pair["access"]))[0] == "200 OK"
    expected = run(wsgi.django_application, refresh_environ(slow["refresh"]))
    got = run(app, refresh_environ(fast["refresh"]))
    assert_same(expected, got)
    assert got[0] == "401 Unauthorized" and b"already used" in got[2]
    assert run(app, environ("GET", "/v1/auth/user", pair["access"]))[0] == "401 Unauthorized"
    assert run(app, refresh_environ(pair["refresh"]))[0] == "401 Unauthorized"


def test_a_refresh_of_a_disabled_user_answers_alike(front, world):  # type: ignore[no-untyped-def]
    from auth.models import User

    slow, fast = signup(APIClient(), "slow@example.com"), signup(APIClient(), "fast@example.com")
    User.objects.filter(email__in=["slow@example.com", "fast@example.com"]).update(disabled=True)
    expected = run(wsgi.django_application, refresh_environ(slow["refresh"]))
    got = run(front[0], refresh_environ(fast["refresh"]))
    assert_same(expected, got)
    assert got[0] == "401 Unauthorized"


@pytest.mark.parametrize("token", ["a.b.c", "nonsense", 5, "", " padded ", None])
def test_bad_refresh_tokens_answer_alike(front, world, token):  # type: ignore[no-untyped-def]
    compare(front, refresh_environ(token), served=isinstance(token, str) and token == token.strip() and bool(token))
