"""RFC 9110 conditional and range requests on objects: strong `If-Match`, weak `If-None-Match`,
tag lists and `*`, and multi-range `Range` headers (whole object, never 416 while one range fits)."""

from __future__ import annotations

import pytest

from tests.storage.conftest import error_code, put

DATA = bytes(range(256)) * 4  # 1,024 bytes
URL = "/v1/storage/objects/files/a.bin"


@pytest.fixture
def etag(backend, service, make_bucket):  # type: ignore[no-untyped-def]
    make_bucket("files")
    return put(service.client, "files", "a.bin", DATA).json()["etag"]


def test_a_weak_tag_never_satisfies_if_match_on_overwrite_or_delete(service, etag):
    response = put(service.client, "files", "a.bin", b"new", HTTP_IF_MATCH=f'W/"{etag}"')
    assert response.status_code == 412
    assert error_code(response) == "precondition_failed"
    assert service.client.delete(URL, HTTP_IF_MATCH=f'W/"{etag}"').status_code == 412
    assert service.client.get(URL).getvalue() == DATA


@pytest.mark.parametrize("header", ['"{etag}"', '"stale", "{etag}"', 'W/"x", "{etag}"', "*"])
def test_if_match_accepts_a_strong_tag_in_a_list_or_a_star(service, etag, header):
    response = put(service.client, "files", "a.bin", b"new", HTTP_IF_MATCH=header.format(etag=etag))
    assert response.status_code == 201, response.content
    assert service.client.get(URL).getvalue() == b"new"


def test_if_match_star_on_an_absent_object_is_412(service, etag):
    assert put(service.client, "files", "absent.bin", b"x", HTTP_IF_MATCH="*").status_code == 412


@pytest.mark.parametrize("header", ["yesterday", "3"])
def test_a_malformed_if_match_is_400_and_changes_nothing(service, etag, header):
    response = put(service.client, "files", "a.bin", b"new", HTTP_IF_MATCH=header)
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert service.client.get(URL).getvalue() == DATA


def test_if_match_on_get_compares_strongly(service, etag):
    assert service.client.get(URL, HTTP_IF_MATCH=f'"{etag}"').status_code == 200
    assert service.client.get(URL, HTTP_IF_MATCH=f'W/"{etag}"').status_code == 412
    assert service.client.head(URL, HTTP_IF_MATCH='"other"').status_code == 412


@pytest.mark.parametrize("header", ['"{etag}"', 'W/"{etag}"', '"other", W/"{etag}"', "*"])
def test_if_none_match_on_get_compares_weakly(service, etag, header):
    assert service.client.get(URL, HTTP_IF_NONE_MATCH=header.format(etag=etag)).status_code == 304


def test_if_none_match_on_overwrite_compares_weakly(service, etag):
    assert put(service.client, "files", "a.bin", b"new", HTTP_IF_NONE_MATCH=f'W/"{etag}"').status_code == 412
    assert put(service.client, "files", "a.bin", b"new", HTTP_IF_NONE_MATCH='"other"').status_code == 201


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=0-0,-1", "bytes=2000-3000,0-9", "bytes=0-,0-"])
def test_several_ranges_with_one_satisfiable_serve_the_whole_object(service, etag, header):
    response = service.client.get(URL, HTTP_RANGE=header)
    assert response.status_code == 200
    assert response.getvalue() == DATA
    assert "Content-Range" not in response


def test_several_ranges_none_satisfiable_are_416(service, etag):
    response = service.client.get(URL, HTTP_RANGE="bytes=2000-3000,5000-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


def test_a_range_set_with_an_invalid_part_is_ignored(service, etag):
    response = service.client.get(URL, HTTP_RANGE="bytes=0-9,x-y")
    assert response.status_code == 200
    assert response.getvalue() == DATA


def test_one_range_is_still_206(service, etag):
    response = service.client.get(URL, HTTP_RANGE="bytes= 10-19")
    assert response.status_code == 206
    assert response.getvalue() == DATA[10:20]


def test_a_malformed_validator_on_a_read_is_not_an_error(service, etag):
    assert service.client.get(URL, HTTP_IF_NONE_MATCH="yesterday").status_code == 200
    assert service.client.get(URL, HTTP_IF_MATCH="yesterday").status_code == 412
