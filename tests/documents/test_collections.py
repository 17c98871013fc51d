"""`/v1/db/collections`: staff and service manage collections, rules, schemas and indexes."""

from __future__ import annotations

import pytest

from baas import events
from documents.services import COLLECTIONS_TOPIC

pytestmark = pytest.mark.django_db


def test_service_creates_lists_reads_changes_and_deletes_a_collection(service_api):
    created = service_api.post(
        "/v1/db/collections",
        {"name": "posts", "rules": {"read": "true"}, "schema": {"type": "object"}, "indexes": [{"fields": ["tag"]}]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["rules"] == {"read": "true", "create": None, "update": None, "delete": None}
    assert body["indexes"] == [{"fields": ["tag"], "unique": False}]
    assert [c["name"] for c in service_api.get("/v1/db/collections").json()["items"]] == ["posts"]
    changed = service_api.patch("/v1/db/collections/posts", {"rules": {"read": "false"}}, format="json")
    assert changed.json()["rules"]["read"] == "false"
    assert service_api.get("/v1/db/collections/posts").json()["schema"] == {"type": "object"}
    service_api.post("/v1/db/posts", {"id": "p", "data": {}}, format="json")
    assert service_api.delete("/v1/db/collections/posts").status_code == 204
    assert service_api.get("/v1/db/posts/p").status_code == 404


def test_every_change_of_a_collection_is_announced_in_the_event_log_and_a_refused_one_is_not(service_api):
    """Readers that keep what they derived from a collection (realtime's read rules) drop it when
    the log says the collection changed; a change that was refused announces nothing."""

    def announced() -> list[tuple[str, str]]:
        return [(event.kind, event.key) for event in events.read_after(0, topics=[COLLECTIONS_TOPIC])]

    service_api.post("/v1/db/collections", {"name": "posts", "rules": {"read": "true"}}, format="json")
    service_api.patch("/v1/db/collections/posts", {"rules": {"read": "false"}}, format="json")
    refused = service_api.patch("/v1/db/collections/posts", {"rules": {"read": "(("}}, format="json")
    assert refused.status_code == 400
    service_api.patch("/v1/db/collections/posts", {"indexes": [{"fields": ["tag"]}]}, format="json")
    service_api.delete("/v1/db/collections/posts")
    service_api.post("/v1/db/collections", {"name": "posts", "rules": {"read": "true"}}, format="json")
    assert announced() == [
        ("created", "posts"),
        ("updated", "posts"),
        ("updated", "posts"),
        ("deleted", "posts"),
        ("created", "posts"),
    ]


def test_staff_may_manage_collections_and_users_may_not(csrf_staff_api, alice_api, api):
    assert csrf_staff_api.post("/v1/db/collections", {"name": "a"}, format="json").status_code == 201
    assert alice_api.post("/v1/db/collections", {"name": "b"}, format="json").status_code == 403
    assert alice_api.get("/v1/db/collections").status_code == 403
    assert api.get("/v1/db/collections").status_code == 401
    assert alice_api.delete("/v1/db/collections/a").status_code == 403


@pytest.mark.parametrize("name", ["Posts", "1posts", "po-sts", "", "batch", "collections", "x" * 64, None])
def test_invalid_collection_names_are_refused(service_api, name):
    response = service_api.post("/v1/db/collections", {"name": name}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_a_duplicate_collection_is_409(service_api):
    service_api.post("/v1/db/collections", {"name": "posts"}, format="json")
    assert service_api.post("/v1/db/collections", {"name": "posts"}, format="json").status_code == 409


def test_a_rule_that_does_not_parse_is_refused_with_its_position(service_api):
    response = service_api.post("/v1/db/collections", {"name": "posts", "rules": {"read": "public =="}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rule"
    assert error["details"]["column"] >= 9
    assert service_api.get("/v1/db/collections/posts").status_code == 404


@pytest.mark.parametrize(
    "rules",
    [{"read": "request.data.x == 1"}, {"write": "true"}, {"read": 1}, "true"],
)
def test_misplaced_or_malformed_rules_are_refused(service_api, rules):
    response = service_api.post("/v1/db/collections", {"name": "posts", "rules": rules}, format="json")
    assert response.status_code == 400


def test_an_invalid_json_schema_is_refused(service_api):
    response = service_api.post("/v1/db/collections", {"name": "posts", "schema": {"type": "nonsense"}}, format="json")
    assert response.status_code == 400
    assert "schema" in response.json()["error"]["details"]


def test_writes_must_match_the_schema_and_the_error_points_at_the_field(service_api):
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string", "maxLength": 5}, "n": {"type": "integer"}},
        "required": ["title"],
    }
    service_api.post("/v1/db/collections", {"name": "posts", "schema": schema}, format="json")
    response = service_api.post("/v1/db/posts", {"data": {"title": "too long", "n": 1}}, format="json")
    assert response.status_code == 400
    details = response.json()["error"]["details"]["data"]
    assert details[0]["pointer"] == "/title" and details[0]["code"] == "schema"
    assert service_api.post("/v1/db/posts", {"id": "ok", "data": {"title": "fine"}}, format="json").status_code == 201
    bad_patch = service_api.patch("/v1/db/posts/ok", {"ops": {"n": {"increment": 1.5}}}, format="json")
    assert bad_patch.status_code == 400
    assert bad_patch.json()["error"]["details"]["data"][0]["pointer"] == "/n"
    assert service_api.patch("/v1/db/posts/ok", {"data": {"title": None}}, format="json").status_code == 400
    assert service_api.get("/v1/db/posts/ok").json()["version"] == 1


@pytest.mark.parametrize(
    "indexes",
    [
        "tag",
        [{"fields": []}],
        [{"fields": ["a", "b", "c", "d", "e"]}],
        [{"fields": ["a; DROP TABLE x"]}],
        [{"fields": ["$nope"]}],
        [{"fields": ["tag"], "unique": "yes"}],
        [{"fields": ["tag"], "where": "x"}],
    ],
)
def test_invalid_index_definitions_are_refused(service_api, indexes):
    response = service_api.post("/v1/db/collections", {"name": "posts", "indexes": indexes}, format="json")
    assert response.status_code == 400


def _only_unknown_fields(response, *fields):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert sorted(error["details"]) == sorted(fields)
    assert all([entry["code"] for entry in error["details"][field]] == ["unknown_field"] for field in fields)


def test_unknown_fields_in_a_collection_change_are_refused(service_api):
    service_api.post("/v1/db/collections", {"name": "posts"}, format="json")
    _only_unknown_fields(service_api.patch("/v1/db/collections/posts", {"name": "other"}, format="json"), "name")
    assert service_api.get("/v1/db/collections/posts").status_code == 200


def test_unknown_fields_of_a_new_collection_are_refused(service_api):
    response = service_api.post("/v1/db/collections", {"name": "posts", "public": True}, format="json")
    _only_unknown_fields(response, "public")
    assert service_api.get("/v1/db/collections/posts").status_code == 404


def test_an_unknown_rule_operation_is_an_unknown_field_of_the_rules(service_api):
    response = service_api.post(
        "/v1/db/collections", {"name": "posts", "rules": {"read": "true", "write": "true"}}, format="json"
    )
    _only_unknown_fields(response, "rules.write")


def test_an_unknown_key_of_an_index_is_named_by_its_path(service_api):
    indexes = [{"fields": ["a"]}, {"fields": ["tag"], "where": "x"}]
    response = service_api.post("/v1/db/collections", {"name": "posts", "indexes": indexes}, format="json")
    _only_unknown_fields(response, "indexes.1.where")


def test_a_rule_of_the_wrong_type_is_named_by_its_path(service_api):
    response = service_api.post("/v1/db/collections", {"name": "posts", "rules": {"read": 1}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert [entry["code"] for entry in response.json()["error"]["details"]["rules.read"]] == ["invalid_type"]


def test_rules_read_back_with_every_operation_as_before(service_api):
    """Rules are stored with every operation now (absent ones None); the API shows the same."""
    created = service_api.post("/v1/db/collections", {"name": "posts"}, format="json").json()
    assert created["rules"] == {"read": None, "create": None, "update": None, "delete": None}
    changed = service_api.patch("/v1/db/collections/posts", {"rules": {"create": "true"}}, format="json").json()
    assert changed["rules"] == {"read": None, "create": "true", "update": None, "delete": None}
    listed = service_api.get("/v1/db/collections").json()["items"]
    assert [item["rules"] for item in listed] == [changed["rules"]]
