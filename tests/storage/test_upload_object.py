"""PUT (raw body) and POST (multipart) uploads: metadata, hashing, sniffing, overwrite rules."""

from __future__ import annotations

import hashlib
import json

from django.test.client import encode_multipart

from tests.storage.conftest import PNG, error_code, put


def test_raw_put_stores_the_bytes_and_answers_201_with_the_metadata(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "notes/today.txt", b"hello world")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "bucket", "path", "size", "content_type", "etag", "owner", "metadata", "created_at", "updated_at"
    }  # fmt: skip
    assert body["bucket"] == "files"
    assert body["path"] == "notes/today.txt"
    assert body["size"] == 11
    assert body["content_type"] == "text/plain"
    assert body["etag"] == hashlib.sha256(b"hello world").hexdigest()
    assert response["ETag"] == f'"{body["etag"]}"'
    assert body["created_at"].endswith("Z")
    assert len(backend.keys()) == 1
    assert service.client.get("/v1/storage/objects/files/notes/today.txt").getvalue() == b"hello world"


def test_user_metadata_comes_from_the_x_baas_metadata_header(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "a.txt", b"x", HTTP_X_BAAS_METADATA=json.dumps({"album": "summer", "n": 3}))
    assert response.status_code == 201
    assert response.json()["metadata"] == {"album": "summer", "n": 3}


def test_metadata_that_is_not_a_json_object_is_refused(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "a.txt", b"x", HTTP_X_BAAS_METADATA="[1, 2]")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    details = response.json()["error"]["details"]
    assert list(details) == ["metadata"]
    assert [entry["code"] for entry in details["metadata"]] == ["invalid_type"]
    assert backend.keys() == []


def test_metadata_over_8_kib_is_refused_with_the_limit(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "a.txt", b"x", HTTP_X_BAAS_METADATA=json.dumps({"n": "n" * 9000}))
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert [(entry["code"], entry["limit"]) for entry in response.json()["error"]["details"]["metadata"]] == [
        ("too_large", 8192)
    ]
    assert backend.keys() == []


def test_multipart_post_streams_the_file_part(backend, service, make_bucket):
    make_bucket("files")
    payload = PNG + bytes(range(256)) * 100
    boundary = "BoUnDaRy"
    upload = _file("photo.png", payload, "image/png")
    body = encode_multipart(boundary, {"metadata": json.dumps({"by": "camera"}), "file": upload})
    response = service.client.post(
        "/v1/storage/objects/files/pics/photo.png", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 201, response.content
    meta = response.json()
    assert meta["size"] == len(payload)
    assert meta["content_type"] == "image/png"
    assert meta["metadata"] == {"by": "camera"}
    assert meta["etag"] == hashlib.sha256(payload).hexdigest()
    assert service.client.get("/v1/storage/objects/files/pics/photo.png").getvalue() == payload


def test_multipart_post_without_a_file_part_is_refused(backend, service, make_bucket):
    make_bucket("files")
    body = encode_multipart("B0", {"metadata": "{}"})
    response = service.client.post(
        "/v1/storage/objects/files/a.bin", data=body, content_type="multipart/form-data; boundary=B0"
    )
    assert response.status_code == 400
    assert error_code(response) == "missing_body"
    assert backend.keys() == []


def test_post_that_is_not_multipart_is_refused_with_415(backend, service, make_bucket):
    make_bucket("files")
    response = service.client.post("/v1/storage/objects/files/a.bin", data=b"abc", content_type="text/plain")
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_an_octet_stream_upload_gets_the_sniffed_type(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "blob", PNG, content_type="application/octet-stream")
    assert response.json()["content_type"] == "image/png"
    response = put(service.client, "files", "other", b"plain bytes", content_type="application/octet-stream")
    assert response.json()["content_type"] == "application/octet-stream"


def test_overwriting_replaces_bytes_and_metadata_and_keeps_the_owner(
    backend, alice, make_bucket, django_capture_on_commit_callbacks
):
    make_bucket("files", rules={"create": "auth != null", "update": "$owner == auth.id", "read": "true"})
    first = put(alice.client, "files", "a.txt", b"one", HTTP_X_BAAS_METADATA='{"v": 1}').json()
    with django_capture_on_commit_callbacks(execute=True):
        second = put(alice.client, "files", "a.txt", b"two!").json()
    assert second["owner"] == first["owner"] == alice.id
    assert second["created_at"] == first["created_at"]
    assert second["etag"] == hashlib.sha256(b"two!").hexdigest()
    assert second["metadata"] == {}
    assert alice.client.get("/v1/storage/objects/files/a.txt").getvalue() == b"two!"
    assert len(backend.keys()) == 1  # the first version's bytes are gone


def test_if_none_match_star_refuses_to_overwrite(backend, service, make_bucket):
    make_bucket("files")
    assert put(service.client, "files", "a.txt", b"one", HTTP_IF_NONE_MATCH="*").status_code == 201
    response = put(service.client, "files", "a.txt", b"two", HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 412
    assert error_code(response) == "precondition_failed"
    assert service.client.get("/v1/storage/objects/files/a.txt").getvalue() == b"one"
    assert len(backend.keys()) == 1


def test_if_match_with_a_stale_etag_refuses_to_overwrite(backend, service, make_bucket):
    make_bucket("files")
    etag = put(service.client, "files", "a.txt", b"one").json()["etag"]
    assert put(service.client, "files", "a.txt", b"two", HTTP_IF_MATCH=f'"{etag}"').status_code == 201
    response = put(service.client, "files", "a.txt", b"three", HTTP_IF_MATCH=f'"{etag}"')
    assert response.status_code == 412
    assert service.client.get("/v1/storage/objects/files/a.txt").getvalue() == b"two"


def test_an_empty_body_is_refused_and_nothing_is_stored(backend, service, make_bucket):
    make_bucket("files")
    response = put(service.client, "files", "a.txt", b"")
    assert response.status_code == 400
    assert error_code(response) == "missing_body"
    assert backend.keys() == []


def test_a_put_without_any_body_is_refused(backend, service, make_bucket):
    make_bucket("files")
    response = service.client.generic("PUT", "/v1/storage/objects/files/a.txt", CONTENT_LENGTH="")
    assert response.status_code == 400
    assert error_code(response) == "missing_body"
    assert backend.keys() == []


def _file(name: str, data: bytes, content_type: str):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)
