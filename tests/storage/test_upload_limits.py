"""Size and type limits, enforced while the body streams: 413 / 415 and nothing left behind."""

from __future__ import annotations

import io

import pytest
from django.test.client import encode_multipart

from baas.errors import TooLarge
from baas.principals import service_principal
from storage import services
from storage.models import BlobJournal, StoredObject
from tests.storage.conftest import JPEG, PDF, PNG, error_code, put

SERVICE = service_principal(key_id="tests", name="tests")


class EndlessBody:
    """A body that would go on for 1 GiB; counts what was pulled from it."""

    def __init__(self, total: int = 1024**3) -> None:
        self.total = total
        self.pulled = 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        size = min(size, self.total - self.pulled)
        self.pulled += size
        return b"a" * size


def chunked(data: bytes) -> dict:
    """WSGI environ of a chunked request body as a server that de-chunks it presents it."""
    return {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(data),
        "wsgi.input_terminated": True,
    }


def test_a_declared_length_over_max_size_is_refused_before_reading(backend, service, make_bucket):
    make_bucket("small", max_size=1000)
    response = put(service.client, "small", "big.txt", b"x" * 1001)
    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert response.json()["error"]["details"]["max_size"] == 1000
    assert backend.keys() == []


def test_an_upload_of_exactly_max_size_is_accepted(backend, service, make_bucket):
    make_bucket("small", max_size=1000)
    assert put(service.client, "small", "ok.txt", b"x" * 1000).status_code == 201


def test_a_stream_is_cut_off_as_soon_as_it_passes_max_size_and_its_bytes_removed(backend, make_bucket):
    make_bucket("small", max_size=300_000)
    body = EndlessBody()
    with pytest.raises(TooLarge):
        services.upload_object(
            principal=SERVICE, bucket="small", path="endless.txt", body=body, length=None, content_type="text/plain"
        )
    assert body.pulled < 300_000 + 10 * 1024 * 1024  # stopped within a part, not after 1 GiB
    assert backend.keys() == []
    assert not StoredObject.objects.exists()
    assert not BlobJournal.objects.exists()


def test_a_chunked_put_over_max_size_answers_413_and_leaves_nothing(backend, service, make_bucket):
    make_bucket("small", max_size=100_000)
    response = service.client.generic(
        "PUT",
        "/v1/storage/objects/small/chunked.txt",
        data=b"z" * 250_000,
        content_type="text/plain",
        **chunked(b"z" * 250_000),
    )
    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert backend.keys() == []


def test_a_chunked_put_within_limits_is_stored(backend, service, make_bucket):
    make_bucket("small", max_size=100_000)
    response = service.client.generic(
        "PUT",
        "/v1/storage/objects/small/chunked.txt",
        data=b"z" * 50_000,
        content_type="text/plain",
        **chunked(b"z" * 50_000),
    )
    assert response.status_code == 201
    assert response.json()["size"] == 50_000


def test_a_multipart_file_over_max_size_answers_413_and_leaves_nothing(backend, service, make_bucket):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_bucket("small", max_size=100_000)
    body = encode_multipart("XyZ", {"file": SimpleUploadedFile("a.txt", b"q" * 400_000, "text/plain")})
    response = service.client.post(
        "/v1/storage/objects/small/a.txt", data=body, content_type="multipart/form-data; boundary=XyZ"
    )
    assert response.status_code == 413
    assert backend.keys() == []
    assert not BlobJournal.objects.exists()


def test_a_type_outside_allowed_types_answers_415(backend, service, make_bucket):
    make_bucket("images", allowed_types=["image/png", "image/jpeg"])
    response = put(service.client, "images", "doc.pdf", PDF, content_type="application/pdf")
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"
    assert backend.keys() == []


def test_wildcard_allowed_types_accept_the_whole_family(backend, service, make_bucket):
    make_bucket("images", allowed_types=["image/*"])
    assert put(service.client, "images", "a.png", PNG, content_type="image/png").status_code == 201
    assert put(service.client, "images", "b.jpg", JPEG, content_type="image/jpeg").status_code == 201
    assert put(service.client, "images", "c.txt", b"text", content_type="text/plain").status_code == 415


def test_bytes_that_contradict_the_declared_type_answer_415(backend, service, make_bucket):
    make_bucket("images", allowed_types=["image/*"])
    response = put(service.client, "images", "fake.png", PDF, content_type="image/png")
    assert response.status_code == 415
    assert response.json()["error"]["details"] == {"declared": "image/png", "detected": "application/pdf"}
    assert backend.keys() == []


def test_octet_stream_is_judged_by_the_sniffed_type(backend, service, make_bucket):
    make_bucket("images", allowed_types=["image/*"])
    assert put(service.client, "images", "x", PNG, content_type="application/octet-stream").status_code == 201
    response = put(service.client, "images", "y", PDF, content_type="application/octet-stream")
    assert response.status_code == 415
    assert len(backend.keys()) == 1


def test_a_malformed_content_type_answers_415(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "a", b"abc", content_type="not a type")
    assert response.status_code == 415


def test_the_global_object_limit_applies_to_buckets_without_max_size(backend, service, make_bucket, settings):
    settings.STORAGE_MAX_OBJECT_BYTES = 10
    make_bucket("files")
    assert put(service.client, "files", "a", b"x" * 11).status_code == 413
