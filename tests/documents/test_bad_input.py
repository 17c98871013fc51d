"""Bad input gets a clear 400 (or 409/413) in the error shape and writes nothing."""

from __future__ import annotations

import pytest

from baas import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(notes, service_api):
    return service_api


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": []}, "data"),
        ({"data": "text"}, "data"),
        ({}, "data"),
        ({"data": {"": 1}}, "data"),
        ({"data": {"bad\u0000key": 1}}, "data"),
        ({"data": {"k" * 300: 1}}, "data"),
        ({"data": {}, "id": "../etc"}, "id"),
        ({"data": {}, "id": "x" * 129}, "id"),
        ({"data": {}, "id": "count"}, "id"),
        ({"data": {}, "id": ""}, "id"),
        ({"data": {}, "id": 7}, "id"),
    ],
)
def test_invalid_documents_are_refused_with_the_field_named(client, body, field):
    start = events.latest_seq()
    response = client.post("/v1/db/notes", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert client.get("/v1/db/notes/count").json() == {"count": 0}
    assert events.latest_seq() == start


def test_too_deep_nesting_is_refused(client, settings):
    settings.BAAS_DOCUMENT_MAX_DEPTH = 5
    deep: dict = {}
    node = deep
    for _ in range(6):
        node["n"] = {}
        node = node["n"]
    response = client.post("/v1/db/notes", {"data": deep}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["data"][0]["code"] == "too_deep"


def test_a_document_over_the_size_limit_is_refused(client, settings):
    settings.BAAS_DOCUMENT_MAX_BYTES = 2000
    response = client.post("/v1/db/notes", {"data": {"text": "x" * 3000}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["data"][0]["code"] == "too_large"


def test_a_merge_that_grows_past_the_size_limit_is_refused(client, settings):
    settings.BAAS_DOCUMENT_MAX_BYTES = 2000
    client.post("/v1/db/notes", {"id": "n", "data": {"a": "x" * 1500}}, format="json")
    response = client.patch("/v1/db/notes/n", {"data": {"b": "y" * 1500}}, format="json")
    assert response.status_code == 400
    assert client.get("/v1/db/notes/n").json()["version"] == 1


@pytest.mark.parametrize(
    "ops",
    [
        {"n": {"increment": "1"}},
        {"n": {"increment": True}},
        {"n": {"increment": 1, "delete": True}},
        {"n": {"explode": 1}},
        {"tags": {"array_union": "a"}},
        {"x": {"delete": False}},
        {"a..b": {"delete": True}},
        {"$id": {"delete": True}},
        [],
    ],
)
def test_malformed_ops_are_refused(client, ops):
    client.post("/v1/db/notes", {"id": "n", "data": {"n": 1}}, format="json")
    response = client.patch("/v1/db/notes/n", {"ops": ops}, format="json")
    assert response.status_code == 400, response.content
    assert client.get("/v1/db/notes/n").json()["version"] == 1


def _unknown_field_error(response, *fields, besides=()):
    """The one answer to unknown body fields: 400 validation_error naming each as unknown_field
    (and nothing else in `details` but the keys `besides`)."""
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert sorted(error["details"]) == sorted([*fields, *besides])
    for field in fields:
        [entry] = error["details"][field]
        assert entry["code"] == "unknown_field"
        assert entry["message"]
    return error


@pytest.mark.parametrize("bearer", [True, False], ids=["lean-path", "drf-path"])
def test_unknown_body_fields_are_refused(client, bearer):
    if not bearer:  # the same answer from DRF's dispatch (no Authorization header)
        client.credentials()
    response = client.post("/v1/db/notes", {"data": {}, "owner": "someone-else", "zz": 1}, format="json")
    _unknown_field_error(response, "owner", "zz")


def test_unknown_fields_of_a_put_or_patch_are_refused(client):
    client.post("/v1/db/notes", {"id": "n", "data": {}}, format="json")
    _unknown_field_error(client.put("/v1/db/notes/n", {"data": {}, "id": "n"}, format="json"), "id")
    _unknown_field_error(client.patch("/v1/db/notes/n", {"data": {}, "version": 3}, format="json"), "version")
    assert client.get("/v1/db/notes/n").json()["version"] == 1


def test_an_unknown_field_in_a_batch_op_is_named_by_its_path(client):
    ops = [{"op": "create", "collection": "notes", "data": {}}, {"op": "create", "collection": "notes", "dat": {}}]
    error = _unknown_field_error(
        client.post("/v1/db/batch", {"ops": ops}, format="json"), "ops.1.dat", besides=["index"]
    )
    assert error["details"]["index"] == 1
    assert client.get("/v1/db/notes/count").json() == {"count": 0}


def test_an_unknown_field_beside_ops_in_a_batch_is_refused(client):
    body = {"ops": [{"op": "create", "collection": "notes", "data": {}}], "atomic": True}
    _unknown_field_error(client.post("/v1/db/batch", body, format="json"), "atomic")


def test_a_patch_with_nothing_to_do_is_refused(client):
    client.post("/v1/db/notes", {"id": "n", "data": {}}, format="json")
    assert client.patch("/v1/db/notes/n", {}, format="json").status_code == 400


def test_a_body_that_is_not_an_object_is_refused(client):
    response = client.post("/v1/db/notes", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_malformed_op_is_named_by_its_field_path(client):
    client.post("/v1/db/notes", {"id": "n", "data": {"n": 1}}, format="json")
    response = client.patch("/v1/db/notes/n", {"ops": {"meta.n": {"explode": 1}}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["details"]) == ["ops.meta.n"]
    assert [entry["code"] for entry in error["details"]["ops.meta.n"]] == ["invalid"]


def test_a_create_without_data_names_data_as_required(client):
    response = client.post("/v1/db/notes", {"id": "n"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [entry["code"] for entry in error["details"]["data"]] == ["required"]
