"""The headline, for the Python SDK: with writes flowing, 20 forced disconnects of a subscriber's
websocket (server process killed, proxy dropping the connections) deliver every change exactly once
and in order, for a collection and a bucket. bench/sdk_reconnect.py prints the same run's figures."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.sdk_reconnect import measure

pytestmark = pytest.mark.slow  # server processes


@pytest.mark.timeout(900)  # three server boots per kill cycle on a shared 2-core machine
def test_20_forced_disconnects_deliver_every_change_exactly_once_in_order(live):
    figures = asyncio.run(measure(live.env, live.key, live.base, disconnects=20))
    print(f"figures {json.dumps(figures)}")
    assert figures["delivered"] == figures["expected"] > 40
    assert figures["reconnect_to_resumed_ms"]["server-kill"]["n"] == 10
    assert figures["reconnect_to_resumed_ms"]["proxy-cut"]["n"] == 10
