"""The fast paths of the document API answer exactly like the general ones.

- Bearer requests skip DRF's dispatch (documents/api/lean.py); cookie sessions keep DRF and its
  CSRF check.
- On PostgreSQL a create outside a transaction is one statement with its event, using the
  collection as this process last saw it; a collection changed by anyone else is noticed by the
  very next create.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import partial

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from auth.models import ServiceKey, Session, User
from baas.models import Event
from baas.principals import Principal
from documents import services
from documents.models import Collection, Document
from tests.event_log_tail import tail_while_writing

pytestmark = pytest.mark.django_db(transaction=True)

OPEN_RULES = {"read": "true", "create": "auth != null", "update": "true", "delete": "true"}


def change_collection_elsewhere(name: str, **changes: object) -> None:
    """Change a collection's row as another process would: behind this process's back. On
    PostgreSQL through a connection of its own; on SQLite through the ORM, which the documents
    service does not watch either."""
    if connection.vendor != "postgresql":
        Collection.objects.filter(name=name).update(**changes, updated_at=timezone.now())
        return
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    assignments = ", ".join(f"{column} = %s::jsonb" for column in changes)
    values = [psycopg.types.json.Jsonb(value) for value in changes.values()]
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute(
            f"UPDATE documents_collection SET {assignments}, updated_at = now() WHERE name = %s", [*values, name]
        )


def post(client, collection: str, data: dict) -> object:  # type: ignore[no-untyped-def]
    return client.post(f"/v1/db/{collection}", {"data": data}, format="json")


def test_a_create_records_its_document_and_event_together(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    response = post(service_api, "notes", {"title": "hello"})
    assert response.status_code == 201, response.content
    doc = response.json()
    assert response["ETag"] == '"1"'
    stored = Document.objects.get(key=doc["id"])
    assert stored.data == {"title": "hello"} and stored.version == 1 and stored.owner is None
    event = Event.objects.get(topic="db/notes", key=doc["id"])
    assert event.kind == "created" and event.before is None and event.after == doc


@pytest.mark.parametrize("caller", ["service_api", "alice_api"])
def test_a_create_is_the_key_check_then_the_fewest_statements_its_database_allows(caller, request):
    client = request.getfixturevalue(caller)
    credential_table = "baas_auth_servicekey" if caller == "service_api" else "baas_auth_session"
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert post(client, "notes", {"n": 0}).status_code == 201  # the process now knows the collection …
    with CaptureQueriesContext(connection) as queries:
        assert post(client, "notes", {"n": 1}).status_code == 201
    statements = [query["sql"] for query in queries.captured_queries]
    assert credential_table in statements[0], statements
    if connection.vendor == "postgresql":
        # … and the caller's principal: the credential's check, the insert and its event in one
        # statement: no BEGIN/COMMIT, no collection read, no separate check.
        assert len(statements) == 1, statements
        assert "pg_advisory_xact_lock" in statements[0] and "documents_document" in statements[0]
        assert statements[0].startswith("WITH credential(")
    else:
        # SQLite: the collection read, then the document and its event in one write transaction.
        shapes = [statement.split(" (")[0].split(" WHERE")[0] for statement in statements[1:]]
        assert shapes == [
            'SELECT id, rules, schema, indexes, created_at, updated_at FROM "documents_collection"',
            "BEGIN IMMEDIATE",
            'INSERT INTO "documents_document"',
            'INSERT INTO "baas_event"',
            "COMMIT",
        ], statements


def test_a_duplicate_id_is_409_and_records_nothing(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert service_api.post("/v1/db/notes", {"data": {}, "id": "a"}, format="json").status_code == 201
    response = service_api.post("/v1/db/notes", {"data": {"again": True}, "id": "a"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert Event.objects.filter(key="a").count() == 1
    assert Document.objects.get(key="a").data == {}


def test_rules_changed_elsewhere_apply_to_the_very_next_create(alice_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert post(alice_api, "notes", {"n": 1}).status_code == 201

    change_collection_elsewhere("notes", rules={**OPEN_RULES, "create": "false"})
    refused = post(alice_api, "notes", {"n": 2})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"

    change_collection_elsewhere("notes", rules=OPEN_RULES)  # a remembered refusal is re-checked
    assert post(alice_api, "notes", {"n": 3}).status_code == 201
    assert sorted(doc.data["n"] for doc in Document.objects.all()) == [1, 3]
    assert Event.objects.filter(topic="db/notes").count() == 2


def test_a_schema_added_elsewhere_applies_to_the_very_next_create(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert post(service_api, "notes", {"n": 1}).status_code == 201
    change_collection_elsewhere("notes", schema={"type": "object", "required": ["title"]})
    response = post(service_api, "notes", {"n": 2})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["data"][0]["code"] == "schema"
    assert Document.objects.count() == 1


def test_a_collection_deleted_and_made_again_is_noticed(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert post(service_api, "notes", {"n": 1}).status_code == 201
    services.delete_collection(name="notes")
    gone = post(service_api, "notes", {"n": 2})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    services.create_collection(name="notes", rules=OPEN_RULES)
    created = post(service_api, "notes", {"n": 3})
    assert created.status_code == 201
    assert Document.objects.get(key=created.json()["id"]).collection_id == Collection.objects.get(name="notes").id


def test_read_rules_changed_elsewhere_apply_to_the_very_next_list_and_count(alice_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    for n in range(3):
        assert post(alice_api, "notes", {"n": n}).status_code == 201
    assert len(alice_api.get("/v1/db/notes").json()["items"]) == 3
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 3}

    change_collection_elsewhere("notes", rules={**OPEN_RULES, "read": "n >= 1"})
    assert sorted(item["data"]["n"] for item in alice_api.get("/v1/db/notes").json()["items"]) == [1, 2]
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 2}

    change_collection_elsewhere("notes", rules={**OPEN_RULES, "read": "false"})  # nothing readable now
    assert alice_api.get("/v1/db/notes").json() == {"items": [], "next_cursor": None}
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 0}

    change_collection_elsewhere("notes", rules=OPEN_RULES)  # and back: remembered answers are re-checked
    assert len(alice_api.get("/v1/db/notes?filter=n%20%3C%202").json()["items"]) == 2
    assert alice_api.get("/v1/db/notes/count?filter=n%20%3C%202").json() == {"count": 2}


def test_a_list_of_a_collection_deleted_and_made_again_is_noticed(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert post(service_api, "notes", {"n": 1}).status_code == 201
    assert len(service_api.get("/v1/db/notes").json()["items"]) == 1
    services.delete_collection(name="notes")
    for path in ("/v1/db/notes", "/v1/db/notes/count", "/v1/db/notes?filter=bad%20%3D%3D"):
        gone = service_api.get(path)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found", path
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert service_api.get("/v1/db/notes").json() == {"items": [], "next_cursor": None}
    assert service_api.get("/v1/db/notes/count").json() == {"count": 0}


def test_a_list_and_a_count_are_one_statement(alice_api):
    services.create_collection(name="notes", rules={**OPEN_RULES, "read": "$owner == auth.id"})
    for n in range(3):
        assert post(alice_api, "notes", {"n": n}).status_code == 201
    alice_api.get("/v1/db/notes")  # this process now knows the collection
    for path in ("/v1/db/notes?filter=n%20%3E%3D%201&limit=1", "/v1/db/notes/count?filter=n%20%3E%3D%201"):
        with CaptureQueriesContext(connection) as queries:
            assert alice_api.get(path).status_code == 200
        documents = [query["sql"] for query in queries.captured_queries if "documents_" in query["sql"]]
        assert len(documents) == 1, documents


# --- the lean bearer dispatch against DRF's -----------------------------------------------------


def test_a_session_cookie_write_without_csrf_token_is_refused(staff_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    refused = staff_api.post("/v1/db/notes", {"data": {"n": 1}}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    # Staff bypass the rules: the only reason left to refuse is the missing CSRF token.
    assert not Document.objects.exists()
    staff_api.cookies["csrftoken"] = "a" * 32
    staff_api.credentials(HTTP_X_CSRFTOKEN="a" * 32)
    accepted = staff_api.post("/v1/db/notes", {"data": {"n": 1}}, format="json")
    assert accepted.status_code == 201, accepted.content


def test_a_session_cookie_delete_without_csrf_token_is_refused(staff_api, service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    assert service_api.post("/v1/db/notes", {"data": {}, "id": "a"}, format="json").status_code == 201
    assert staff_api.delete("/v1/db/notes/a").status_code == 403
    assert Document.objects.filter(key="a").exists()


def test_bearer_and_session_answers_carry_the_same_headers(service_api, csrf_staff_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    lean_created = service_api.post("/v1/db/notes", {"data": {"n": 1}, "id": "a"}, format="json")
    drf_created = csrf_staff_api.post("/v1/db/notes", {"data": {"n": 1}, "id": "b"}, format="json")
    lean, drf = service_api.get("/v1/db/notes/a"), csrf_staff_api.get("/v1/db/notes/a")
    assert lean.json() == drf.json() == lean_created.json()
    for name in ("Content-Type", "ETag", "Allow"):
        assert lean[name] == drf[name], name
        assert lean_created[name] == drf_created[name], name
    lean_delete = service_api.delete("/v1/db/notes/a", HTTP_IF_MATCH='"1"')
    drf_delete = csrf_staff_api.delete("/v1/db/notes/b", HTTP_IF_MATCH='"1"')
    assert lean_delete.status_code == drf_delete.status_code == 204
    assert lean_delete.content == drf_delete.content == b""
    assert lean_delete.has_header("Content-Type") == drf_delete.has_header("Content-Type")
    assert lean_delete["Allow"] == drf_delete["Allow"]


def test_bearer_requests_get_drfs_answers_to_unusual_input(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    not_json = service_api.generic("POST", "/v1/db/notes", b'{"data": {', content_type="application/json")
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_request"
    assert "not acceptable JSON" in not_json.json()["error"]["message"]
    text = service_api.generic("POST", "/v1/db/notes", b"data", content_type="text/plain")
    assert text.status_code == 415 and text.json()["error"]["code"] == "unsupported_media_type"
    html_only = service_api.get("/v1/db/notes", HTTP_ACCEPT="text/html")
    assert html_only.json()["error"]["code"] == "not_acceptable"
    huge_integer = service_api.generic(
        "POST", "/v1/db/notes", b'{"data": {"n": 123456789012345678901234567890}}', content_type="application/json"
    )
    # Integers past ±(2^53 - 1) are refused at the edge (baas/jsonvalues.py), on both paths alike.
    assert huge_integer.status_code == 400 and huge_integer.json()["error"]["code"] == "validation_error"
    assert not Document.objects.exists()


def test_a_bad_bearer_token_is_refused_with_a_challenge(api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for response in (api.get("/v1/db/notes/a"), api.post("/v1/db/notes", {"data": {}}, format="json")):
        assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid"
        assert response["WWW-Authenticate"] == 'Bearer realm="baas"'
    assert not Document.objects.exists()


def test_one_statement_creates_beside_transactions_never_make_a_tailing_reader_skip_a_row():
    """The event log's ordering guarantee holds when creates append in one statement while batches
    append inside their transactions (ARCHITECTURE.md, "The event log")."""
    services.create_collection(name="notes", rules=OPEN_RULES)
    service = Principal(kind="service", id="service:tests", role="service")
    writers, writes_each = (4, 25) if connection.vendor == "postgresql" else (2, 10)
    created: list[str] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        for index in range(writes_each):
            if index % 3 == 2:
                ops = [{"op": "create", "collection": "notes", "data": {"w": number}} for _ in range(2)]
                ids = [result["id"] for result in services.batch(principal=service, ops=ops)]
            else:
                ids = [services.create_document(principal=service, collection="notes", data={"w": number})["id"]]
            with lock:
                created.extend(ids)

    seen = tail_while_writing(
        [partial(writer, number) for number in range(writers)], batch_limit=5, topics=["db/notes"]
    )
    seqs, keys = [seq for seq, _ in seen], [key for _, key in seen]
    assert seqs == sorted(set(seqs)), "rows arrive in strictly increasing sequence order"
    assert sorted(keys) == sorted(created), "every create's event is seen exactly once"


def test_a_bearer_request_acts_as_its_bearer_even_with_a_staff_session_cookie(staff_api, alice):
    services.create_collection(name="notes", rules=OPEN_RULES)
    staff_api.credentials(HTTP_AUTHORIZATION=f"Bearer {alice['access']}")
    created = staff_api.post("/v1/db/notes", {"data": {"n": 1}}, format="json")
    assert created.status_code == 201 and created.json()["owner"] == alice["user"]["id"]
    staff_api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    refused = staff_api.post("/v1/db/notes", {"data": {"n": 2}}, format="json")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_invalid"
    assert Document.objects.count() == 1


def test_a_get_with_a_service_key_checks_the_key_in_the_documents_own_statement(service_api):
    services.create_collection(name="notes", rules={"read": "false"})  # a service key reads regardless
    created = service_api.post("/v1/db/notes", {"id": "a", "data": {"n": 1}}, format="json").json()
    with CaptureQueriesContext(connection) as queries:
        response = service_api.get("/v1/db/notes/a")
    assert response.status_code == 200 and response.json() == created and response["ETag"] == '"1"'
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 1 and "baas_auth_servicekey" in statements[0] and "documents_document" in statements[0]

    missing = service_api.get("/v1/db/notes/nope")
    assert missing.status_code == 404 and missing.json()["error"]["details"] == {"id": "nope"}
    assert service_api.get("/v1/db/nowhere/a").status_code == 404


def test_a_get_with_a_revoked_or_unknown_service_key_is_refused_as_every_other_call_refuses_it(
    service_api, service_key
):
    from auth import services as auth_services

    services.create_collection(name="notes", rules={"read": "true"})
    service_api.post("/v1/db/notes", {"id": "a", "data": {"secret": 1}}, format="json")
    auth_services.revoke_service_key(name="tests")
    for secret in (service_key, service_key[:-4] + "AAAA"):
        service_api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        refused_get = service_api.get("/v1/db/notes/a")
        refused_list = service_api.get("/v1/db/notes")  # the path that checks the key on its own
        assert refused_get.status_code == refused_list.status_code == 401
        assert refused_get.json() == refused_list.json()
        assert refused_get.json()["error"]["code"] == "token_invalid"
        assert refused_get["WWW-Authenticate"] == refused_list["WWW-Authenticate"]


def test_a_get_with_a_service_key_keeps_its_last_use_up_to_the_minute(service_api):
    from auth.models import ServiceKey

    services.create_collection(name="notes", rules={"read": "true"})
    service_api.post("/v1/db/notes", {"id": "a", "data": {}}, format="json")
    long_ago = timezone.now() - timedelta(hours=1)
    ServiceKey.objects.update(last_used_at=long_ago)
    assert service_api.get("/v1/db/notes/a").status_code == 200
    touched = ServiceKey.objects.get().last_used_at
    assert touched > long_ago + timedelta(minutes=59)
    with CaptureQueriesContext(connection) as queries:
        assert service_api.get("/v1/db/notes/a").status_code == 200
    assert len(queries.captured_queries) == 1  # used a moment ago: not written again
    assert ServiceKey.objects.get().last_used_at == touched


def test_a_get_with_an_access_token_checks_the_session_in_the_documents_own_statement(alice_api, alice):
    services.create_collection(name="notes", rules={**OPEN_RULES, "read": "$owner == auth.id"})
    created = alice_api.post("/v1/db/notes", {"id": "a", "data": {"n": 1}}, format="json").json()
    with CaptureQueriesContext(connection) as queries:
        response = alice_api.get("/v1/db/notes/a")
    assert response.status_code == 200 and response.json() == created and response["ETag"] == '"1"'
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 1 and "auth_session" in statements[0] and "documents_document" in statements[0]
    assert alice_api.get("/v1/db/notes/nope").status_code == 403  # unreadable whether it exists or not


def test_a_get_with_an_ended_session_or_a_disabled_user_is_refused_as_every_other_call_refuses_it(alice_api, alice):
    from auth import services as auth_services
    from auth.models import User

    services.create_collection(name="notes", rules={"read": "true"})
    services.create_document(
        principal=Principal(kind="service", id="service:tests", role="service"), collection="notes", data={}, doc_id="a"
    )
    User.objects.filter(pk=alice["user"]["id"]).update(disabled=True)
    disabled_get, disabled_list = alice_api.get("/v1/db/notes/a"), alice_api.get("/v1/db/notes")
    assert disabled_get.status_code == disabled_list.status_code == 401
    assert disabled_get.json() == disabled_list.json()
    assert disabled_get.json()["error"] == {**disabled_get.json()["error"], "code": "token_invalid"}
    User.objects.filter(pk=alice["user"]["id"]).update(disabled=False)
    assert alice_api.get("/v1/db/notes/a").status_code == 200

    auth_services.logout(refresh=alice["refresh"], session_id=None, everywhere=False)
    ended_get, ended_list = alice_api.get("/v1/db/notes/a"), alice_api.get("/v1/db/notes")
    assert ended_get.status_code == ended_list.status_code == 401
    assert ended_get.json() == ended_list.json()
    assert ended_get.json()["error"]["code"] == "token_invalid"
    assert ended_get["WWW-Authenticate"] == ended_list["WWW-Authenticate"] == 'Bearer realm="baas"'


def test_lean_pages_and_gets_write_timestamps_as_the_general_path(service_api):
    """Lists in id order and gets take timestamps as PostgreSQL writes them (to_char); other orders
    go through the ORM and baas.timestamps. Both must give the same text, whole seconds included."""
    from datetime import UTC, datetime

    services.create_collection(name="notes", rules=OPEN_RULES)
    for key in ("a", "b", "c"):
        assert service_api.post("/v1/db/notes", {"id": key, "data": {"k": key}}, format="json").status_code == 201
    Document.objects.filter(key="a").update(created_at=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))
    Document.objects.filter(key="b").update(updated_at=datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC))
    lean = service_api.get("/v1/db/notes").json()["items"]
    general = service_api.get("/v1/db/notes", {"order": "-$created_at"}).json()["items"]
    assert sorted(general, key=lambda doc: doc["id"]) == lean
    assert lean[0]["created_at"] == "2020-01-02T03:04:05.000000Z"
    assert lean[1]["updated_at"] == "0999-12-31T23:59:59.000001Z"
    for doc in lean:
        assert service_api.get(f"/v1/db/notes/{doc['id']}").json() == doc


# A create in one statement uses the principal this process found for the credential last time
# (auth/remembered.py) and writes only when the credential's check, run in the same statement, still
# gives that principal. Whatever changed behind the process's back is told at once, nothing written.


def _remembered_create(client, collection: str = "notes") -> None:  # type: ignore[no-untyped-def]
    assert post(client, collection, {"warm": True}).status_code == 201  # principal and collection known


def test_a_session_ended_elsewhere_refuses_the_next_create(alice_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(alice_api)
    Session.objects.update(revoked_at=timezone.now(), revoked_reason="logout")
    response = post(alice_api, "notes", {"n": 2})
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid", response.content
    assert Document.objects.count() == 1 and Event.objects.filter(topic="db/notes").count() == 1
    # The order of the principal's path: the ended session is told before a bad body.
    bad = alice_api.post("/v1/db/notes", {"data": {}, "stray": 1}, format="json")
    assert bad.status_code == 401, bad.content


def test_a_user_disabled_elsewhere_is_refused_at_the_next_create(alice_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(alice_api)
    User.objects.update(disabled=True)
    response = post(alice_api, "notes", {"n": 2})
    assert response.status_code == 401 and "disabled" in response.json()["error"]["message"], response.content
    assert Document.objects.count() == 1


def test_claims_changed_elsewhere_decide_the_next_create(alice_api):
    services.create_collection(name="notes", rules={**OPEN_RULES, "create": "auth.claims.writer == true"})
    User.objects.update(claims={"writer": True})
    _remembered_create(alice_api)
    User.objects.update(claims={"writer": False})
    refused = post(alice_api, "notes", {"n": 2})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    User.objects.update(claims={"writer": True})
    assert post(alice_api, "notes", {"n": 3}).status_code == 201
    events = Event.objects.filter(topic="db/notes").order_by("seq")
    assert [event.after["data"] for event in events] == [{"warm": True}, {"n": 3}]
    assert {event.actor["id"] for event in events} == {str(User.objects.get().id)}


def test_an_email_changed_elsewhere_is_the_one_the_rule_sees(alice_api):
    rules = {**OPEN_RULES, "create": "auth.email == 'alice@example.com'"}
    services.create_collection(name="notes", rules=rules)
    _remembered_create(alice_api)
    User.objects.update(email="alice2@example.com")
    refused = post(alice_api, "notes", {"n": 2})
    assert refused.status_code == 403, refused.content
    assert Document.objects.count() == 1


def test_a_key_revoked_elsewhere_refuses_the_next_create(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(service_api)
    ServiceKey.objects.update(revoked_at=timezone.now())
    response = post(service_api, "notes", {"n": 2})
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid", response.content
    assert Document.objects.count() == 1


def test_a_key_unused_for_a_while_still_has_its_last_use_written(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(service_api)
    long_ago = timezone.now() - timedelta(hours=1)
    ServiceKey.objects.update(last_used_at=long_ago)
    assert post(service_api, "notes", {"n": 2}).status_code == 201
    assert ServiceKey.objects.get().last_used_at > long_ago


# Lists and counts by a caller this process knows check the credential in the read's own statement
# (the check's row beside the page, which is kept only when that row still gives the principal the
# page was read for); the first one checks it first, then reads. A change made elsewhere is seen at
# once either way.


def test_a_session_ended_elsewhere_refuses_the_next_list_and_count(alice_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(alice_api)
    assert alice_api.get("/v1/db/notes").status_code == 200
    Session.objects.update(revoked_at=timezone.now(), revoked_reason="logout")
    for path in ("/v1/db/notes", "/v1/db/notes/count", "/v1/db/notes?limit=nonsense"):
        response = alice_api.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid", response.content


def test_claims_changed_elsewhere_decide_the_next_list_and_count(alice_api, bob_api):
    rules = {**OPEN_RULES, "read": "auth.claims.reader == true"}
    services.create_collection(name="notes", rules=rules)
    _remembered_create(bob_api)
    User.objects.filter(email="alice@example.com").update(claims={"reader": True})
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 1}
    assert len(alice_api.get("/v1/db/notes").json()["items"]) == 1
    User.objects.filter(email="alice@example.com").update(claims={"reader": False})
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 0}
    assert alice_api.get("/v1/db/notes").json()["items"] == []


def test_a_remembered_callers_list_and_count_are_one_statement_with_the_credential_check(alice_api):
    services.create_collection(name="notes", rules={**OPEN_RULES, "read": "$owner == auth.id"})
    _remembered_create(alice_api)
    alice_api.get("/v1/db/notes")  # this process now knows the collection and the caller
    for path in ("/v1/db/notes?limit=1", "/v1/db/notes/count?filter=warm%20%3D%3D%20true"):
        with CaptureQueriesContext(connection) as queries:
            assert alice_api.get(path).status_code == 200
        assert len(queries.captured_queries) == 1, [query["sql"] for query in queries.captured_queries]
        assert "credential" in queries.captured_queries[0]["sql"]


def test_a_key_revoked_elsewhere_refuses_the_next_list_and_count(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(service_api)
    assert len(service_api.get("/v1/db/notes").json()["items"]) == 1
    ServiceKey.objects.update(revoked_at=timezone.now())
    for path in ("/v1/db/notes", "/v1/db/notes/count", "/v1/db/notes?limit=nonsense"):
        response = service_api.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid", response.content


def test_a_user_disabled_elsewhere_is_refused_at_the_next_list_and_count(alice_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(alice_api)
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 1}
    User.objects.update(disabled=True)
    for path in ("/v1/db/notes", "/v1/db/notes/count"):
        response = alice_api.get(path)
        assert response.status_code == 401 and "disabled" in response.json()["error"]["message"], response.content


def test_an_email_changed_elsewhere_is_the_one_the_read_rule_of_a_list_sees(alice_api):
    rules = {**OPEN_RULES, "read": "auth.email == 'alice@example.com'"}
    services.create_collection(name="notes", rules=rules)
    _remembered_create(alice_api)
    assert len(alice_api.get("/v1/db/notes").json()["items"]) == 1
    User.objects.update(email="alice2@example.com")
    assert alice_api.get("/v1/db/notes").json()["items"] == []
    assert alice_api.get("/v1/db/notes/count").json() == {"count": 0}


def test_a_key_unused_for_a_while_has_its_last_use_written_by_a_list(service_api):
    services.create_collection(name="notes", rules=OPEN_RULES)
    _remembered_create(service_api)
    long_ago = timezone.now() - timedelta(hours=1)
    ServiceKey.objects.update(last_used_at=long_ago)
    assert service_api.get("/v1/db/notes").status_code == 200
    assert ServiceKey.objects.get().last_used_at > long_ago


def test_a_remembered_callers_pages_follow_each_other_as_the_two_step_path_gives_them(bob_api, service_api):
    services.create_collection(name="notes", rules={**OPEN_RULES, "read": "$owner == auth.id"})
    for n in range(5):
        assert post(bob_api, "notes", {"n": n}).status_code == 201
    assert post(service_api, "notes", {"n": 99}).status_code == 201  # not bob's: never in his pages
    seen, cursor = [], None
    while True:
        query = "/v1/db/notes?limit=2&filter=n%20%3C%2010" + (f"&cursor={cursor}" if cursor else "")
        page = bob_api.get(query).json()
        seen += [item["data"]["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [0, 1, 2, 3, 4] and len(seen) == 5
    assert bob_api.get("/v1/db/notes/count").json() == {"count": 5}
