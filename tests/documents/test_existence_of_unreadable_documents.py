"""A caller who may not read a document learns nothing about whether it exists: every operation
answers an existing-but-unreadable id exactly as an absent one (status, code, message, details),
alone or inside a batch. See docs/documents.md, "Existence of documents"."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PRIVATE_RULES = {
    "read": "$owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}


@pytest.fixture
def secret(make_collection, alice_api):
    make_collection("secrets", rules=PRIVATE_RULES)
    response = alice_api.post("/v1/db/secrets", {"id": "taken", "data": {"n": 1, "tags": "x"}}, format="json")
    assert response.status_code == 201
    alice_api.patch("/v1/db/secrets/taken", {"data": {"n": 2}}, format="json")  # version 2


def answer(response: Any, doc_id: str) -> tuple[int, str]:
    """Status and body with the probed id blanked out (ids appear in messages on purpose)."""
    return response.status_code, response.content.decode().replace(doc_id, "<id>")


def both(call: Any) -> tuple[tuple[int, str], tuple[int, str]]:
    return answer(call("taken"), "taken"), answer(call("absent"), "absent")


SINGLE_PROBES = {
    "get": lambda c, i: c.get(f"/v1/db/secrets/{i}"),
    "patch": lambda c, i: c.patch(f"/v1/db/secrets/{i}", {"data": {"n": 9}}, format="json"),
    "patch stale if-match": lambda c, i: c.patch(
        f"/v1/db/secrets/{i}", {"data": {"n": 9}}, format="json", HTTP_IF_MATCH='"1"'
    ),
    "patch current if-match": lambda c, i: c.patch(
        f"/v1/db/secrets/{i}", {"data": {"n": 9}}, format="json", HTTP_IF_MATCH='"2"'
    ),
    "patch if-match star": lambda c, i: c.patch(f"/v1/db/secrets/{i}", {"data": {}}, format="json", HTTP_IF_MATCH="*"),
    "patch ops on stored data": lambda c, i: c.patch(
        f"/v1/db/secrets/{i}", {"ops": {"tags": {"array_union": ["y"]}, "n": {"increment": 1}}}, format="json"
    ),
    "delete": lambda c, i: c.delete(f"/v1/db/secrets/{i}"),
    "delete stale if-match": lambda c, i: c.delete(f"/v1/db/secrets/{i}", HTTP_IF_MATCH='"1"'),
    "delete weak if-match": lambda c, i: c.delete(f"/v1/db/secrets/{i}", HTTP_IF_MATCH='W/"2"'),
}


@pytest.mark.parametrize("probe", sorted(SINGLE_PROBES))
def test_another_user_cannot_tell_taken_from_absent(secret, bob_api, probe):
    existing, absent = both(lambda doc_id: SINGLE_PROBES[probe](bob_api, doc_id))
    assert existing == absent
    assert existing[0] == 403


@pytest.mark.parametrize("probe", sorted(SINGLE_PROBES))
def test_anonymous_cannot_tell_taken_from_absent(secret, probe):
    existing, absent = both(lambda doc_id: SINGLE_PROBES[probe](APIClient(), doc_id))
    assert existing == absent
    assert existing[0] == 401


@pytest.mark.parametrize("header", [None, '"1"', '"2"', "*", 'W/"2"'])
def test_a_put_by_a_caller_who_may_neither_create_nor_read_is_refused_alike(secret, header):
    extra = {"HTTP_IF_MATCH": header} if header else {}
    existing, absent = both(
        lambda doc_id: APIClient().put(f"/v1/db/secrets/{doc_id}", {"data": {}}, format="json", **extra)
    )
    assert existing == absent
    assert existing[0] == 401


BATCH_OPS = [
    {"op": "update", "data": {"n": 3}},
    {"op": "update", "data": {"n": 3}, "if_version": 1},
    {"op": "update", "data": {"n": 3}, "if_version": 2},
    {"op": "update", "ops": {"tags": {"array_union": ["y"]}}},
    {"op": "delete"},
    {"op": "delete", "if_version": 7},
]


@pytest.mark.parametrize("op", BATCH_OPS, ids=lambda op: f"{op['op']}-{op.get('if_version')}-{'ops' in op}")
def test_a_batch_reports_the_failing_index_without_telling_taken_from_absent(secret, bob_api, op):
    def run(doc_id: str) -> Any:
        ops = [
            {"op": "create", "collection": "secrets", "data": {"mine": True}},
            {**op, "collection": "secrets", "id": doc_id},
        ]
        return bob_api.post("/v1/db/batch", {"ops": ops}, format="json")

    existing, absent = both(run)
    assert existing == absent
    assert existing[0] == 403
    assert '"index":1' in existing[1].replace(" ", "")


def test_the_owner_still_gets_precise_answers(secret, alice_api):
    stale = alice_api.patch("/v1/db/secrets/taken", {"data": {}}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert stale.json()["error"]["details"]["current_version"] == 2
    assert alice_api.patch("/v1/db/secrets/absent", {"data": {}}, format="json").status_code in (403, 404)


def test_a_writer_who_may_not_read_is_not_told_the_current_version(make_collection, alice_api, bob_api):
    make_collection("drop", rules={"read": "$owner == auth.id", "create": "auth != null", "update": "auth != null"})
    alice_api.post("/v1/db/drop", {"id": "d", "data": {}}, format="json")
    response = bob_api.patch("/v1/db/drop/d", {"data": {"x": 1}}, format="json", HTTP_IF_MATCH='"5"')
    assert response.status_code == 412
    assert "current_version" not in response.json()["error"]["details"]
    assert "is at version" not in response.json()["error"]["message"]


def test_service_and_staff_see_everything(secret, service_api):
    assert service_api.get("/v1/db/secrets/absent").status_code == 404
    stale = service_api.delete("/v1/db/secrets/taken", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412 and stale.json()["error"]["details"]["current_version"] == 2


@pytest.fixture
def hidden(make_collection, alice_api):
    """A read rule that depends on the content: an absent document is readable (404), a hidden one
    is not — so a hidden one must look absent."""
    rules = {**PRIVATE_RULES, "read": "hidden != true || $owner == auth.id"}
    make_collection("posts", rules=rules)
    response = alice_api.post("/v1/db/posts", {"id": "taken", "data": {"hidden": True}}, format="json")
    assert response.status_code == 201


CONTENT_PROBES = {
    "get": lambda c, i: c.get(f"/v1/db/posts/{i}"),
    "patch": lambda c, i: c.patch(f"/v1/db/posts/{i}", {"data": {"n": 9}}, format="json"),
    "patch if-match": lambda c, i: c.patch(f"/v1/db/posts/{i}", {"data": {}}, format="json", HTTP_IF_MATCH='"9"'),
    "delete": lambda c, i: c.delete(f"/v1/db/posts/{i}"),
    "delete if-match": lambda c, i: c.delete(f"/v1/db/posts/{i}", HTTP_IF_MATCH='"1"'),
}


@pytest.mark.parametrize("persona", ["bob", "anonymous"])
@pytest.mark.parametrize("probe", sorted(CONTENT_PROBES))
def test_a_document_hidden_by_its_content_looks_absent(hidden, bob_api, persona, probe):
    client = bob_api if persona == "bob" else APIClient()
    existing = answer(CONTENT_PROBES[probe](client, "taken"), "taken")
    absent = answer(CONTENT_PROBES[probe](client, "absent"), "absent")
    assert existing == absent
    assert existing[0] == 404


def test_a_hidden_document_in_a_batch_looks_absent(hidden, bob_api):
    def run(doc_id: str) -> Any:
        return bob_api.post(
            "/v1/db/batch", {"ops": [{"op": "delete", "collection": "posts", "id": doc_id}]}, format="json"
        )

    existing, absent = both(run)
    assert existing == absent
    assert existing[0] == 404
