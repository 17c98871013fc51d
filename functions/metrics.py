"""Prometheus metrics of functions, read from the database when `/metrics` is scraped.

Invocations run in worker processes, which serve no HTTP; their counters would be invisible to the
web process that answers `/metrics` (prometheus_client's multiprocess mode needs a folder shared by
every process on one machine, and workers may live elsewhere). The invocation rows already hold
every figure, so the web side derives the metrics from them at scrape time: always right, whatever
process or machine ran the invocation, at the cost of a few aggregate queries per scrape (one
grouped count, one pass per histogram, one look at the oldest unfinished invocation per function).
Figures over records are gauges: they fall when invocation records are deleted with their function.

- `baas_function_invocations{function, trigger, status}` — invocation records (an invocation moves
  from queued to running to succeeded; `succeeded`, `failed` and `dead` only grow unless a dead
  one is retried by hand). `status="dead"` counts dead letters.
- `baas_function_retries{function}` — attempts beyond the first, over every record.
- `baas_function_backlog{function, reason}` — invocations not running yet: `queued` (a message is
  on its way), `retrying` (waiting out a backoff), or waiting for `order`, `concurrency`, `rate`.
- `baas_function_backlog_oldest_seconds{function}` — age of the oldest of them (event commit → now).
- `baas_function_starts{function, start}` — sandbox starts of the latest attempt of each record:
  `warm` (a sandbox of that version was idle) or `cold` (one had to be started).
- `baas_function_queue_delay_seconds{function}` — histogram: event commit (or HTTP call) → start.
- `baas_function_duration_seconds{function}` — histogram: run time of finished invocations.
- `baas_function_sandbox_info{sandbox}` — 1, labelled with the sandbox that runs functions in the
  web process: `bubblewrap`, `unsafe-local` or `unavailable` (as `GET /v1/health` says).
- The dispatcher's position in the event log (`baas_event_log_consumer_seq{consumer="functions.dispatcher"}`
  and its lag), through baas/metrics.py's event-log collector.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from baas import metrics
from functions.models import DispatchCursor, Invocation
from functions.sandbox import state

logger = logging.getLogger("baas.functions")

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
DISPATCHER = "functions.dispatcher"


class InvocationCollector(Collector):
    def describe(self) -> list[Any]:
        return []  # registering must not query the database (the default registry auto-describes)

    def collect(self) -> Iterator[Any]:
        try:
            yield from self._collect()
        except Exception:  # a scrape must not fail because the database hiccups
            logger.warning("could not read function metrics", exc_info=True)

    def _collect(self) -> Iterator[Any]:
        yield InfoMetricFamily(
            "baas_function_sandbox", "Which sandbox runs functions in this process.", value={"sandbox": state()}
        )
        yield from _record_counts()
        yield _oldest_backlog()
        for field, metric, help_text in (
            ("queue_delay_ms", "baas_function_queue_delay_seconds", "From the event's commit to the start."),
            ("duration_ms", "baas_function_duration_seconds", "Run time of finished invocations."),
        ):
            yield _histogram(field, metric, help_text)


def _backlog_reason(status: str, waiting: str) -> str | None:
    if status not in (Invocation.QUEUED, Invocation.RETRYING):
        return None
    return waiting or status


def _record_counts() -> Iterator[Any]:
    """Every per-record figure from one grouped pass over the invocations."""
    counts = GaugeMetricFamily(
        "baas_function_invocations",
        "Function invocation records by function, trigger and status.",
        labels=["function", "trigger", "status"],
    )
    retries = GaugeMetricFamily(
        "baas_function_retries", "Attempts beyond the first, over the invocation records.", labels=["function"]
    )
    backlog = GaugeMetricFamily(
        "baas_function_backlog",
        "Invocations not running yet, by why: queued (message sent), retrying (backoff), order, concurrency, rate.",
        labels=["function", "reason"],
    )
    starts = GaugeMetricFamily(
        "baas_function_starts",
        "Sandbox starts of each record's latest attempt: warm (an idle sandbox) or cold (a new one).",
        labels=["function", "start"],
    )
    rows = (
        Invocation.objects.values_list("function__name", "trigger", "status", "waiting", "cold_start")
        .annotate(
            n=Count("id"),
            extra=Sum("attempts", filter=Q(attempts__gt=1)),
            retried=Count("id", filter=Q(attempts__gt=1)),
        )
        .order_by()
    )
    by_status: dict[tuple[str, str, str], int] = defaultdict(int)
    retried: dict[str, int] = defaultdict(int)
    waiting: dict[tuple[str, str], int] = defaultdict(int)
    started: dict[tuple[str, str], int] = defaultdict(int)
    for name, trigger, status, waits, cold, n, extra, retried_records in rows:
        by_status[(name, trigger, status)] += n
        retried[name] += (extra or 0) - retried_records
        reason = _backlog_reason(status, waits)
        if reason:
            waiting[(name, reason)] += n
        if cold is not None:
            started[(name, "cold" if cold else "warm")] += n
    for status_labels, n in sorted(by_status.items()):
        counts.add_metric(list(status_labels), n)
    for name, n in sorted(retried.items()):
        retries.add_metric([name], n)
    for reason_labels, n in sorted(waiting.items()):
        backlog.add_metric(list(reason_labels), n)
    for start_labels, n in sorted(started.items()):
        starts.add_metric(list(start_labels), n)
    yield from (counts, retries, backlog, starts)


def _oldest_backlog() -> GaugeMetricFamily:
    oldest = GaugeMetricFamily(
        "baas_function_backlog_oldest_seconds",
        "Age of the oldest invocation not running yet (from its event's commit or its call).",
        labels=["function"],
    )
    now = timezone.now()
    rows = (
        Invocation.objects.filter(status__in=(Invocation.QUEUED, Invocation.RETRYING))
        .values("function__name")
        .annotate(since=Min("created_at"))
        .order_by()
    )
    for row in rows:
        oldest.add_metric([row["function__name"]], max(0.0, (now - row["since"]).total_seconds()))
    return oldest


def _histogram(field: str, metric: str, help_text: str) -> HistogramMetricFamily:
    histogram = HistogramMetricFamily(metric, help_text, labels=["function"])
    aggregates = {f"le{b}": Count("id", filter=Q(**{f"{field}__lte": b})) for b in BUCKETS_MS}
    rows: Any = (
        Invocation.objects.filter(**{f"{field}__isnull": False})
        .values("function__name")
        .annotate(total=Count("id"), sum_ms=Sum(field), **aggregates)
        .order_by()
    )
    for row in rows:
        buckets = [(str(b / 1000), row[f"le{b}"]) for b in BUCKETS_MS] + [("+Inf", row["total"])]
        histogram.add_metric([row["function__name"]], buckets, (row["sum_ms"] or 0) / 1000)
    return histogram


def dispatcher_position() -> dict[str, int]:
    """The trigger dispatcher's cursor (a database row, so right whichever process dispatches)."""
    seq = DispatchCursor.objects.filter(pk=1).values_list("seq", flat=True).first()
    return {DISPATCHER: seq or 0}


_registered = False


def register() -> None:
    """Add the collector to prometheus_client's default registry (what `/metrics` renders)."""
    global _registered
    if not _registered:
        metrics.add_collector(InvocationCollector())
        metrics.add_event_log_consumer(DISPATCHER, dispatcher_position)
        _registered = True
