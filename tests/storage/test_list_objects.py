"""Listing by prefix with a keyset cursor; the read rule is an SQL filter, so pages stay full."""

from __future__ import annotations

from baas.principals import Principal, service_principal
from storage import services
from tests.storage.conftest import error_code

SERVICE = service_principal(key_id="tests", name="tests")


def _store(bucket: str, path: str, owner: str | None = None) -> None:
    principal = Principal(kind="user", id=owner, role="user") if owner else SERVICE
    services.write_object(principal=principal, bucket=bucket, path=path, data=b"x", content_type="text/plain")


def _all_pages(client, url: str, limit: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages, cursor = [], None
    while True:
        response = client.get(url, {"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([item["path"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_listing_by_prefix_returns_metadata_in_path_order(backend, service, make_bucket):
    make_bucket("files")
    for path in ("b/2.txt", "a/1.txt", "b/1.txt", "c.txt"):
        _store("files", path)
    response = service.client.get("/v1/storage/objects/files", {"prefix": "b/"})
    body = response.json()
    assert [item["path"] for item in body["items"]] == ["b/1.txt", "b/2.txt"]
    assert body["next_cursor"] is None
    assert set(body["items"][0]) == {
        "bucket", "path", "size", "content_type", "etag", "owner", "metadata", "created_at", "updated_at"
    }  # fmt: skip


def test_a_listed_object_is_the_upload_answer_and_the_event_payload(backend, alice, make_bucket):
    from baas import events

    make_bucket("files", rules={"read": "true", "create": "true"})
    start = events.latest_seq()
    uploaded = alice.client.put(
        "/v1/storage/objects/files/a.txt", data=b"x", content_type="text/plain", HTTP_X_BAAS_METADATA='{"n": 1}'
    ).json()
    listed = alice.client.get("/v1/storage/objects/files").json()["items"]
    assert listed == [uploaded]
    assert [event.after for event in events.read_after(start, topics=["storage/files"])] == [uploaded]
    assert uploaded["created_at"].endswith("Z") and len(uploaded["created_at"]) == len("2026-01-01T00:00:00.000000Z")


def test_pages_follow_the_cursor_without_gaps_or_repeats(backend, service, make_bucket):
    make_bucket("files")
    paths = [f"p/{i:03d}" for i in range(23)]
    for path in paths:
        _store("files", path)
    pages = _all_pages(service.client, "/v1/storage/objects/files", 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [path for p in pages for path in p] == paths


def test_a_cursor_stays_correct_when_objects_are_added_before_it(backend, service, make_bucket):
    make_bucket("files")
    for i in range(6):
        _store("files", f"k{i}")
    first = service.client.get("/v1/storage/objects/files", {"limit": 3}).json()
    _store("files", "a-new-one")  # sorts before the cursor
    second = service.client.get("/v1/storage/objects/files", {"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [item["path"] for item in second["items"]] == ["k3", "k4", "k5"]


def test_a_user_sees_exactly_the_objects_the_read_rule_allows_with_full_pages(backend, alice, bob, make_bucket):
    make_bucket("mixed", rules={"read": "$owner == auth.id", "create": "auth != null"})
    for i in range(12):
        _store("mixed", f"f{i:02d}", owner=alice.id if i % 3 == 0 else bob.id)
    pages = _all_pages(alice.client, "/v1/storage/objects/mixed", 2)
    assert [len(p) for p in pages] == [2, 2]
    assert [path for p in pages for path in p] == ["f00", "f03", "f06", "f09"]
    bob_paths = [path for p in _all_pages(bob.client, "/v1/storage/objects/mixed", 3) for path in p]
    assert len(bob_paths) == 8


def test_a_read_rule_on_user_metadata_filters_the_listing_in_the_database(backend, alice, bob, make_bucket):
    make_bucket("shared", rules={"read": "shared == true || $owner == auth.id", "create": "auth != null"})
    for i, shared in enumerate([True, False, True, False]):
        services.write_object(
            principal=Principal(kind="user", id=alice.id, role="user") if i == 3 else SERVICE,
            bucket="shared",
            path=f"f{i}",
            data=b"x",
            content_type="text/plain",
            metadata={"shared": shared},
        )
    assert [item["path"] for item in bob.client.get("/v1/storage/objects/shared").json()["items"]] == ["f0", "f2"]
    mine = alice.client.get("/v1/storage/objects/shared", {"limit": 2}).json()
    assert [item["path"] for item in mine["items"]] == ["f0", "f2"]
    more = alice.client.get("/v1/storage/objects/shared", {"cursor": mine["next_cursor"]}).json()
    assert [item["path"] for item in more["items"]] == ["f3"]


def test_anonymous_callers_see_nothing_of_a_private_bucket_and_everything_of_a_public_one(
    backend, anonymous, make_bucket
):
    make_bucket("priv", rules={"read": "auth != null"})
    make_bucket("pub", public=True)
    _store("priv", "a")
    _store("pub", "b")
    assert anonymous.client.get("/v1/storage/objects/priv").json()["items"] == []
    assert [i["path"] for i in anonymous.client.get("/v1/storage/objects/pub").json()["items"]] == ["b"]


def test_an_unknown_bucket_or_a_bad_cursor_is_refused(backend, service, make_bucket):
    make_bucket("files")
    assert service.client.get("/v1/storage/objects/nothing-here").status_code == 404
    response = service.client.get("/v1/storage/objects/files", {"cursor": "!!not-a-cursor"})
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert service.client.get("/v1/storage/objects/files", {"limit": 0}).status_code == 400


def test_a_prefix_with_a_traversal_is_refused(backend, service, make_bucket):
    make_bucket("files")
    response = service.client.get("/v1/storage/objects/files", {"prefix": "../"})
    assert response.status_code == 400
    assert error_code(response) == "invalid_path"
