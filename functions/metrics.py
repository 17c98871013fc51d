"""Prometheus metrics of functions, read from the database when `/metrics` is scraped.

Invocations run in worker processes, which serve no HTTP; their counters would be invisible to the
web process that answers `/metrics` (prometheus_client's multiprocess mode needs a folder shared by
every process on one machine, and workers may live elsewhere). The invocation rows already hold
every figure, so the web side derives the metrics from them at scrape time: always right, whatever
process or machine ran the invocation, at the cost of aggregate queries per scrape (grouped counts
over the invocations table, one pass per histogram).

- `baas_function_invocations{function, status}` — invocation records by status (a gauge: an
  invocation moves from queued to running to succeeded; `succeeded`, `failed` and `dead` only grow
  unless a dead one is retried by hand).
- `baas_function_queue_delay_seconds{function}` — histogram: event commit (or HTTP call) → start.
- `baas_function_duration_seconds{function}` — histogram: run time of finished invocations.
- `baas_function_sandbox_info{sandbox}` — 1, labelled with the sandbox that runs functions in the
  web process: `bubblewrap`, `unsafe-local` or `unavailable` (as `GET /v1/health` says).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q, Sum
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from baas import metrics
from functions.models import Invocation
from functions.sandbox import state

logger = logging.getLogger("baas.functions")

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


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

        counts = GaugeMetricFamily(
            "baas_function_invocations", "Function invocations by function and status.", labels=["function", "status"]
        )
        rows = Invocation.objects.values_list("function__name", "status").annotate(n=Count("id")).order_by()
        for name, status, n in rows:
            counts.add_metric([name, status], n)
        yield counts

        for field, metric, help_text in (
            ("queue_delay_ms", "baas_function_queue_delay_seconds", "From the event's commit to the start."),
            ("duration_ms", "baas_function_duration_seconds", "Run time of finished invocations."),
        ):
            histogram = HistogramMetricFamily(metric, help_text, labels=["function"])
            aggregates = {f"le{b}": Count("id", filter=Q(**{f"{field}__lte": b})) for b in BUCKETS_MS}
            rows = (
                Invocation.objects.filter(**{f"{field}__isnull": False})
                .values("function__name")
                .annotate(total=Count("id"), sum_ms=Sum(field), **aggregates)
                .order_by()
            )
            for row in rows:
                buckets = [(str(b / 1000), row[f"le{b}"]) for b in BUCKETS_MS] + [("+Inf", row["total"])]
                histogram.add_metric([row["function__name"]], buckets, (row["sum_ms"] or 0) / 1000)
            yield histogram


_registered = False


def register() -> None:
    """Add the collector to prometheus_client's default registry (what `/metrics` renders)."""
    global _registered
    if not _registered:
        metrics.add_collector(InvocationCollector())
        _registered = True
