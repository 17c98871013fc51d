"""The lean path of object GET/HEAD/PUT answers exactly like DRF's dispatch.

Requests with bearer credentials, or none at all, skip DRF (storage/api/lean.py): the credential
is checked in the statement that reads the bucket and the object. Every request below is sent
twice, once on the lean path and once with it switched off (`lean.enabled = False`, so DRF's
dispatch answers), and the two answers are compared: status, every header but the request id, and
the body. Writes go to twin buckets (same settings), one per path, and their effects are compared
too. Real commits (transaction=True): on PostgreSQL a new object is then one statement with its
event, on both paths.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.http import http_date

from baas.models import Event
from storage import signing
from storage.api import lean
from storage.api.views import ObjectView
from storage.models import BlobJournal, StoredObject
from storage.services import SMALL_OBJECT_BYTES
from tests.storage.conftest import PNG, Persona, put

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = b"the quarterly numbers, in plain text.\n"  # 38 bytes
PRIVATE_RULES = {"read": "$owner == auth.id", "create": "auth != null", "update": "$owner == auth.id"}
PUBLIC_RULES = {"create": "auth != null", "update": "$owner == auth.id"}


def answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {name: value for name, value in response.items() if name != "X-Request-Id"}
    return response.status_code, headers, response.getvalue()


def both(monkeypatch: pytest.MonkeyPatch, send: Callable[[], Any]) -> tuple[Any, Any]:
    """The answer on the lean path, then DRF's."""
    with CaptureQueriesContext(connection) as queries:
        lean_answer = send()
    monkeypatch.setattr(lean, "enabled", False)
    try:
        drf_answer = send()
    finally:
        monkeypatch.setattr(lean, "enabled", True)
    return (lean_answer, queries), drf_answer


def assert_same(monkeypatch: pytest.MonkeyPatch, send: Callable[[], Any], case: str, *, bearer: bool) -> Any:
    (fast, queries), slow = both(monkeypatch, send)
    assert answer(fast) == answer(slow), case
    if bearer and queries.captured_queries:
        # The lean path checked the credential in the statement that read the bucket and object.
        first = queries.captured_queries[0]["sql"]
        assert "WITH credential AS" in first and "storage_bucket" in first, (case, first)
    return fast


@pytest.fixture
def objects(backend, alice: Persona, make_bucket) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    make_bucket("priv", rules=PRIVATE_RULES, max_size=64, allowed_types=["text/plain", "image/*"])
    make_bucket("pub", public=True, rules=PUBLIC_RULES)
    doc = put(alice.client, "priv", "a/doc.txt", TEXT, content_type="text/plain")
    pic = put(alice.client, "pub", "pic.png", PNG, content_type="image/png")
    assert doc.status_code == pic.status_code == 201
    return {"doc": doc.json(), "pic": pic.json()}


def signed(bucket: str, path: str, expires_at: int) -> str:
    return signing.signed_path(bucket, path, expires_at=expires_at)


def test_downloads_answer_alike(objects, alice, bob, anonymous, service, monkeypatch):
    doc = objects["doc"]
    etag = f'"{doc["etag"]}"'
    url = "/v1/storage/objects/priv/a/doc.txt"
    later = int(time.time()) + 600
    cases: list[tuple[str, Persona, str, dict[str, str]]] = [
        ("owner reads", alice, url, {}),
        ("rule refuses another user", bob, url, {}),
        ("rule refuses anonymous", anonymous, url, {}),
        ("service role", service, url, {}),
        ("public bucket, anonymous", anonymous, "/v1/storage/objects/pub/pic.png", {}),
        ("public bucket, a user", bob, "/v1/storage/objects/pub/pic.png?download=1", {}),
        ("missing object, owner's rule", alice, "/v1/storage/objects/priv/a/none.txt", {}),
        ("missing object, public", anonymous, "/v1/storage/objects/pub/none.png", {}),
        ("missing bucket", alice, "/v1/storage/objects/nobucket/a.txt", {}),
        ("bad path", alice, "/v1/storage/objects/priv/a//doc.txt", {}),
        ("bad path, missing bucket", alice, "/v1/storage/objects/nobucket/a/../b", {}),
        ("range", alice, url, {"HTTP_RANGE": "bytes=0-9"}),
        ("suffix range", alice, url, {"HTTP_RANGE": "bytes=-5"}),
        ("open range", alice, url, {"HTTP_RANGE": "bytes=30-"}),
        ("unsatisfiable range", alice, url, {"HTTP_RANGE": "bytes=100-"}),
        ("several ranges", alice, url, {"HTTP_RANGE": "bytes=0-1,4-5"}),
        ("bad range", alice, url, {"HTTP_RANGE": "bytes=x-y"}),
        ("stale If-Range", alice, url, {"HTTP_RANGE": "bytes=0-3", "HTTP_IF_RANGE": '"other"'}),
        ("If-None-Match matches", alice, url, {"HTTP_IF_NONE_MATCH": etag}),
        ("weak If-None-Match matches", alice, url, {"HTTP_IF_NONE_MATCH": f"W/{etag}"}),
        ("If-None-Match differs", alice, url, {"HTTP_IF_NONE_MATCH": '"other"'}),
        ("If-None-Match, refused reader", bob, url, {"HTTP_IF_NONE_MATCH": etag}),
        ("If-Match fails", alice, url, {"HTTP_IF_MATCH": '"other"'}),
        ("If-Modified-Since", alice, url, {"HTTP_IF_MODIFIED_SINCE": http_date(time.time() + 60)}),
        ("signed URL", anonymous, signed("priv", "a/doc.txt", later), {}),
        ("signed URL with a range", anonymous, signed("priv", "a/doc.txt", later), {"HTTP_RANGE": "bytes=2-4"}),
        ("signed URL, expired", anonymous, signed("priv", "a/doc.txt", int(time.time()) - 1), {}),
        ("signed URL, tampered", anonymous, signed("priv", "a/doc.txt", later)[:-2] + "00", {}),
        ("signed URL of a missing object", anonymous, signed("priv", "a/none.txt", later), {}),
        ("signed URL and a bearer", bob, signed("priv", "a/doc.txt", later), {}),
    ]
    for case, persona, target, headers in cases:
        bearer = persona.name != "anonymous"
        for method in ("get", "head"):
            send = lambda: getattr(persona.client, method)(target, **headers)  # noqa: B023, E731
            assert_same(monkeypatch, send, f"{method.upper()} {case}", bearer=bearer)
    assert answer(alice.client.get(url))[2] == TEXT


def test_bad_credentials_are_refused_alike(objects, service, monkeypatch):
    from rest_framework.test import APIClient

    from auth.models import ServiceKey

    url = "/v1/storage/objects/pub/pic.png"
    for case, header in [
        ("unknown service key", "Bearer baas_sk_unknownunknownunknownunknownunknownunk"),
        ("malformed header", "Bearer"),
        ("not bearer", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"),
        ("a token of no known kind", "Bearer not-a-token"),
        ("a broken access token", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.broken"),
    ]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        for send in (lambda: client.get(url), lambda: client.put(url, data=b"x", content_type="text/plain")):  # noqa: B023
            assert_same(monkeypatch, send, case, bearer=False)
    ServiceKey.objects.update(revoked_at="2020-01-01T00:00:00Z")
    response = assert_same(monkeypatch, lambda: service.client.get(url), "revoked key", bearer=False)
    assert response.status_code == 401


def _twin_buckets(make_bucket: Callable[..., Any], alice: Persona) -> None:
    for name in ("fast", "slow"):
        make_bucket(name, rules=PRIVATE_RULES, max_size=64, allowed_types=["text/plain", "image/*"])
        assert put(alice.client, name, "taken.txt", TEXT).status_code == 201


def _state(bucket: str) -> list[tuple[Any, ...]]:
    rows = StoredObject.objects.filter(bucket__name=bucket).order_by("path")
    return [(row.path, row.size, row.etag, row.content_type, row.owner, row.metadata) for row in rows]


def _events(bucket: str) -> list[tuple[str, str]]:
    return list(Event.objects.filter(topic=f"storage/{bucket}").order_by("seq").values_list("kind", "key"))


def _normalized(response: Any, bucket: str) -> tuple[int, dict[str, str], bytes]:
    status, headers, body = answer(response)
    body = body.replace(f'"bucket":"{bucket}"'.encode(), b'"bucket":"?"')
    if status == 201:
        data = response.json()
        for moment in (data["created_at"], data["updated_at"]):
            body = body.replace(moment.encode(), b"?")
    return status, headers, body.replace(bucket.encode(), b"?")


def test_uploads_answer_alike_and_write_alike(backend, make_bucket, alice, bob, anonymous, service, monkeypatch):
    _twin_buckets(make_bucket, alice)
    cases: list[tuple[str, Persona, str, bytes, dict[str, Any]]] = [
        ("create", alice, "new.txt", TEXT, {}),
        ("create as the service role", service, "svc.txt", TEXT, {}),
        ("create refused to anonymous", anonymous, "anon.txt", TEXT, {}),
        ("overwrite by the owner", alice, "taken.txt", b"version two", {}),
        ("overwrite refused to another user", bob, "taken.txt", b"bob's", {}),
        ("If-None-Match * on a taken path", alice, "taken.txt", TEXT, {"HTTP_IF_NONE_MATCH": "*"}),
        ("If-None-Match * refused reader", bob, "taken.txt", TEXT, {"HTTP_IF_NONE_MATCH": "*"}),
        ("If-Match on a free path", alice, "free.txt", TEXT, {"HTTP_IF_MATCH": '"abc"'}),
        ("over the bucket's max_size", alice, "big.txt", b"x" * 65, {}),
        ("a type the bucket refuses", alice, "a.pdf", b"%PDF-1.7\n" + b"x" * 20, {"content_type": "application/pdf"}),
        ("declared type contradicts the bytes", alice, "p.txt", PNG[:60], {"content_type": "text/plain"}),
        ("sniffed type", alice, "pic", PNG[:60], {"content_type": "application/octet-stream"}),
        ("metadata", alice, "m.txt", TEXT, {"HTTP_X_BAAS_METADATA": '{"shared": true}'}),
        ("bad metadata", alice, "m2.txt", TEXT, {"HTTP_X_BAAS_METADATA": "[1]"}),
        ("empty body", alice, "e.txt", b"", {}),
        ("bad path", alice, "a//b.txt", TEXT, {}),
        ("signed URL on a write", alice, "s.txt?signature=abc&expires=1", TEXT, {}),
    ]
    for case, persona, path, data, extra in cases:
        extra = dict(extra)
        content_type = extra.pop("content_type", "text/plain")
        answers = {}
        for bucket, enabled in (("fast", True), ("slow", False)):
            monkeypatch.setattr(lean, "enabled", enabled)
            response = persona.client.put(
                f"/v1/storage/objects/{bucket}/{path}", data=data, content_type=content_type, **extra
            )
            answers[bucket] = _normalized(response, bucket)
        monkeypatch.setattr(lean, "enabled", True)
        assert answers["fast"] == answers["slow"], case
    assert _state("fast") == _state("slow")
    assert _events("fast") == _events("slow")
    assert [row[0] for row in _state("fast")] == ["m.txt", "new.txt", "pic", "svc.txt", "taken.txt"]
    assert [kind for kind, _ in _events("fast")] == ["created", "created", "created", "updated", "created", "created"]
    assert BlobJournal.objects.filter(reason=BlobJournal.UPLOADING).count() == 0


def test_a_body_shorter_than_its_content_length_is_refused_alike(backend, make_bucket, alice, monkeypatch):
    _twin_buckets(make_bucket, alice)
    answers = {}
    for bucket, enabled in (("fast", True), ("slow", False)):
        monkeypatch.setattr(lean, "enabled", enabled)
        response = alice.client.generic(
            "PUT",
            f"/v1/storage/objects/{bucket}/short.txt",
            b"",
            content_type="text/plain",
            **{"wsgi.input": io.BytesIO(b"only ten b"), "CONTENT_LENGTH": "20"},
        )
        answers[bucket] = _normalized(response, bucket)
    assert answers["fast"] == answers["slow"]
    assert answers["fast"][0] == 400
    assert _state("fast") == _state("slow")
    assert not BlobJournal.objects.exists()


def test_a_session_cookie_request_takes_drfs_path(objects, staff, monkeypatch):
    """The console's session (with its CSRF check) is DRF's: the lean path never answers it."""
    calls = []
    real = lean.LeanObjectDispatch.lean_response.__func__  # type: ignore[attr-defined]

    def spy(cls, request, kwargs):  # type: ignore[no-untyped-def]
        found = real(cls, request, kwargs)
        calls.append(found is not None)
        return found

    monkeypatch.setattr(lean.LeanObjectDispatch, "lean_response", classmethod(spy))
    response = staff.client.get("/v1/storage/objects/priv/a/doc.txt")
    assert response.status_code == 200 and response.getvalue() == TEXT
    assert calls == [False]
    without_token = staff.client.put("/v1/storage/objects/priv/b.txt", data=b"x", content_type="text/plain")
    staff.client.credentials()  # no CSRF header
    refused = staff.client.put("/v1/storage/objects/priv/c.txt", data=b"x", content_type="text/plain")
    assert without_token.status_code == 201 and refused.status_code == 403


# --- the answers for a front that serves requests before Django's middlewares (baas.front) -------


def _front(persona: Persona, method: str, path: str, data: bytes = b"", **extra: str) -> Any:
    from django.test import RequestFactory

    headers = dict(persona.client._credentials)
    request = RequestFactory().generic(method, path, data, content_type="text/plain", **headers, **extra)
    bucket, _, rest = path.removeprefix("/v1/storage/objects/").partition("/")
    return ObjectView.front_answer(request, {"bucket": bucket, "path": rest})


def test_front_answers_are_the_answers_without_what_the_front_adds(objects, alice, bob, anonymous, monkeypatch):
    url = "/v1/storage/objects/priv/a/doc.txt"
    etag = f'"{objects["doc"]["etag"]}"'
    for persona, extra in [(alice, {}), (bob, {}), (anonymous, {}), (alice, {"HTTP_IF_NONE_MATCH": etag})]:
        status, body, headers = _front(persona, "GET", url, **extra)
        full_status, full_headers, full_body = answer(persona.client.get(url, **extra))
        assert (status, body or b"") == (full_status, full_body)
        assert "Content-Length" not in dict(headers)
        # The front adds these (as the middlewares do), and `Vary: origin` (CORS) as a header of its own.
        added = {"Content-Length", "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy", "Vary"}
        assert {name: value for name, value in headers if name != "Vary"} == {
            name: value for name, value in full_headers.items() if name not in added
        }
        assert [value for name, value in headers if name == "Vary"] + ["origin"] == full_headers["Vary"].split(", ")
    status, body, headers = _front(alice, "PUT", "/v1/storage/objects/priv/front.txt", TEXT)
    assert status == 201 and dict(headers)["ETag"] == f'"{StoredObject.objects.get(path="front.txt").etag}"'


def test_the_front_leaves_head_large_objects_and_streamed_bodies_to_django(backend, make_bucket, service):
    make_bucket("files")
    big = b"x" * (SMALL_OBJECT_BYTES + 1)
    assert put(service.client, "files", "big.bin", big).status_code == 201
    assert _front(service, "HEAD", "/v1/storage/objects/files/big.bin") is None
    assert _front(service, "GET", "/v1/storage/objects/files/big.bin") is None
    assert _front(service, "PUT", "/v1/storage/objects/files/big2.bin", big) is None
    assert _front(service, "PUT", "/v1/storage/objects/files/c.bin", b"x", CONTENT_LENGTH="") is None
    assert _front(service, "DELETE", "/v1/storage/objects/files/big.bin") is None
    assert StoredObject.objects.count() == 1
