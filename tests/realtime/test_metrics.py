"""`/metrics` counts realtime connections and subscriptions (by topic) and shows the realtime
tailer's position in the event log, read at scrape time through realtime's census."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.platform.processes import http, wait_until
from tests.realtime.conftest import Client, connect, run

pytestmark = pytest.mark.slow


def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, raw = http("GET", f"{server.base}/metrics")
    assert status == 200
    text = raw.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_connections_subscriptions_and_the_tailers_position(server):
    collection = f"m{uuid.uuid4().hex[:10]}"
    server.rest("POST", "/v1/db/collections", {"name": collection})
    topic = f"db/{collection}"

    async def scenario():
        async with connect(server, server.key) as first, connect(server, server.key) as second:
            one, two = Client(first), Client(second)
            await one.send(op="subscribe", id="a", collection=collection)
            await one.expect("subscribed", id="a")
            await one.send(op="subscribe", id="b", collection=collection, filter="n > 1")
            await one.expect("subscribed", id="b")
            await two.send(op="subscribe", id="c", collection=collection)
            await two.expect("subscribed", id="c")
            server.rest("POST", f"/v1/db/{collection}", {"id": "d1", "data": {"n": 2}})
            await two.expect("change", id="c", type="added")

            samples = scrape(server)
            # Other servers of a parallel test run may share this Redis (their census counts too):
            # the topic is this test's own.
            assert samples[("baas_realtime_connections", ())] >= 2
            assert samples[("baas_realtime_subscriptions", (("topic", topic),))] == 3
            head = samples[("baas_event_log_head_seq", ())]
            tailers = {
                labels[0][1]: seq
                for (name, labels), seq in samples.items()
                if name == "baas_event_log_consumer_seq" and labels[0][1].startswith("realtime:")
            }
            # This process's tailer handed the write to the subscriber: it has read up to the head.
            assert head in tailers.values(), (head, tailers)

    run(scenario())
    # Closed connections leave the count (this process's figures are read at scrape time).
    assert wait_until(lambda: ("baas_realtime_subscriptions", (("topic", topic),)) not in scrape(server), timeout=10)
