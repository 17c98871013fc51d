"""A schedule trigger fires on time through beat, and stops once its function is deleted."""

from __future__ import annotations

import itertools
import time

from tests.functions.conftest import deploy
from tests.platform.processes import wait_until

TICKER = """
from baas_runtime import db, on_schedule


@on_schedule(every=1)
def tick(event, ctx):
    db.collection("ticks").create({"time": event["time"], "type": event["type"], "event": ctx.event_id})
"""


def test_a_schedule_fires_every_second_and_stops_after_delete(functions_api, platform) -> None:
    from datetime import datetime

    from functions.models import Invocation

    platform(beat=True, FUNCTIONS_RUNNING_GRACE_SECONDS="1")
    functions_api.post("/v1/db/collections", {"name": "ticks"}, format="json")
    assert deploy(functions_api, "ticker", TICKER, permissions=["db:write:ticks"]).status_code == 201

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
