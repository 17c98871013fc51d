"""Collection rules on every operation for anonymous, owner, other user, service and staff."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_note(notes, alice_api):
    return alice_api.post("/v1/db/notes", {"id": "private", "data": {"public": False, "t": 1}}, format="json").json()


@pytest.fixture
def public_note(notes, alice_api):
    return alice_api.post("/v1/db/notes", {"id": "open", "data": {"public": True}}, format="json").json()


def test_the_owner_may_do_everything_to_their_document(alices_note, alice_api):
    assert alice_api.get("/v1/db/notes/private").status_code == 200
    assert alice_api.patch("/v1/db/notes/private", {"data": {"t": 2}}, format="json").status_code == 200
    assert alice_api.delete("/v1/db/notes/private").status_code == 204


def test_another_user_may_neither_read_nor_change_it(alices_note, bob_api):
    assert bob_api.get("/v1/db/notes/private").status_code == 403
    assert bob_api.patch("/v1/db/notes/private", {"data": {"t": 2}}, format="json").status_code == 403
    assert bob_api.put("/v1/db/notes/private", {"data": {}}, format="json").status_code == 403
    response = bob_api.delete("/v1/db/notes/private")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_anonymous_callers_are_asked_to_sign_in(alices_note, api):
    response = api.get("/v1/db/notes/private")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert api.post("/v1/db/notes", {"data": {}}, format="json").status_code == 401


def test_a_public_document_is_readable_by_another_user_but_not_changeable(public_note, bob_api):
    assert bob_api.get("/v1/db/notes/open").status_code == 200
    assert bob_api.patch("/v1/db/notes/open", {"data": {"x": 1}}, format="json").status_code == 403


def test_a_denied_caller_cannot_tell_missing_from_forbidden(alices_note, bob_api):
    assert bob_api.get("/v1/db/notes/private").status_code == bob_api.get("/v1/db/notes/no-such-id").status_code


@pytest.mark.parametrize("persona", ["service_api", "csrf_staff_api"])
def test_service_and_staff_bypass_the_rules(alices_note, persona, request):
    client = request.getfixturevalue(persona)
    assert client.get("/v1/db/notes/private").status_code == 200
    assert client.patch("/v1/db/notes/private", {"data": {"by": persona}}, format="json").status_code == 200
    created = client.post("/v1/db/notes", {"data": {}}, format="json")
    assert created.status_code == 201 and created.json()["owner"] is None
    assert client.delete("/v1/db/notes/private").status_code == 204


def test_a_collection_without_rules_denies_everyone_but_service_and_staff(make_collection, alice_api, service_api):
    make_collection("locked", rules={})
    assert alice_api.post("/v1/db/locked", {"data": {}}, format="json").status_code == 403
    created = service_api.post("/v1/db/locked", {"id": "x", "data": {}}, format="json")
    assert created.status_code == 201
    assert alice_api.get("/v1/db/locked/x").status_code == 403
    assert alice_api.get("/v1/db/locked").json()["items"] == []


def test_create_rules_see_the_incoming_data(make_collection, alice_api):
    make_collection("posts", rules={"create": "auth != null && size(request.data.title) > 0", "read": "true"})
    assert alice_api.post("/v1/db/posts", {"data": {"title": ""}}, format="json").status_code == 403
    assert alice_api.post("/v1/db/posts", {"data": {"title": "hello"}}, format="json").status_code == 201


def test_update_rules_see_the_data_as_it_will_be(make_collection, alice_api):
    make_collection(
        "counters",
        rules={"read": "true", "create": "true", "update": "request.data.n <= 10", "delete": None},
    )
    alice_api.post("/v1/db/counters", {"id": "c", "data": {"n": 9}}, format="json")
    assert alice_api.patch("/v1/db/counters/c", {"ops": {"n": {"increment": 1}}}, format="json").status_code == 200
    assert alice_api.patch("/v1/db/counters/c", {"ops": {"n": {"increment": 1}}}, format="json").status_code == 403
    assert alice_api.get("/v1/db/counters/c").json()["data"]["n"] == 10


def test_rules_can_use_claims(make_collection, alice, alice_api, bob_api, service_api):
    make_collection("reports", rules={"read": "true", "create": "true", "delete": "auth.claims.admin == true"})
    service_api.post("/v1/db/reports", {"id": "r1", "data": {}}, format="json")
    assert bob_api.delete("/v1/db/reports/r1").status_code == 403
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"claims": {"admin": True}}, format="json")
    fresh = alice_api.post("/v1/auth/token/refresh", {"refresh": alice["refresh"]}, format="json").json()["access"]
    alice_api.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert alice_api.delete("/v1/db/reports/r1").status_code == 204
