"""Every document write appends its change to the event log, in the same transaction."""

from __future__ import annotations

import pytest

from baas import events

pytestmark = pytest.mark.django_db


def test_create_update_delete_each_append_an_event_with_before_and_after(notes, alice, alice_api):
    start = events.latest_seq()
    created = alice_api.post("/v1/db/notes", {"id": "n1", "data": {"a": 1}}, format="json").json()
    updated = alice_api.patch("/v1/db/notes/n1", {"data": {"a": 2}}, format="json").json()
    alice_api.delete("/v1/db/notes/n1")
    logged = events.read_after(start)
    assert [(e.topic, e.kind, e.key) for e in logged] == [
        ("db/notes", "created", "n1"),
        ("db/notes", "updated", "n1"),
        ("db/notes", "deleted", "n1"),
    ]
    assert logged[0].before is None and logged[0].after == created
    assert logged[1].before == created and logged[1].after == updated
    assert logged[2].before == updated and logged[2].after is None
    assert logged[0].actor == {"kind": "user", "id": alice["user"]["id"], "role": "user"}


def test_applying_the_events_to_the_old_state_gives_the_new_state(notes, alice_api):
    """Like Zulip's test_events: a consumer that replays the log ends with the database's state."""
    start = events.latest_seq()
    alice_api.post("/v1/db/notes", {"id": "x", "data": {"n": 0}}, format="json")
    alice_api.post("/v1/db/notes", {"id": "y", "data": {}}, format="json")
    alice_api.patch("/v1/db/notes/x", {"ops": {"n": {"increment": 3}}}, format="json")
    alice_api.post(
        "/v1/db/batch",
        {
            "ops": [
                {"op": "set", "collection": "notes", "id": "z", "data": {"b": 1}},
                {"op": "delete", "collection": "notes", "id": "y"},
            ]
        },
        format="json",
    )
    replica: dict[str, dict] = {}
    for event in events.read_after(start):
        if event.kind == events.DELETED:
            del replica[event.key]
        else:
            assert replica.get(event.key) == event.before
            replica[event.key] = event.after
    listed = {doc["id"]: doc for doc in alice_api.get("/v1/db/notes").json()["items"]}
    assert replica == listed


def test_a_refused_write_appends_nothing(notes, alice_api, bob_api):
    alice_api.post("/v1/db/notes", {"id": "n1", "data": {}}, format="json")
    start = events.latest_seq()
    assert bob_api.patch("/v1/db/notes/n1", {"data": {"x": 1}}, format="json").status_code == 403
    assert alice_api.post("/v1/db/notes", {"id": "n1", "data": {}}, format="json").status_code == 409
    assert events.read_after(start) == []
