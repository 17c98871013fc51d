"""`Idempotency-Key` on object uploads: a retried upload gets the first answer and stores nothing twice.

Uploads stream to storage, so the middleware fingerprints their describing headers; a replayed raw
upload is read through and must carry the bytes first uploaded (baas/idempotency.py).
"""

from __future__ import annotations

import hashlib
import json

from django.test.client import encode_multipart

from baas.models import IdempotencyKey
from tests.storage.conftest import error_code, put


def test_a_retried_raw_upload_returns_the_first_answer_and_stores_once(backend, alice, make_bucket):
    make_bucket("files", rules={"read": "true", "create": "auth != null", "update": "auth != null"})
    first = put(alice.client, "files", "a.txt", b"first bytes", HTTP_IDEMPOTENCY_KEY="up-1")
    keys_after_first = backend.keys()
    again = put(alice.client, "files", "a.txt", b"first bytes", HTTP_IDEMPOTENCY_KEY="up-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["ETag"] == first["ETag"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert backend.keys() == keys_after_first and len(keys_after_first) == 1
    listed = alice.client.get("/v1/storage/objects/files").json()["items"]
    assert [(o["path"], o["updated_at"]) for o in listed] == [("a.txt", first.json()["updated_at"])]


def test_an_upload_with_if_none_match_star_can_be_retried_with_its_key(backend, alice, make_bucket):
    # Without a key its retry after a lost answer would meet its own object (412).
    make_bucket("files", rules={"read": "true", "create": "auth != null"})
    first = put(alice.client, "files", "a.txt", b"x", HTTP_IF_NONE_MATCH="*", HTTP_IDEMPOTENCY_KEY="once")
    again = put(alice.client, "files", "a.txt", b"x", HTTP_IF_NONE_MATCH="*", HTTP_IDEMPOTENCY_KEY="once")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    without_key = put(alice.client, "files", "a.txt", b"x", HTTP_IF_NONE_MATCH="*")
    assert without_key.status_code == 412


def test_the_same_key_with_other_bytes_or_headers_is_422_and_stores_nothing(backend, alice, make_bucket):
    make_bucket("files", rules={"read": "true", "create": "auth != null", "update": "auth != null"})
    first = put(alice.client, "files", "a.txt", b"same length", HTTP_IDEMPOTENCY_KEY="k")
    keys = backend.keys()
    other_bytes = put(alice.client, "files", "a.txt", b"SAME LENGTH", HTTP_IDEMPOTENCY_KEY="k")
    other_type = put(alice.client, "files", "a.txt", b"same length", "text/csv", HTTP_IDEMPOTENCY_KEY="k")
    other_metadata = put(
        alice.client, "files", "a.txt", b"same length", HTTP_IDEMPOTENCY_KEY="k", HTTP_X_BAAS_METADATA='{"a": 1}'
    )
    for refused in (other_bytes, other_type, other_metadata):
        assert refused.status_code == 422, refused.content
        assert error_code(refused) == "idempotency_key_reused"
    assert backend.keys() == keys
    stored = alice.client.get("/v1/storage/objects/files/a.txt")
    assert stored.getvalue() == b"same length"
    assert stored["ETag"] == first["ETag"]


def test_a_failed_upload_is_not_remembered(backend, alice, make_bucket):
    make_bucket("files", rules={"read": "true", "create": "auth != null"}, max_size=10)
    too_big = put(alice.client, "files", "a.txt", b"x" * 11, HTTP_IDEMPOTENCY_KEY="k")
    assert too_big.status_code == 413
    assert not IdempotencyKey.objects.exists()
    # The retry (after fixing what was wrong) runs for real.
    fixed = put(alice.client, "files", "a.txt", b"x" * 10, HTTP_IDEMPOTENCY_KEY="k")
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed


def test_a_retried_multipart_upload_returns_the_first_answer(backend, alice, make_bucket):
    make_bucket("files", rules={"read": "true", "create": "auth != null", "update": "auth != null"})

    def send(boundary: str):  # type: ignore[no-untyped-def]
        body = encode_multipart(boundary, {"metadata": json.dumps({"n": 1}), "file": _named(b"form bytes")})
        return alice.client.generic(
            "POST",
            "/v1/storage/objects/files/f.txt",
            body,
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="form",
        )

    first = send("b0undary1")
    keys = backend.keys()
    again = send("b0undary2")  # a browser's retry picks a new boundary
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert first.json()["etag"] == hashlib.sha256(b"form bytes").hexdigest()
    assert backend.keys() == keys


def _named(data: bytes):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("f.txt", data, content_type="text/plain")
