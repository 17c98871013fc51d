"""Multipart uploads are decided from the URL and headers before the body is read, and the form
before the file part is bounded: only `metadata`, a few KiB (issue 23, item 1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from baas.multipart import FIELDS_BUDGET
from tests.storage.conftest import error_code

BOUNDARY = "b0und4ry"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def field(name: str, value: bytes) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"


def file_part(data: bytes, name: str = "file") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n".encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


class CountingInput:
    """A WSGI input made of byte pieces, produced only as they are read; counts what was read."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        taken, self._buffer = (self._buffer, b"") if size < 0 else (self._buffer[:size], self._buffer[size:])
        self.consumed += len(taken)
        return taken

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def post(client, path: str, pieces: Iterator[bytes], length: int):  # type: ignore[no-untyped-def]
    body = CountingInput(pieces)
    response = client.generic(
        "POST", path, b"", content_type=CONTENT_TYPE, **{"wsgi.input": body, "CONTENT_LENGTH": str(length)}
    )
    return response, body.consumed


def issue_body() -> tuple[Iterator[bytes], int]:
    """The issue's request: 3,000 fields of 64 KiB before the file, built as it is read."""
    one = field("f", b"x" * 65536)
    return (one for _ in range(3000)), len(one) * 3000


@pytest.mark.parametrize("persona", ["anonymous", "alice"])
def test_an_upload_to_a_missing_bucket_is_404_unread(personas, persona, db):
    pieces, length = issue_body()
    response, consumed = post(personas[persona].client, "/v1/storage/objects/nowhere/a.txt", pieces, length)
    assert response.status_code == 404, response.content
    assert consumed == 0


def test_an_upload_the_rules_refuse_is_refused_unread(personas, make_bucket):
    make_bucket("members", rules={"create": "auth != null", "read": "true"})
    pieces, length = issue_body()
    response, consumed = post(personas["anonymous"].client, "/v1/storage/objects/members/a.txt", pieces, length)
    assert response.status_code in (401, 403), response.content
    assert consumed == 0


def test_a_declared_length_beyond_the_bucket_limit_is_413_unread(personas, make_bucket):
    make_bucket("small", max_size=1000)
    pieces, length = issue_body()
    response, consumed = post(personas["service"].client, "/v1/storage/objects/small/a.txt", pieces, length)
    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert consumed == 0


def test_fields_the_api_does_not_define_are_400_after_reading_little(backend, personas, make_bucket):
    make_bucket("files")
    pieces, _ = issue_body()
    length = 8 * 1024 * 1024  # within the bucket's object limit, so the form itself is what is refused
    response, consumed = post(personas["service"].client, "/v1/storage/objects/files/a.txt", pieces, length)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "f"
    assert consumed < 256 * 1024
    assert backend.keys() == []


def test_a_metadata_field_beyond_the_budget_is_413_after_reading_little(backend, personas, make_bucket):
    make_bucket("files")
    body = field("metadata", b"[" * (50 * 1024 * 1024)) + file_part(b"hello")
    pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
    response, consumed = post(personas["service"].client, "/v1/storage/objects/files/a.txt", pieces, len(body))
    assert response.status_code == 413
    assert consumed < 256 * 1024
    assert backend.keys() == []


def test_a_repeated_field_is_400(personas, make_bucket):
    make_bucket("files")
    body = field("metadata", b"{}") + field("metadata", b"{}") + file_part(b"hello")
    response, _ = post(personas["service"].client, "/v1/storage/objects/files/a.txt", iter([body]), len(body))
    assert response.status_code == 400


def test_metadata_within_the_budget_still_uploads(personas, make_bucket, backend):
    make_bucket("files")
    metadata = b'{"note": "%s"}' % (b"n" * 4000)
    body = field("metadata", metadata) + file_part(b"hello")
    response, _ = post(personas["service"].client, "/v1/storage/objects/files/a.txt", iter([body]), len(body))
    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == {"note": "n" * 4000}
    assert len(metadata) <= FIELDS_BUDGET
