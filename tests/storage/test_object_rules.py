"""Bucket rules per persona: anonymous, owner, other user, service, staff."""

from __future__ import annotations

import pytest

from tests.storage.conftest import error_code, put

RULES = {
    "read": "$owner == auth.id || shared == true",
    "create": "auth != null && request.size <= 1000",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}
URL = "/v1/storage/objects/photos/alice/cat.txt"


@pytest.fixture
def alices_object(backend, alice, make_bucket):  # type: ignore[no-untyped-def]
    make_bucket("photos", rules=RULES)
    response = put(alice.client, "photos", "alice/cat.txt", b"meow")
    assert response.status_code == 201
    assert response.json()["owner"] == alice.id
    return response.json()


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [("anonymous", False), ("alice", True), ("bob", False), ("service", True), ("staff", True)],
)
def test_read_follows_the_rule(personas, alices_object, persona, allowed):
    response = personas[persona].client.get(URL)
    assert response.status_code == (200 if allowed else 403)
    if allowed:
        assert response.getvalue() == b"meow"
    else:
        assert error_code(response) == "permission_denied"


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [("anonymous", False), ("alice", True), ("bob", False), ("service", True), ("staff", True)],
)
def test_overwrite_follows_the_update_rule(personas, alices_object, backend, persona, allowed):
    response = put(personas[persona].client, "photos", "alice/cat.txt", b"woof")
    assert response.status_code == (201 if allowed else 403)
    expected = b"woof" if allowed else b"meow"
    assert personas["service"].client.get(URL).getvalue() == expected


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [("anonymous", False), ("alice", True), ("bob", False), ("service", True), ("staff", True)],
)
def test_delete_follows_the_delete_rule(personas, alices_object, persona, allowed):
    response = personas[persona].client.delete(URL)
    assert response.status_code == (204 if allowed else 403)
    assert personas["service"].client.get(URL).status_code == (404 if allowed else 200)


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [("anonymous", False), ("alice", True), ("bob", True), ("service", True), ("staff", True)],
)
def test_create_follows_the_create_rule(personas, alices_object, backend, persona, allowed):
    response = put(personas[persona].client, "photos", f"new/{persona}.txt", b"fresh")
    assert response.status_code == (201 if allowed else 403)
    assert len(backend.keys()) == (2 if allowed else 1)


def test_create_rule_sees_the_real_size_of_the_upload(backend, alice, make_bucket):
    make_bucket("photos", rules=RULES)
    response = put(alice.client, "photos", "big.txt", b"x" * 1001)
    assert response.status_code == 403
    assert backend.keys() == []


def test_create_rule_sees_the_sniffed_content_type(backend, alice, make_bucket):
    from tests.storage.conftest import PNG

    make_bucket("pics", rules={"create": 'starts_with(request.content_type, "image/")'})
    assert put(alice.client, "pics", "a", PNG, content_type="application/octet-stream").status_code == 201
    assert put(alice.client, "pics", "b", b"plain", content_type="application/octet-stream").status_code == 403
    assert len(backend.keys()) == 1


def test_rules_can_read_user_metadata(personas, alices_object):
    bob = personas["bob"]
    assert bob.client.get(URL).status_code == 403
    put(personas["alice"].client, "photos", "alice/cat.txt", b"meow", HTTP_X_BAAS_METADATA='{"shared": true}')
    assert bob.client.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [("anonymous", False), ("alice", False), ("bob", False), ("service", True), ("staff", True)],
)
def test_a_bucket_without_rules_admits_only_service_and_staff(backend, personas, make_bucket, persona, allowed):
    make_bucket("closed")
    client = personas[persona].client
    assert put(client, "closed", "a.txt", b"a").status_code == (201 if allowed else 403)
    put(personas["service"].client, "closed", "b.txt", b"b")
    assert client.get("/v1/storage/objects/closed/b.txt").status_code == (200 if allowed else 403)
    listing = client.get("/v1/storage/objects/closed").json()
    assert len(listing["items"]) == (2 if allowed else 0)
