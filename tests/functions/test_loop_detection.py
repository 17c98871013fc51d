"""A function that triggers itself stops at the causation depth limit with `loop_detected`."""

from __future__ import annotations

import pytest

from tests.functions.conftest import deploy, settle

ECHO = """
from baas_runtime import db, on_document_created


@on_document_created("chain")
def again(event, ctx):
    n = event["doc"]["data"]["n"]
    db.collection("chain").create({"n": n + 1})
    return {"n": n, "depth": event["depth"]}
"""


ECHO_TS = """
import { db, onDocumentCreated } from "baas";

export const again = onDocumentCreated("chain", async (event) => {
  const n = event.doc!.data.n as number;
  await db.collection("chain").create({ n: n + 1 });
  return { n, depth: event.depth };
});
"""
SOURCES = {"python": {"main.py": ECHO}, "deno": {"main.ts": ECHO_TS}}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_a_self_triggering_function_stops_at_the_depth_limit(functions_api, settings, runtime) -> None:
    from functions.models import Invocation

    limit = settings.FUNCTIONS_MAX_DEPTH
    assert limit == 8
    response = deploy(
        functions_api, "echo", "", files=SOURCES[runtime], permissions=["db:read:chain", "db:write:chain"]
    )
    assert response.status_code == 201, response.json()
    functions_api.post("/v1/db/collections", {"name": "chain"}, format="json")
    functions_api.post("/v1/db/chain", {"data": {"n": 0}}, format="json")

    rows = sorted(settle(Invocation.objects.filter(function__name="echo"), timeout=30), key=lambda r: r.depth)
    assert [row.depth for row in rows] == list(range(limit + 2))
    ran, stopped = rows[:-1], rows[-1]
    assert all(row.status == "succeeded" for row in ran)
    assert [row.result["n"] for row in ran] == list(range(limit + 1))
    assert stopped.status == "failed" and stopped.attempts == 0
    assert stopped.error["code"] == "loop_detected" and stopped.depth == limit + 1
    # The chain's last write happened (its event is what was stopped); nothing ran after it.
    assert functions_api.get("/v1/db/chain/count").json()["count"] == limit + 2

    listed = functions_api.get("/v1/functions/echo/invocations?status=failed").json()["items"]
    assert [item["error"]["code"] for item in listed] == ["loop_detected"]
