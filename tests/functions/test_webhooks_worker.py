"""Outgoing webhooks through real processes: the worker makes the HTTP attempts, a retry comes
back through the broker after its backoff, and an event committed while the worker is down is
delivered once it is back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.functions.webhook_receiver import Receiver, verify

LOOPBACK = {"WEBHOOKS_ALLOW_HTTP": "true", "WEBHOOKS_EGRESS_ALLOW": "127.0.0.1/32"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def test_the_worker_delivers_retries_and_survives_a_restart(
    functions_api: APIClient, platform: Any, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = True  # this process validates the URL at creation
    settings.WEBHOOKS_EGRESS_ALLOW = ["127.0.0.1/32"]
    running = platform(**LOOPBACK)
    assert functions_api.post("/v1/db/collections", {"name": "orders"}, format="json").status_code == 201
    body = {"name": "crm", "url": receiver.url(), "source": {"collection": "orders"}, "max_retries": 3}
    secret = functions_api.post("/v1/webhooks", body, format="json").json()["secret"]

    receiver.answer(500)
    functions_api.post("/v1/db/orders", {"id": "o1", "data": {"total": 5}}, format="json")
    first, again = receiver.wait_for(2)
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert verify(secret, again.headers, again.body) and again.payload["data"]["doc"]["data"]["total"] == 5

    running.kill_worker()
    functions_api.post("/v1/db/orders", {"id": "o2", "data": {"total": 9}}, format="json")
    running.start_worker()
    received = receiver.wait_for(3, timeout=30)
    assert [r.payload["data"]["key"] for r in received] == ["o1", "o1", "o2"], running.text
    assert verify(secret, received[2].headers, received[2].body)
