"""`/v1/storage/buckets`: managed by the service role and staff only, validated when saved."""

from __future__ import annotations

import pytest

from tests.storage.conftest import error_code

BUCKET = {
    "name": "avatars",
    "public": True,
    "max_size": 1048576,
    "allowed_types": ["image/*", "application/pdf"],
    "rules": {"create": "auth != null && request.size < 100000", "delete": "$owner == auth.id"},
}


@pytest.mark.parametrize("manager", ["service", "staff"])
def test_service_and_staff_create_read_change_and_delete_buckets(personas, manager):
    client = personas[manager].client
    response = client.post("/v1/storage/buckets", BUCKET, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {key: body[key] for key in ("name", "public", "max_size", "allowed_types")} == {
        "name": "avatars",
        "public": True,
        "max_size": 1048576,
        "allowed_types": ["image/*", "application/pdf"],
    }
    assert body["rules"] == {"read": None, "update": None, **BUCKET["rules"]}
    assert client.get("/v1/storage/buckets/avatars").json() == body
    changed = client.patch("/v1/storage/buckets/avatars", {"public": False, "rules": {"read": "true"}}, format="json")
    assert changed.status_code == 200
    assert changed.json()["public"] is False
    assert changed.json()["rules"]["read"] == "true"
    assert changed.json()["rules"]["delete"] == "$owner == auth.id"  # merged, not replaced
    assert client.delete("/v1/storage/buckets/avatars").status_code == 204
    assert client.get("/v1/storage/buckets/avatars").status_code == 404


@pytest.mark.parametrize(("persona", "status"), [("anonymous", 401), ("alice", 403), ("bob", 403)])
def test_others_may_not_touch_buckets(personas, make_bucket, persona, status):
    make_bucket("files")
    client = personas[persona].client
    assert client.get("/v1/storage/buckets").status_code == status
    assert client.post("/v1/storage/buckets", {"name": "mine"}, format="json").status_code == status
    assert client.get("/v1/storage/buckets/files").status_code == status
    assert client.patch("/v1/storage/buckets/files", {"public": True}, format="json").status_code == status
    assert client.delete("/v1/storage/buckets/files").status_code == status


def test_a_new_bucket_has_no_rules_and_is_private(service):
    body = service.client.post("/v1/storage/buckets", {"name": "plain"}, format="json").json()
    assert body["public"] is False
    assert body["max_size"] is None
    assert body["allowed_types"] == []
    assert body["rules"] == {"read": None, "create": None, "update": None, "delete": None}


def test_buckets_are_listed_by_name_with_a_cursor(service, make_bucket):
    for name in ("c-bucket", "a-bucket", "b-bucket"):
        make_bucket(name)
    first = service.client.get("/v1/storage/buckets", {"limit": 2}).json()
    assert [b["name"] for b in first["items"]] == ["a-bucket", "b-bucket"]
    second = service.client.get("/v1/storage/buckets", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [b["name"] for b in second["items"]] == ["c-bucket"]
    assert second["next_cursor"] is None


def test_an_invalid_rule_is_refused_with_its_position(service):
    response = service.client.post(
        "/v1/storage/buckets", {"name": "bad", "rules": {"read": "auth.id == "}}, format="json"
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_rule"
    details = response.json()["error"]["details"]
    assert details["operation"] == "read"
    assert {"line", "column"} <= set(details)


def test_request_is_refused_in_a_read_rule(service):
    response = service.client.post(
        "/v1/storage/buckets", {"name": "bad", "rules": {"read": "request.size < 10"}}, format="json"
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_rule"


def test_a_document_own_field_is_unknown_in_bucket_rules(service):
    response = service.client.post(
        "/v1/storage/buckets", {"name": "bad", "rules": {"read": "$version == 1"}}, format="json"
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_rule"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": "Bad Name"}, "name", "invalid_bucket_name"),
        ({"name": "x"}, "name", "invalid_bucket_name"),
        ({"name": 7}, "name", "invalid_bucket_name"),
        ({"name": "ok-name", "public": "yes"}, "public", "invalid_type"),
        ({"name": "ok-name", "max_size": 0}, "max_size", "invalid"),
        ({"name": "ok-name", "max_size": "big"}, "max_size", "invalid_type"),
        ({"name": "ok-name", "allowed_types": "image/png"}, "allowed_types", "invalid_type"),
        ({"name": "ok-name", "allowed_types": ["not a type"]}, "allowed_types", "invalid"),
        ({"name": "ok-name", "rules": ["true"]}, "rules", "invalid_type"),
        ({"name": "ok-name", "rules": {"list": "true"}}, "rules.list", "unknown_field"),
        ({"name": "ok-name", "rules": {"read": 1}}, "rules.read", "invalid_type"),
        ({"name": "ok-name", "colour": "blue"}, "colour", "unknown_field"),
        ({}, "name", "required"),
    ],
)
def test_bad_bucket_settings_are_refused_field_by_field(service, fields, field, code):
    response = service.client.post("/v1/storage/buckets", fields, format="json")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    details = response.json()["error"]["details"]
    assert list(details) == [field]
    assert [entry["code"] for entry in details[field]] == [code]
    assert all(set(entry) == {"code", "message"} and entry["message"] for entry in details[field])


@pytest.mark.parametrize("method", ["post", "patch"])
def test_every_unknown_bucket_field_is_named(service, make_bucket, method):
    make_bucket("files")
    url = "/v1/storage/buckets" if method == "post" else "/v1/storage/buckets/files"
    body = {"name": "files" if method == "patch" else "fresh", "colour": "blue", "Public": True, "public": True}
    response = getattr(service.client, method)(url, body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    details = response.json()["error"]["details"]
    assert sorted(details) == ["Public", "colour"]
    assert [entry["code"] for field in details for entry in details[field]] == ["unknown_field", "unknown_field"]
    assert service.client.get("/v1/storage/buckets/fresh").status_code == 404  # nothing was created
    assert service.client.get("/v1/storage/buckets/files").json()["public"] is False  # nor changed


@pytest.mark.parametrize("body", [["files"], "files", 7])
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_bucket_body_that_is_not_an_object_is_an_invalid_request(service, make_bucket, method, body):
    make_bucket("files")
    url = "/v1/storage/buckets" if method == "post" else "/v1/storage/buckets/files"
    response = getattr(service.client, method)(url, body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


def test_a_duplicate_bucket_name_answers_409(service, make_bucket):
    make_bucket("files")
    response = service.client.post("/v1/storage/buckets", {"name": "files"}, format="json")
    assert response.status_code == 409
    assert error_code(response) == "conflict"


def test_a_bucket_that_holds_objects_cannot_be_deleted(backend, service, make_bucket):
    make_bucket("files")
    service.client.put("/v1/storage/objects/files/a.txt", data=b"x", content_type="text/plain")
    response = service.client.delete("/v1/storage/buckets/files")
    assert response.status_code == 409
    assert error_code(response) == "conflict"
    assert response.json()["error"]["details"] == {"reason": "bucket_not_empty", "bucket": "files"}
    assert service.client.get("/v1/storage/buckets/files").status_code == 200


def test_renaming_a_bucket_is_refused(service, make_bucket):
    make_bucket("files")
    response = service.client.patch("/v1/storage/buckets/files", {"name": "other"}, format="json")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert [entry["code"] for entry in response.json()["error"]["details"]["name"]] == ["read_only"]
    assert service.client.patch("/v1/storage/buckets/files", {"name": "files"}, format="json").status_code == 200


def test_exact_allowed_types_are_normalized(service):
    body = service.client.post(
        "/v1/storage/buckets", {"name": "pics", "allowed_types": ["Image/JPG", "image/*"]}, format="json"
    ).json()
    assert body["allowed_types"] == ["image/jpeg", "image/*"]
