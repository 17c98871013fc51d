"""Prometheus metrics of realtime, collected when `/metrics` is scraped.

Connections and subscriptions live in the memory of the process that serves them, and `/metrics`
is answered by any one web process: so the figures come from the census (realtime/census.py,
through `services.census_summaries`): this process's counts as of now plus every other serving
process's last summary in Redis (refreshed every CENSUS_SECONDS while it has connections). On the
embedded default one process serves everything and its own counts are the whole picture.

- `baas_realtime_connections` — open websocket connections, every process.
- `baas_realtime_subscriptions{topic}` — live subscriptions per topic (`db/<collection>`,
  `storage/<bucket>`), every process.
- `baas_realtime_processes` — processes counted (this one, and the others with connections).
- Each tailer's position in the event log, as `baas_event_log_consumer_seq{consumer="realtime:<process>"}`
  and its lag (baas/metrics.py), for the processes whose tailer runs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from baas import metrics
from realtime import services

logger = logging.getLogger("baas.realtime")


class RealtimeCollector(Collector):
    def describe(self) -> list[Any]:
        return []  # registering must not read Redis

    def collect(self) -> Iterator[Any]:
        try:
            summaries = services.census_summaries()
        except Exception:  # a scrape must not fail because Redis hiccups
            logger.warning("could not read realtime's census", exc_info=True)
            return
        topics: Counter[str] = Counter()
        for summary in summaries:
            topics.update(summary.topics)
        yield GaugeMetricFamily(
            "baas_realtime_connections",
            "Open realtime websocket connections, every serving process.",
            value=sum(summary.connections for summary in summaries),
        )
        subscriptions = GaugeMetricFamily(
            "baas_realtime_subscriptions",
            "Live realtime subscriptions per topic, every serving process.",
            labels=["topic"],
        )
        for topic, n in sorted(topics.items()):
            subscriptions.add_metric([topic], n)
        yield subscriptions
        yield GaugeMetricFamily("baas_realtime_processes", "Serving processes counted.", value=len(summaries))


def tailer_positions() -> dict[str, int]:
    return {
        f"realtime:{summary.process}": summary.position
        for summary in services.census_summaries()
        if summary.position is not None
    }


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        metrics.add_collector(RealtimeCollector())
        metrics.add_event_log_consumer("realtime", tailer_positions)
        _registered = True
