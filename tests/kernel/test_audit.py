"""The audit log: administrative changes made through the admin API are recorded by the services,
with who, what, the state before and after and the request id; the log is append-only; and
`GET /v1/admin/audit` filters and pages it for the service role and staff only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from baas import audit
from baas.models import AppendOnly, AuditEntry
from baas.principals import staff_principal

pytestmark = pytest.mark.django_db


def log(client: Any, **query: str) -> list[dict[str, Any]]:
    response = client.get("/v1/admin/audit", query)
    assert response.status_code == 200, response.json()
    return response.json()["items"]


def test_collection_changes_are_recorded_with_who_what_before_and_after(service_api: Any) -> None:
    created = service_api.post("/v1/db/collections", {"name": "posts"}, format="json")
    assert created.status_code == 201
    rules = {"read": "true", "create": "auth != null"}
    changed = service_api.patch(
        "/v1/db/collections/posts",
        {"rules": rules, "indexes": [{"fields": ["title"]}]},
        format="json",
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert changed.status_code == 200, changed.json()
    assert service_api.delete("/v1/db/collections/posts").status_code == 204

    entries = log(service_api, target="collection:posts")
    assert [e["action"] for e in entries] == [
        "collection.delete",
        "collection.index.create",
        "collection.rules.update",
        "collection.create",
    ]
    delete, index, rules_update, _create = entries
    assert rules_update["actor"] == {"kind": "service", "id": "service:tests", "email": None}
    assert rules_update["before"]["read"] is None and rules_update["after"]["read"] == "true"
    assert rules_update["request_id"] == "req-audit-1"
    assert index["after"] == changed.json()["indexes"][0]
    assert delete["before"]["rules"]["read"] == "true"


def test_user_administration_is_recorded_without_passwords(csrf_staff_api: Any, staff_user: Any) -> None:
    staff_api, headers = csrf_staff_api, {}
    made = staff_api.post(
        "/v1/admin/users", {"email": "pat@example.com", "password": "a fine long password"}, format="json", **headers
    )
    assert made.status_code == 201, made.json()
    user_id = made.json()["id"]
    for change in (
        {"claims": {"editor": True}},
        {"disabled": True},
        {"disabled": False},
        {"password": "another long one"},
    ):
        response = staff_api.patch(f"/v1/admin/users/{user_id}", change, format="json", **headers)
        assert response.status_code == 200, response.json()
    assert staff_api.post(f"/v1/admin/users/{user_id}/logout", **headers).status_code == 204
    assert staff_api.delete(f"/v1/admin/users/{user_id}", **headers).status_code == 204

    entries = log(staff_api, target=f"user:{user_id}")
    assert [e["action"] for e in reversed(entries)] == [
        "user.create",
        "user.claims.update",
        "user.disable",
        "user.enable",
        "user.update",
        "user.sessions.revoke",
        "user.delete",
    ]
    assert {e["actor"]["email"] for e in entries} == {staff_user.email}
    assert {e["actor"]["kind"] for e in entries} == {"staff"}
    claims = entries[-2]
    assert claims["before"] == {"claims": {}} and claims["after"] == {"claims": {"editor": True}}
    assert entries[2]["after"] == {"password": "changed"}
    text = json.dumps(entries)
    assert "a fine long password" not in text and "another long one" not in text and "argon2" not in text


def test_service_keys_are_recorded_without_their_secret(service_api: Any) -> None:
    made = service_api.post("/v1/admin/keys", {"name": "ci"}, format="json")
    assert made.status_code == 201
    key_id, secret = made.json()["id"], made.json()["secret"]
    assert service_api.delete(f"/v1/admin/keys/{key_id}").status_code == 204
    entries = log(service_api, action="key")
    assert [(e["action"], e["target"]) for e in entries][:2] == [
        ("key.revoke", f"key:{key_id}"),
        ("key.create", f"key:{key_id}"),
    ]
    assert entries[1]["after"]["name"] == "ci"
    assert secret not in json.dumps(entries) and secret[:20] not in json.dumps(entries)


def test_bucket_changes_are_recorded(service_api: Any) -> None:
    assert service_api.post("/v1/storage/buckets", {"name": "photos"}, format="json").status_code == 201
    changed = service_api.patch(
        "/v1/storage/buckets/photos", {"max_size": 1000, "rules": {"read": "true"}}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert service_api.delete("/v1/storage/buckets/photos").status_code == 204
    delete, update, create = log(service_api, target="bucket:photos")
    assert (create["action"], update["action"], delete["action"]) == ("bucket.create", "bucket.update", "bucket.delete")
    assert update["before"]["max_size"] is None and update["after"]["max_size"] == 1000
    assert update["after"]["rules"]["read"] == "true"


def test_a_refused_change_leaves_no_entry(service_api: Any) -> None:
    service_api.post("/v1/db/collections", {"name": "notes"}, format="json")
    bad = service_api.patch("/v1/db/collections/notes", {"rules": {"read": "this is not a rule ("}}, format="json")
    assert bad.status_code == 400
    assert [e["action"] for e in log(service_api, target="collection:notes")] == ["collection.create"]


def test_entries_cannot_be_changed_or_deleted() -> None:
    entry = audit.record(actor=None, action="key.create", target="key:1", after={"name": "x"})
    entry.after = {"name": "forged"}
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(action="nothing")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).after == {"name": "x"}


@pytest.mark.postgresql  # the trigger exists on PostgreSQL only
def test_the_database_refuses_to_change_or_delete_entries_on_postgresql() -> None:
    entry = audit.record(actor=None, action="key.create", target="key:1")
    table = AuditEntry._meta.db_table
    for statement in (f"UPDATE {table} SET action = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "key.create"


def test_filters_and_cursor_pages(service_api: Any) -> None:
    operator = staff_principal(user_id="u-1", email="ops@example.com")
    made = [audit.record(actor=operator, action="collection.rules.update", target=f"collection:c{n}") for n in range(5)]
    audit.record(actor=None, action="collectionish.thing", target="x")
    first = made[0]

    assert len(log(service_api, action="collection")) == 5  # a prefix up to a dot, not "collectionish"
    assert len(log(service_api, actor="OPS@example.com")) == 5
    assert len(log(service_api, actor="u-1")) == 5
    assert [e["target"] for e in log(service_api, target="collection:c3")] == ["collection:c3"]
    assert log(service_api, action="collectionish")[0]["actor"] == {"kind": "system", "id": None, "email": None}
    at = first.at.isoformat()
    assert [e["action"] for e in log(service_api, until=at)] == ["key.create"]  # the fixture's key
    assert len(log(service_api, since=at)) == 6

    seen, cursor = [], None
    while True:
        query = {"limit": "2", "action": "collection", **({"cursor": cursor} if cursor else {})}
        body = service_api.get("/v1/admin/audit", query).json()
        seen += [e["target"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"collection:c{n}" for n in reversed(range(5))]

    bad = service_api.get("/v1/admin/audit", {"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"


def test_only_the_service_role_and_staff_read_the_log(api: Any, alice_api: Any) -> None:
    assert api.get("/v1/admin/audit").status_code == 401
    assert alice_api.get("/v1/admin/audit").status_code == 403
