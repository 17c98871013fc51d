"""Object writes land in the event log (topic storage/<bucket>) in their own transaction."""

from __future__ import annotations

from baas import events
from tests.storage.conftest import put


def _events_since(seq: int) -> list[events.EventRecord]:
    return events.read_after(seq, topics=["storage/files"])


def test_upload_overwrite_and_delete_log_created_updated_deleted(backend, alice, make_bucket):
    make_bucket("files", rules={"create": "true", "update": "true", "delete": "true", "read": "true"})
    start = events.latest_seq()

    created = put(alice.client, "files", "a.txt", b"one").json()
    updated = put(alice.client, "files", "a.txt", b"two").json()
    assert alice.client.delete("/v1/storage/objects/files/a.txt").status_code == 204

    logged = _events_since(start)
    assert [e.kind for e in logged] == ["created", "updated", "deleted"]
    assert {e.topic for e in logged} == {"storage/files"}
    assert {e.key for e in logged} == {"a.txt"}
    assert logged[0].before is None and logged[0].after == created
    assert logged[1].before == created and logged[1].after == updated
    assert logged[2].before == updated and logged[2].after is None
    assert logged[0].actor == {"kind": "user", "id": alice.id, "role": "user"}
    assert [e.seq for e in logged] == sorted(e.seq for e in logged)


def test_refused_writes_log_nothing(backend, service, make_bucket):
    make_bucket("files", max_size=3)
    start = events.latest_seq()
    assert put(service.client, "files", "a.txt", b"too long").status_code == 413
    assert put(service.client, "files", "a/../b", b"x").status_code == 400
    assert service.client.delete("/v1/storage/objects/files/none.txt").status_code == 404
    assert _events_since(start) == []


def test_other_buckets_events_are_on_their_own_topic(backend, service, make_bucket):
    make_bucket("files")
    make_bucket("other")
    start = events.latest_seq()
    put(service.client, "other", "x.txt", b"x")
    assert _events_since(start) == []
    assert [e.topic for e in events.read_after(start)] == ["storage/other"]
