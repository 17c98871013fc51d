"""What a run produced is recorded once, whatever it holds: NUL and lone surrogates in logs, result
and error are replaced (PostgreSQL refuses them), and a result that is not JSON at all (NaN) fails
the invocation cleanly with `result_not_storable`. Before, PostgreSQL refused the row, the
invocation stayed `running`, and the sweep re-ran it as "worker lost" three times (side effects
three times with max_retries 0)."""

from __future__ import annotations

import time

from tests.functions.conftest import deploy, settle

PRODUCER = r"""
from baas_runtime import db, on_document_created


@on_document_created("jobs")
def work(event, ctx):
    db.collection("effects").create({"event": ctx.event_id})  # not idempotent: counts the runs
    kind = event["doc"]["data"]["kind"]
    print("before\x00after")
    if kind == "nul":
        return {"text": "x\x00y", "key\x00": ["\x00"]}
    if kind == "lone":
        raise ValueError("a lone \ud800 surrogate and a \x00")
    if kind == "nan":
        return {"value": float("nan")}
    return "plain"
"""


def test_each_outcome_is_recorded_once_and_the_effect_happens_once(functions_api, platform) -> None:
    from functions.models import Invocation

    platform(FUNCTIONS_RUNNING_GRACE_SECONDS="1")  # a run left `running` would be re-run within ~2 s
    response = deploy(
        functions_api, "producer", PRODUCER, timeout=1, max_retries=0, permissions=["db:read:jobs", "db:write:effects"]
    )
    assert response.status_code == 201, response.json()
    for name in ("jobs", "effects"):
        functions_api.post("/v1/db/collections", {"name": name}, format="json")
    for kind in ("nul", "lone", "nan", "plain"):
        assert functions_api.post("/v1/db/jobs", {"id": kind, "data": {"kind": kind}}, format="json").status_code == 201

    rows = settle(Invocation.objects.filter(function__name="producer"), timeout=30)
    time.sleep(3)  # past timeout + grace + a sweep: nothing may run again
    rows = {row.event["doc"]["id"]: row for row in Invocation.objects.filter(function__name="producer")}
    assert sorted(rows) == ["lone", "nan", "nul", "plain"]
    assert {key: (row.status, row.attempts) for key, row in rows.items()} == {
        "nul": ("succeeded", 1),
        "lone": ("dead", 1),
        "nan": ("dead", 1),
        "plain": ("succeeded", 1),
    }
    assert rows["nul"].result == {"text": "x\ufffdy", "key\ufffd": ["\ufffd"]}
    assert rows["nul"].logs == "before\ufffdafter\n"
    assert rows["lone"].error["message"] == "a lone \ufffd surrogate and a \ufffd"
    assert rows["nan"].error["code"] == "result_not_storable" and rows["nan"].result is None
    assert functions_api.get("/v1/db/effects/count").json()["count"] == 4

    # The records render, for the owner as for the list.
    listed = functions_api.get("/v1/functions/producer/invocations")
    assert listed.status_code == 200 and len(listed.json()["items"]) == 4
