"""`POST /v1/db/batch`: several writes, all or nothing."""

from __future__ import annotations

import pytest

from baas import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(notes, alice_api):
    alice_api.post("/v1/db/notes", {"id": "keep", "data": {"n": 1}}, format="json")
    alice_api.post("/v1/db/notes", {"id": "gone", "data": {}}, format="json")
    return alice_api


def test_a_batch_applies_every_op_in_order_and_returns_the_results(seeded):
    response = seeded.post(
        "/v1/db/batch",
        {
            "ops": [
                {"op": "create", "collection": "notes", "id": "new", "data": {"a": 1}},
                {"op": "set", "collection": "notes", "id": "new", "data": {"a": 2}},
                {"op": "update", "collection": "notes", "id": "keep", "ops": {"n": {"increment": 5}}, "if_version": 1},
                {"op": "delete", "collection": "notes", "id": "gone"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["op"] for r in results] == ["create", "set", "update", "delete"]
    assert results[1]["doc"]["data"] == {"a": 2} and results[1]["doc"]["version"] == 2
    assert results[2]["doc"]["data"] == {"n": 6}
    assert results[3] == {"op": "delete", "id": "gone"}
    assert seeded.get("/v1/db/notes/gone").status_code in (403, 404)


def test_one_failing_op_rolls_back_the_whole_batch_and_names_its_index(seeded):
    before = events.latest_seq()
    response = seeded.post(
        "/v1/db/batch",
        {
            "ops": [
                {"op": "create", "collection": "notes", "id": "new", "data": {"a": 1}},
                {"op": "update", "collection": "notes", "id": "keep", "data": {"n": 2}},
                {"op": "update", "collection": "notes", "id": "keep", "data": {"n": 3}, "if_version": 1},
            ]
        },
        format="json",
    )
    assert response.status_code == 412
    assert response.json()["error"]["details"]["index"] == 2
    assert seeded.get("/v1/db/notes/new").status_code in (403, 404)
    assert seeded.get("/v1/db/notes/keep").json()["data"] == {"n": 1}
    assert events.latest_seq() == before, "a rolled-back batch leaves no event"


def test_rules_apply_to_each_op_of_a_batch(seeded, bob_api):
    response = bob_api.post(
        "/v1/db/batch",
        {
            "ops": [
                {"op": "create", "collection": "notes", "data": {}},
                {"op": "delete", "collection": "notes", "id": "keep"},
            ]
        },
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["details"]["index"] == 1
    assert bob_api.get("/v1/db/notes/count").json() == {"count": 0}


@pytest.mark.parametrize(
    "ops",
    [
        [],
        "create",
        [{"op": "upsert", "collection": "notes", "id": "x"}],
        [{"op": "update", "collection": "notes"}],
        [{"op": "create"}],
        [{"op": "create", "collection": "notes", "data": {}, "extra": 1}],
        [{"op": "set", "collection": "notes", "id": "x", "data": {}, "if_version": "1"}],
    ],
)
def test_malformed_batches_are_400_and_write_nothing(seeded, ops):
    response = seeded.post("/v1/db/batch", {"ops": ops}, format="json")
    assert response.status_code == 400
    assert seeded.get("/v1/db/notes/count").json() == {"count": 2}


def test_a_batch_over_the_size_limit_is_refused(seeded, settings):
    settings.BAAS_BATCH_MAX_OPS = 3
    ops = [{"op": "create", "collection": "notes", "data": {}} for _ in range(4)]
    response = seeded.post("/v1/db/batch", {"ops": ops}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["limit"] == 3
