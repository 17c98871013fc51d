"""RFC 9110 `If-Match` on documents: strong comparison (a weak tag never matches), lists of tags,
`*`, and the batch's `if_version`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def note(notes, alice_api):
    alice_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1}}, format="json")
    alice_api.patch("/v1/db/notes/n1", {"data": {"a": 2}}, format="json")  # now at version 2


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("header", ['W/"2"', 'W/"1", W/"2"', '"02"', '"abc"'])
def test_a_weak_or_foreign_tag_never_matches(note, alice_api, method, header):
    body = {"data": {"a": 99}} if method != "delete" else None
    response = getattr(alice_api, method)("/v1/db/notes/n1", body, format="json", HTTP_IF_MATCH=header)
    assert response.status_code == 412, response.content
    assert response.json()["error"]["code"] == "precondition_failed"
    assert alice_api.get("/v1/db/notes/n1").json()["version"] == 2


@pytest.mark.parametrize("header", ["2", "yesterday", "W/2"])
def test_an_unquoted_tag_is_malformed(note, alice_api, header):
    response = alice_api.patch("/v1/db/notes/n1", {"data": {"a": 3}}, format="json", HTTP_IF_MATCH=header)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_if_match_star_needs_an_existing_document(note, alice_api):
    assert alice_api.put("/v1/db/notes/n2", {"data": {}}, format="json", HTTP_IF_MATCH="*").status_code == 412
    assert alice_api.get("/v1/db/notes/n2").status_code in (403, 404)
    assert alice_api.put("/v1/db/notes/n1", {"data": {}}, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_a_list_of_tags_matches_any_of_them(note, alice_api):
    response = alice_api.put("/v1/db/notes/n1", {"data": {}}, format="json", HTTP_IF_MATCH='"5", "2"')
    assert response.status_code == 200
    assert response["ETag"] == '"3"'
    stale = alice_api.put("/v1/db/notes/n1", {"data": {}}, format="json", HTTP_IF_MATCH='"1", "2"')
    assert stale.status_code == 412
    assert stale.json()["error"]["details"]["expected_version"] == [1, 2]


def test_the_bearer_fast_path_compares_strongly_too(note, alice):
    from rest_framework.test import APIClient

    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {alice['access']}", "HTTP_IF_MATCH": 'W/"2"'}
    assert client.delete("/v1/db/notes/n1", **headers).status_code == 412


@pytest.mark.parametrize("if_version", [1, 0, -2, 3])
def test_a_batch_if_version_must_equal_the_current_version(note, alice_api, if_version):
    ops = [{"op": "update", "collection": "notes", "id": "n1", "data": {"a": 5}, "if_version": if_version}]
    response = alice_api.post("/v1/db/batch", {"ops": ops}, format="json")
    assert response.status_code == 412
    assert response.json()["error"]["details"]["index"] == 0
    ops[0]["if_version"] = 2
    assert alice_api.post("/v1/db/batch", {"ops": ops}, format="json").status_code == 200


@pytest.mark.parametrize("if_version", ["2", '"2"', 'W/"2"', True, 2.0])
def test_a_batch_if_version_is_a_whole_number(note, alice_api, if_version):
    ops = [{"op": "update", "collection": "notes", "id": "n1", "data": {"a": 5}, "if_version": if_version}]
    response = alice_api.post("/v1/db/batch", {"ops": ops}, format="json")
    assert response.status_code == 400
    assert alice_api.get("/v1/db/notes/n1").json()["version"] == 2
