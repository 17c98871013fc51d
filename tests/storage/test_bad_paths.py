"""Bad object paths and unknown buckets: a clear 4xx in the error shape, and nothing stored."""

from __future__ import annotations

import pytest

from storage.models import BlobJournal, StoredObject
from tests.storage.conftest import error_code

# As they appear in the URL (the server percent-decodes once, as a WSGI server does).
BAD_PATHS = {
    "dot-dot": "a/../b.txt",
    "leading-dot-dot": "../b.txt",
    "only-dot-dot": "..",
    "dot": "a/./b.txt",
    "encoded-dot-dot": "a/%2e%2e/b.txt",
    "encoded-dot-dot-upper": "a/%2E%2E/b.txt",
    "double-encoded-dot-dot": "a/%252e%252e/b.txt",
    "encoded-slash-dot-dot": "a/..%2fb.txt",
    "backslash": "a\\..\\b.txt",
    "encoded-backslash": "a/%5c..%5cb.txt",
    "empty-segment": "a//b.txt",
    "leading-slash": "/a.txt",
    "trailing-slash": "a/",
    "nul": "a%00b.txt",
    "newline": "a%0ab.txt",
    "tab": "a%09b.txt",
    "escape": "a%1bb.txt",
    "delete-char": "a%7fb.txt",
    "c1-control": "a%c2%85b.txt",
    "encoded-nul": "a%2500b.txt",
    "too-long": "a" * 1025,
    "too-long-in-bytes": "%C3%A9" * 513,  # 513 times "é" = 1026 bytes
}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_a_bad_path_is_refused_on_upload_and_nothing_is_stored(backend, service, make_bucket, path):
    make_bucket("files")
    response = service.client.put(f"/v1/storage/objects/files/{path}", data=b"payload", content_type="text/plain")
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid_path"
    assert response.json()["error"]["details"]["reason"]
    assert backend.keys() == []
    assert not StoredObject.objects.exists()
    assert not BlobJournal.objects.exists()


@pytest.mark.parametrize("path", ["a/../b.txt", "a%00b", "a//b"])
@pytest.mark.parametrize("method", ["get", "head", "delete"])
def test_a_bad_path_is_refused_on_read_and_delete(backend, service, make_bucket, method, path):
    make_bucket("files")
    response = getattr(service.client, method)(f"/v1/storage/objects/files/{path}")
    assert response.status_code == 400


def test_a_bad_path_is_refused_when_signing(backend, service, make_bucket):
    make_bucket("files")
    response = service.client.post("/v1/storage/sign/files/a/../b", {"expires_in": 60}, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid_path"


def test_the_longest_allowed_path_is_accepted(backend, service, make_bucket):
    make_bucket("files")
    path = "/".join(["d" * 99] * 10) + "/" + "f" * 23  # 1,023 bytes
    assert len(path) <= 1024
    response = service.client.put(f"/v1/storage/objects/files/{path}", data=b"x", content_type="text/plain")
    assert response.status_code == 201
    assert response.json()["path"] == path


def test_unicode_and_spaces_are_fine_in_paths(backend, service, make_bucket):
    make_bucket("files")
    response = service.client.put(
        "/v1/storage/objects/files/photos/%C3%A9t%C3%A9 2024/plage.txt", data=b"x", content_type="text/plain"
    )
    assert response.status_code == 201
    assert response.json()["path"] == "photos/été 2024/plage.txt"
    download = service.client.get("/v1/storage/objects/files/photos/%C3%A9t%C3%A9 2024/plage.txt")
    assert download.getvalue() == b"x"
    assert download["Content-Disposition"] == 'inline; filename="plage.txt"'


def test_uploading_to_an_unknown_bucket_answers_404_and_stores_nothing(backend, service, db):
    response = service.client.put("/v1/storage/objects/ghost/a.txt", data=b"x", content_type="text/plain")
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    assert backend.keys() == []
