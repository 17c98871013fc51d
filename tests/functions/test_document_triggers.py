"""Document triggers fire once per matching event, with the event as the handler receives it."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.functions.conftest import deploy, settle

RECORDER = """
from baas_runtime import on_document_created, on_document_deleted, on_document_updated, on_document_written


def _seen(event, ctx):
    return {"event": event, "ctx": {"event_id": ctx.event_id, "trigger": ctx.trigger, "attempt": ctx.attempt}}


@on_document_created("orders")
def created(event, ctx):
    return _seen(event, ctx)


@on_document_updated("orders", filter="total > 100")
def big_update(event, ctx):
    return _seen(event, ctx)


@on_document_deleted("orders")
def deleted(event, ctx):
    return _seen(event, ctx)


@on_document_written("orders")
def written(event, ctx):
    return _seen(event, ctx)
"""


RECORDER_TS = """
import { onDocumentCreated, onDocumentDeleted, onDocumentUpdated, onDocumentWritten, type Context } from "baas";

const seen = (event: unknown, ctx: Context) => ({
  event,
  ctx: { event_id: ctx.event_id, trigger: ctx.trigger, attempt: ctx.attempt },
});

export const created = onDocumentCreated("orders", seen);
export const big_update = onDocumentUpdated("orders", { filter: "total > 100" }, seen);
export const deleted = onDocumentDeleted("orders", seen);
export const written = onDocumentWritten("orders", seen);
"""
SOURCES = {"python": {"main.py": RECORDER}, "deno": {"main.ts": RECORDER_TS}}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_each_document_trigger_fires_once_with_the_event(functions_api, runtime) -> None:
    from functions.models import Invocation

    response = deploy(functions_api, "orders-fn", "", files=SOURCES[runtime], permissions=["db:read:orders"])
    assert response.json()["runtime"] == runtime
    assert response.status_code == 201, response.json()
    assert {t["type"] for t in response.json()["triggers"]} == {
        "document.created",
        "document.updated",
        "document.deleted",
        "document.written",
    }
    assert functions_api.post("/v1/db/collections", {"name": "orders"}, format="json").status_code == 201
    doc = functions_api.post("/v1/db/orders", {"id": "o1", "data": {"total": 10}}, format="json").json()
    functions_api.patch("/v1/db/orders/o1", {"data": {"total": 50}}, format="json")
    functions_api.patch("/v1/db/orders/o1", {"data": {"total": 500}}, format="json")
    assert functions_api.delete("/v1/db/orders/o1").status_code == 204

    rows = settle(Invocation.objects.filter(function__name="orders-fn"))
    assert Counter(row.handler for row in rows) == {"created": 1, "big_update": 1, "deleted": 1, "written": 4}
    assert all(row.status == "succeeded" for row in rows), [(r.handler, r.status, r.error) for r in rows]
    assert len({(row.handler, row.event_id) for row in rows}) == len(rows)  # once per (handler, event)

    by_handler = {row.handler: row for row in rows if row.handler != "written"}
    created = by_handler["created"].result
    event = created["event"]
    assert event["type"] == "document.created" and event["collection"] == "orders"
    assert event["doc"]["id"] == "o1" and event["doc"]["data"] == {"total": 10}
    assert event["doc"] == doc
    assert event["before"] is None and event["depth"] == 0
    assert event["id"] == str(event["seq"]) == by_handler["created"].event_id
    assert event["causation"] == {"invocation_id": None, "depth": 0}
    assert event["actor"]["kind"] == "service"
    assert created["ctx"] == {"event_id": event["id"], "trigger": "document.created", "attempt": 1}

    update = by_handler["big_update"].result["event"]
    assert update["type"] == "document.updated"
    assert update["before"]["data"] == {"total": 50} and update["doc"]["data"] == {"total": 500}

    gone = by_handler["deleted"].result["event"]
    assert gone["type"] == "document.deleted" and gone["doc"] is None
    assert gone["before"]["data"] == {"total": 500}

    written = sorted((row.seq, row.result["event"]["type"]) for row in rows if row.handler == "written")
    assert [kind for _, kind in written] == [
        "document.created",
        "document.updated",
        "document.updated",
        "document.deleted",
    ]
    assert all(row.queue_delay_ms is not None and row.event_at is not None for row in rows)

    listed = functions_api.get("/v1/functions/orders-fn/invocations?status=succeeded").json()["items"]
    assert {item["trigger"] for item in listed} == {
        "document.created",
        "document.updated",
        "document.deleted",
        "document.written",
    }
    assert all(item["event_id"] and item["queue_delay_ms"] is not None for item in listed)


def test_events_of_other_collections_and_before_the_deploy_do_not_fire(functions_api) -> None:
    from functions.models import Invocation

    functions_api.post("/v1/db/collections", {"name": "orders"}, format="json")
    functions_api.post("/v1/db/collections", {"name": "other"}, format="json")
    functions_api.post("/v1/db/orders", {"id": "early", "data": {"total": 1}}, format="json")
    deploy(functions_api, "late-fn", RECORDER, permissions=["db:read:orders"])
    functions_api.post("/v1/db/other", {"data": {"total": 1}}, format="json")
    functions_api.post("/v1/db/orders", {"id": "late", "data": {"total": 1}}, format="json")
    rows = settle(Invocation.objects.filter(function__name="late-fn"))
    assert sorted(row.handler for row in rows) == ["created", "written"]
    assert all(row.result["event"]["doc"]["id"] == "late" for row in rows)
