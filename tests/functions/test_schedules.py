"""A schedule trigger fires on time through beat, and stops once its function is deleted."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.functions.conftest import deploy
from tests.platform.processes import wait_until

TICKER = """
from baas_runtime import db, on_schedule


@on_schedule(every=1)
def tick(event, ctx):
    db.collection("ticks").create({"time": event["time"], "type": event["type"], "event": ctx.event_id})
"""


TICKER_TS = """
import { db, onSchedule } from "baas";

export const tick = onSchedule({ every: 1 }, async (event, ctx) => {
  await db.collection("ticks").create({ time: event.time, type: event.type, event: ctx.event_id });
});
"""
SOURCES = {"python": {"main.py": TICKER}, "deno": {"main.ts": TICKER_TS}}


@pytest.mark.parametrize("runtime", ["python", "deno"])
def test_a_schedule_fires_every_second_and_stops_after_delete(functions_api, platform, runtime) -> None:
    from datetime import datetime

    from functions.models import Invocation

    platform(beat=True, FUNCTIONS_RUNNING_GRACE_SECONDS="1")
    functions_api.post("/v1/db/collections", {"name": "ticks"}, format="json")
    response = deploy(functions_api, "ticker", "", files=SOURCES[runtime], permissions=["db:write:ticks"])
    assert response.status_code == 201, response.json()

    def count() -> int:
        return functions_api.get("/v1/db/ticks/count").json()["count"]

    assert wait_until(lambda: count() >= 4, timeout=15), count()
    rows = list(Invocation.objects.filter(function__name="ticker").order_by("event_at"))
    assert all(row.trigger == "schedule" and row.status in ("succeeded", "running", "queued") for row in rows)
    assert len({row.event_id for row in rows}) == len(rows)
    ticks = sorted(
        datetime.fromisoformat(doc["data"]["time"]) for doc in functions_api.get("/v1/db/ticks").json()["items"]
    )
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
    assert all(0.5 <= gap <= 1.6 for gap in gaps), gaps  # on time: once a second

    assert functions_api.delete("/v1/functions/ticker").status_code == 204
    time.sleep(0.3)  # a fire already on its way may still land
    settled = count()
    time.sleep(2.5)
    assert count() == settled
