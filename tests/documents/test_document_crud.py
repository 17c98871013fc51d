"""Create, get, replace, merge and delete documents through the REST API."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_create_returns_the_document_with_owner_version_and_etag(notes, alice, alice_api):
    response = alice_api.post("/v1/db/notes", {"data": {"title": "hi", "public": False}}, format="json")
    assert response.status_code == 201
    doc = response.json()
    assert set(doc) == {"id", "collection", "data", "owner", "version", "created_at", "updated_at"}
    assert doc["collection"] == "notes"
    assert doc["data"] == {"title": "hi", "public": False}
    assert doc["owner"] == alice["user"]["id"]
    assert doc["version"] == 1
    assert TIMESTAMP.match(doc["created_at"]) and doc["created_at"] == doc["updated_at"]
    assert re.match(r"^[A-Za-z0-9]{20}$", doc["id"])
    assert response["ETag"] == '"1"'


def test_a_client_chosen_id_is_kept_and_a_duplicate_is_409(notes, alice_api):
    first = alice_api.post("/v1/db/notes", {"id": "my-note", "data": {}}, format="json")
    assert first.status_code == 201 and first.json()["id"] == "my-note"
    again = alice_api.post("/v1/db/notes", {"id": "my-note", "data": {"x": 1}}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert alice_api.get("/v1/db/notes/my-note").json()["data"] == {}


def test_get_returns_the_document_with_its_etag(notes, alice_api):
    created = alice_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1}}, format="json").json()
    response = alice_api.get("/v1/db/notes/n1")
    assert response.status_code == 200
    assert response.json() == created
    assert response["ETag"] == '"1"'


def test_a_missing_document_is_404_for_a_caller_who_could_read_it(notes, service_api):
    response = service_api.get("/v1/db/notes/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_put_replaces_the_data_and_bumps_the_version(notes, alice_api):
    alice_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1, "b": 2}}, format="json")
    response = alice_api.put("/v1/db/notes/n1", {"data": {"c": 3}}, format="json")
    assert response.status_code == 200
    assert response.json()["data"] == {"c": 3}
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'


def test_put_creates_an_absent_document_when_the_create_rule_allows(notes, alice, alice_api):
    response = alice_api.put("/v1/db/notes/fresh", {"data": {"a": 1}}, format="json")
    assert response.status_code == 201
    assert response.json()["owner"] == alice["user"]["id"]
    assert response.json()["version"] == 1


def test_patch_merges_top_level_keys(notes, alice_api):
    alice_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1, "nested": {"x": 1, "y": 2}}}, format="json")
    response = alice_api.patch("/v1/db/notes/n1", {"data": {"b": 2, "nested": {"x": 9}}}, format="json")
    assert response.status_code == 200
    assert response.json()["data"] == {"a": 1, "b": 2, "nested": {"x": 9}}
    assert response.json()["version"] == 2


def test_patch_applies_atomic_ops(notes, alice_api):
    alice_api.post(
        "/v1/db/notes", {"id": "n1", "data": {"likes": 1, "tags": ["a"], "old": True, "meta": {"k": 1}}}, format="json"
    )
    response = alice_api.patch(
        "/v1/db/notes/n1",
        {
            "ops": {
                "likes": {"increment": 2},
                "tags": {"array_union": ["a", "b"]},
                "old": {"delete": True},
                "meta.k": {"delete": True},
                "seen_at": {"server_timestamp": True},
                "counts.views": {"increment": 1},
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["likes"] == 3
    assert data["tags"] == ["a", "b"]
    assert "old" not in data and data["meta"] == {}
    assert TIMESTAMP.match(data["seen_at"])
    assert data["counts"] == {"views": 1}
    removed = alice_api.patch("/v1/db/notes/n1", {"ops": {"tags": {"array_remove": ["a"]}}}, format="json")
    assert removed.json()["data"]["tags"] == ["b"]


def test_patch_of_a_missing_document_is_404(notes, service_api):
    response = service_api.patch("/v1/db/notes/nope", {"data": {"a": 1}}, format="json")
    assert response.status_code == 404


def test_delete_removes_the_document(notes, alice_api):
    alice_api.post("/v1/db/notes", {"id": "n1", "data": {}}, format="json")
    assert alice_api.delete("/v1/db/notes/n1").status_code == 204
    assert alice_api.get("/v1/db/notes/n1").status_code in (403, 404)
    assert alice_api.delete("/v1/db/notes/n1").status_code in (403, 404)


def test_every_call_on_an_unknown_collection_is_404_for_everyone(db, api, alice_api, service_api):
    for client in (api, alice_api, service_api):
        assert client.get("/v1/db/ghosts").status_code == 404
        assert client.post("/v1/db/ghosts", {"data": {}}, format="json").status_code == 404
        assert client.get("/v1/db/ghosts/x").status_code == 404
        assert client.get("/v1/db/ghosts/count").status_code == 404
        response = client.delete("/v1/db/ghosts/x")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
