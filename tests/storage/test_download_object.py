"""GET and HEAD of an object: streamed bytes, validators, ranges, conditional requests."""

from __future__ import annotations

import pytest
from django.utils.http import http_date

from tests.storage.conftest import error_code, put

DATA = bytes(range(256)) * 40  # 10,240 bytes
URL = "/v1/storage/objects/files/docs/report.bin"


@pytest.fixture
def stored(backend, service, make_bucket):  # type: ignore[no-untyped-def]
    make_bucket("files")
    meta = put(service.client, "files", "docs/report.bin", DATA, content_type="application/x-report").json()
    return meta


def test_get_answers_the_bytes_with_length_type_etag_and_last_modified(service, stored):
    response = service.client.get(URL)
    assert response.status_code == 200
    assert not response.streaming  # a small object is read in one piece (services.SMALL_OBJECT_BYTES)
    assert response.getvalue() == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Content-Type"] == "application/x-report"
    assert response["ETag"] == f'"{stored["etag"]}"'
    assert response["Last-Modified"].endswith("GMT")
    assert response["Accept-Ranges"] == "bytes"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_an_object_larger_than_a_small_one_is_streamed(backend, service, make_bucket):
    from storage.services import SMALL_OBJECT_BYTES

    make_bucket("files")
    data = bytes(range(256)) * (SMALL_OBJECT_BYTES // 256 + 1)
    assert put(service.client, "files", "big.bin", data, content_type="application/x-big").status_code == 201
    response = service.client.get("/v1/storage/objects/files/big.bin")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Length"] == str(len(data))
    assert b"".join(response.streaming_content) == data
    ranged = service.client.get("/v1/storage/objects/files/big.bin", HTTP_RANGE=f"bytes=1-{SMALL_OBJECT_BYTES + 1}")
    assert ranged.status_code == 206 and ranged.streaming
    assert b"".join(ranged.streaming_content) == data[1 : SMALL_OBJECT_BYTES + 2]


def test_content_disposition_is_inline_by_default_and_attachment_with_download(service, stored):
    assert service.client.get(URL)["Content-Disposition"] == 'inline; filename="report.bin"'
    assert service.client.get(URL + "?download=1")["Content-Disposition"] == 'attachment; filename="report.bin"'


def test_html_and_svg_are_always_served_as_attachments(backend, service, make_bucket):
    make_bucket("files")
    put(service.client, "files", "page.html", b"<script>alert(1)</script>", content_type="text/html")
    response = service.client.get("/v1/storage/objects/files/page.html")
    assert response["Content-Disposition"].startswith("attachment")


def test_head_answers_the_headers_without_a_body(service, stored):
    response = service.client.head(URL)
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == str(len(DATA))
    assert response["ETag"] == f'"{stored["etag"]}"'


def test_a_single_range_answers_206_with_content_range(service, stored):
    response = service.client.get(URL, HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response.getvalue() == DATA[100:200]
    assert response["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    assert response["Content-Length"] == "100"


def test_open_ended_and_suffix_ranges(service, stored):
    tail = service.client.get(URL, HTTP_RANGE="bytes=10000-")
    assert tail.status_code == 206
    assert tail.getvalue() == DATA[10000:]
    last = service.client.get(URL, HTTP_RANGE="bytes=-16")
    assert last.getvalue() == DATA[-16:]
    assert last["Content-Range"] == f"bytes {len(DATA) - 16}-{len(DATA) - 1}/{len(DATA)}"


def test_a_range_past_the_end_is_clamped(service, stored):
    response = service.client.get(URL, HTTP_RANGE="bytes=10200-99999")
    assert response.status_code == 206
    assert response.getvalue() == DATA[10200:]


def test_a_range_starting_beyond_the_object_answers_416(service, stored):
    response = service.client.get(URL, HTTP_RANGE=f"bytes={len(DATA)}-")
    assert response.status_code == 416
    assert error_code(response) == "range_not_satisfiable"
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


def test_several_ranges_are_served_as_the_whole_object(service, stored):
    response = service.client.get(URL, HTTP_RANGE="bytes=0-9,20-29")
    assert response.status_code == 200
    assert response.getvalue() == DATA


def test_a_malformed_range_is_ignored_and_the_whole_object_served(service, stored):
    response = service.client.get(URL, HTTP_RANGE="pages=1-2")
    assert response.status_code == 200
    assert response.getvalue() == DATA


def test_if_none_match_with_the_current_etag_answers_304(service, stored):
    response = service.client.get(URL, HTTP_IF_NONE_MATCH=f'"{stored["etag"]}"')
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == f'"{stored["etag"]}"'
    assert service.client.get(URL, HTTP_IF_NONE_MATCH=f'W/"{stored["etag"]}"').status_code == 304


def test_if_none_match_with_another_etag_serves_the_object(service, stored):
    response = service.client.get(URL, HTTP_IF_NONE_MATCH='"something-else"')
    assert response.status_code == 200
    assert response.getvalue() == DATA


def test_if_modified_since_a_later_date_answers_304(service, stored):
    response = service.client.get(URL, HTTP_IF_MODIFIED_SINCE=http_date(4102444800))  # 2100
    assert response.status_code == 304


def test_if_range_with_a_stale_etag_serves_the_whole_object(service, stored):
    response = service.client.get(URL, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"stale"')
    assert response.status_code == 200
    assert response.getvalue() == DATA
    fresh = service.client.get(URL, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f'"{stored["etag"]}"')
    assert fresh.status_code == 206


def test_any_accept_header_still_gets_the_bytes(service, stored):
    response = service.client.get(URL, HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert response.getvalue() == DATA


def test_a_missing_object_answers_404_in_the_error_shape(service, stored):
    response = service.client.get("/v1/storage/objects/files/nope.bin")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_an_unknown_bucket_answers_404(backend, service, db):
    response = service.client.get("/v1/storage/objects/nobucket/a.txt")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_a_public_bucket_serves_anonymous_callers(backend, service, anonymous, make_bucket):
    make_bucket("pub", public=True)
    put(service.client, "pub", "logo.txt", b"hi")
    response = anonymous.client.get("/v1/storage/objects/pub/logo.txt")
    assert response.status_code == 200
    assert response.getvalue() == b"hi"
    assert response["Cache-Control"].startswith("public")


def test_a_private_bucket_without_rules_refuses_anonymous_callers(backend, service, anonymous, make_bucket):
    make_bucket("priv")
    put(service.client, "priv", "secret.txt", b"hi")
    response = anonymous.client.get("/v1/storage/objects/priv/secret.txt")
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
