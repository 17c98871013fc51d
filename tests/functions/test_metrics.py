"""`/metrics` after real actions: invocations by function, trigger and status, retries and dead
letters, the backlog and why it waits, cold and warm sandbox starts, the latency histograms, and the
event log's head with the dispatcher's position and lag — all derived from shared state (the
database), whichever worker ran the invocations."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.functions.conftest import deploy, invoke, settle
from tests.platform.processes import wait_until

CRASHY = """
import os

from baas_runtime import on_http


@on_http
def run(event, ctx):
    if event["payload"] == "crash":
        os._exit(3)  # the sandbox dies: the next call needs a new one
    return event["payload"]
"""

ALWAYS_FAILS = """
from baas_runtime import on_document_created


@on_document_created("orders")
def charge(event, ctx):
    raise RuntimeError("the card was declined")
"""

SLOW = """
import time

from baas_runtime import on_document_created


@on_document_created("slow")
def work(event, ctx):
    time.sleep(1.5)
"""


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`: (name, sorted labels) → value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_http_invocations_by_status_with_cold_and_warm_starts_and_histograms(functions_api) -> None:
    assert deploy(functions_api, "measured", CRASHY).status_code == 201
    assert invoke(functions_api, "measured", "one").json()["invocation"]["status"] == "succeeded"
    assert invoke(functions_api, "measured", "crash").json()["invocation"]["status"] == "failed"
    assert invoke(functions_api, "measured", "two").json()["invocation"]["status"] == "succeeded"

    samples = scrape(functions_api)
    assert value(samples, "baas_function_invocations", function="measured", trigger="http", status="succeeded") == 2
    assert value(samples, "baas_function_invocations", function="measured", trigger="http", status="failed") == 1
    # The sandbox that crashed was thrown away: the call after it had to start one (cold). The
    # first call found the deploy's prewarmed sandbox, or started one itself.
    cold = value(samples, "baas_function_starts", function="measured", start="cold") or 0
    warm = value(samples, "baas_function_starts", function="measured", start="warm") or 0
    assert cold >= 1 and cold + warm == 3, (cold, warm)
    assert value(samples, "baas_function_duration_seconds_count", function="measured") == 3
    assert value(samples, "baas_function_duration_seconds_bucket", function="measured", le="+Inf") == 3
    assert value(samples, "baas_function_queue_delay_seconds_count", function="measured") == 3
    assert value(samples, "baas_function_retries", function="measured") == 0
    assert value(samples, "baas_function_backlog", function="measured", reason="queued") is None


def test_a_trigger_that_retries_and_dies_and_the_dispatchers_lag(functions_api) -> None:
    from functions import tailer
    from functions.models import Invocation

    assert (
        deploy(functions_api, "charger", ALWAYS_FAILS, max_retries=2, permissions=["db:read:orders"]).status_code == 201
    )
    functions_api.post("/v1/db/collections", {"name": "orders"}, format="json")
    functions_api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    (row,) = settle(Invocation.objects.filter(function__name="charger"))
    assert row.status == "dead" and row.attempts == 3

    samples = scrape(functions_api)
    labels = {"function": "charger", "trigger": "document.created"}
    assert value(samples, "baas_function_invocations", **labels, status="dead") == 1
    assert value(samples, "baas_function_retries", function="charger") == 2
    head = value(samples, "baas_event_log_head_seq")
    assert head and head >= 1
    assert value(samples, "baas_event_log_consumer_seq", consumer="functions.dispatcher") == head
    assert value(samples, "baas_event_log_consumer_lag_events", consumer="functions.dispatcher") == 0

    tailer.stop()  # nobody dispatches now: the next event stays behind the cursor
    functions_api.post("/v1/db/orders", {"id": "o2", "data": {}}, format="json")
    samples = scrape(functions_api)
    assert value(samples, "baas_event_log_head_seq") == head + 1
    assert value(samples, "baas_event_log_consumer_lag_events", consumer="functions.dispatcher") == 1
    tailer.start()
    assert wait_until(
        lambda: (
            value(scrape(functions_api), "baas_event_log_consumer_lag_events", consumer="functions.dispatcher") == 0
        ),
        timeout=10,
    )


def test_the_backlog_shows_invocations_waiting_for_concurrency(functions_api) -> None:
    from functions.models import Invocation

    assert deploy(functions_api, "single", SLOW, concurrency=1, permissions=["db:read:slow"]).status_code == 201
    functions_api.post("/v1/db/collections", {"name": "slow"}, format="json")
    for i in range(3):
        functions_api.post("/v1/db/slow", {"id": f"s{i}", "data": {}}, format="json")

    def waiting_for_concurrency() -> bool:
        samples = scrape(functions_api)
        waiting = value(samples, "baas_function_backlog", function="single", reason="concurrency") or 0
        oldest = value(samples, "baas_function_backlog_oldest_seconds", function="single")
        return waiting >= 1 and oldest is not None and oldest > 0

    assert wait_until(waiting_for_concurrency, timeout=10)
    rows = settle(Invocation.objects.filter(function__name="single"), timeout=30)
    assert [row.status for row in rows] == ["succeeded"] * 3
    samples = scrape(functions_api)
    assert value(samples, "baas_function_backlog", function="single", reason="concurrency") is None
    assert value(samples, "baas_function_backlog_oldest_seconds", function="single") is None
    assert (
        value(samples, "baas_function_invocations", function="single", trigger="document.created", status="succeeded")
        == 3
    )
