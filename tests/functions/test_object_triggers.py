"""Object triggers fire once per upload or deletion in their bucket, under their path prefix."""

from __future__ import annotations

import pytest

from tests.functions.conftest import deploy, settle

WATCHER = """
from baas_runtime import on_object_created, on_object_deleted


@on_object_created("media", prefix="in/")
def uploaded(event, ctx):
    return event


@on_object_deleted("media")
def removed(event, ctx):
    return event
"""


WATCHER_TS = """
import { onObjectCreated, onObjectDeleted } from "baas";

export const uploaded = onObjectCreated("media", { prefix: "in/" }, (event) => event);
export const removed = onObjectDeleted("media", (event) => event);
"""
SOURCES = {"python": {"main.py": WATCHER}, "deno": {"main.ts": WATCHER_TS}}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_object_triggers_fire_once_per_event_under_their_prefix(functions_api, runtime) -> None:
    from functions.models import Invocation

    response = deploy(functions_api, "media-fn", "", files=SOURCES[runtime], permissions=["storage:read:media"])
    assert response.status_code == 201, response.json()
    assert response.json()["runtime"] == runtime
    assert functions_api.post("/v1/storage/buckets", {"name": "media"}, format="json").status_code == 201
    put = functions_api.put("/v1/storage/objects/media/in/a.txt", b"hello", content_type="text/plain")
    assert put.status_code == 201, put.content
    functions_api.put("/v1/storage/objects/media/elsewhere/b.txt", b"not watched", content_type="text/plain")
    functions_api.put("/v1/storage/objects/media/in/a.txt", b"hello again", content_type="text/plain")
    assert functions_api.delete("/v1/storage/objects/media/in/a.txt").status_code == 204

    rows = settle(Invocation.objects.filter(function__name="media-fn"))
    assert [(row.handler, row.status) for row in sorted(rows, key=lambda r: r.seq)] == [
        ("uploaded", "succeeded"),
        ("uploaded", "succeeded"),  # an overwrite is an upload too
        ("removed", "succeeded"),
    ]
    first, overwrite, removed = (row.result for row in sorted(rows, key=lambda r: r.seq))
    assert first["type"] == "object.created" and first["bucket"] == "media"
    assert first["object"]["path"] == "in/a.txt" and first["object"]["size"] == 5
    assert first["object"]["content_type"] == "text/plain" and first["before"] is None
    assert first["id"] == str(first["seq"]) and first["depth"] == 0
    assert overwrite["type"] == "object.updated" and overwrite["before"]["size"] == 5
    assert overwrite["object"]["size"] == 11
    assert removed["type"] == "object.deleted" and removed["object"] is None
    assert removed["before"]["path"] == "in/a.txt"
