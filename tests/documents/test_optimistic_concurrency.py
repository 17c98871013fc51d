"""`If-Match` / `if_version`: a stale version gets 412 and nothing is written."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def note(notes, alice_api):
    alice_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1}}, format="json")
    alice_api.patch("/v1/db/notes/n1", {"data": {"a": 2}}, format="json")  # now at version 2


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_stale_if_match_is_412_and_changes_nothing(note, alice_api, method):
    body = {"data": {"a": 99}} if method != "delete" else None
    response = getattr(alice_api, method)("/v1/db/notes/n1", body, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    error = response.json()["error"]
    assert error["code"] == "precondition_failed"
    assert error["details"]["current_version"] == 2
    current = alice_api.get("/v1/db/notes/n1").json()
    assert current["data"] == {"a": 2} and current["version"] == 2


@pytest.mark.parametrize("etag", ['"2"', '"1", "2"', '"7", W/"1", "2"', "*"])
def test_a_current_if_match_lets_the_write_through(note, alice_api, etag):
    response = alice_api.patch("/v1/db/notes/n1", {"data": {"a": 3}}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] == '"3"'


def test_if_match_on_an_absent_document_is_412(notes, alice_api):
    response = alice_api.put("/v1/db/notes/absent", {"data": {}}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412


def test_a_malformed_if_match_is_400(note, alice_api):
    response = alice_api.patch("/v1/db/notes/n1", {"data": {}}, format="json", HTTP_IF_MATCH="yesterday")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
