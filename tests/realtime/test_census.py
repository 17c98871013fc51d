"""realtime.census and services.realtime_overview: what operators see of realtime's state."""

from __future__ import annotations

import time

import pytest

from baas.errors import PermissionDenied
from baas.principals import Principal, staff_principal
from realtime import census, services


def test_without_redis_the_process_is_the_whole_picture(settings, db) -> None:
    settings.REDIS_URL = None
    census.publish(census.ProcessSummary(process="p", at=time.time(), connections=3))  # nothing to do
    overview = services.realtime_overview(actor=staff_principal(user_id="1", email="op@example.com"))
    assert overview.processes is None
    assert overview.connections == [] and overview.topics == {} and overview.channels == []
    assert overview.rules.version == 0


def test_summaries_are_shared_through_redis_and_dropped_at_zero(settings, redis_url) -> None:
    settings.REDIS_URL = redis_url
    mine = census.ProcessSummary(
        process=f"test-{time.time_ns()}", at=time.time(), connections=2, topics={"db/notes": 2}, channels={"lobby": 1}
    )
    census.publish(mine)
    found = {summary.process: summary for summary in census.processes() or []}
    assert found[mine.process] == mine
    census.publish(census.ProcessSummary(process=mine.process, at=time.time(), connections=0))
    assert mine.process not in {summary.process for summary in census.processes() or []}


def test_only_staff_and_the_service_role_see_it(db) -> None:
    with pytest.raises(PermissionDenied):
        services.realtime_overview(actor=Principal(kind="user", id="u1", role="user"))
