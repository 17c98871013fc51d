"""Outgoing webhooks, delivered: events of a collection or bucket reach a real HTTP endpoint on
loopback, signed as Standard Webhooks says (checked by the test's own verifier), retried with
backoff, dead after max_retries, replayable; and the egress rules refuse what they must.

This process plays the worker here (`drain`: the real dispatcher, claim, HTTP attempt and
outcome, without the broker hop); tests/functions/test_webhooks_worker.py runs a real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone
from rest_framework.test import APIClient

from tests.functions.webhook_receiver import Receiver, verify


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def loopback(settings: Any) -> None:
    """The test endpoint is plain http on loopback: allowed only by these two settings."""
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_EGRESS_ALLOW = ["127.0.0.1/32"]
    settings.FUNCTIONS_RETRY_BASE_MS = 20
    settings.FUNCTIONS_RETRY_MAX_SECONDS = 1
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2


@pytest.fixture
def api(service_api: APIClient, monkeypatch: pytest.MonkeyPatch, loopback: None) -> APIClient:
    from webhooks import delivery

    monkeypatch.setattr(delivery, "send", lambda ids, countdown=None: None)  # `drain` is the worker
    assert service_api.post("/v1/db/collections", {"name": "orders"}, format="json").status_code == 201
    return service_api


def drain(timeout: float = 15.0) -> list[Any]:
    """Be the worker: dispatch the event log, then run every due delivery until none is unfinished."""
    from functions.dispatcher import dispatch
    from webhooks import delivery
    from webhooks.models import WebhookDelivery

    dispatch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unfinished = WebhookDelivery.objects.filter(status__in=WebhookDelivery.UNFINISHED)
        if not unfinished.exists():
            return list(WebhookDelivery.objects.order_by("seq", "created_at"))
        due = unfinished.filter(Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()))
        for delivery_id in list(due.values_list("pk", flat=True)):
            delivery.deliver(delivery_id)
        time.sleep(0.01)
    raise AssertionError("the deliveries did not finish")


def create(api: APIClient, url: str, **body: Any) -> dict[str, Any]:
    body = {"name": "orders-hook", "url": url, "source": {"collection": "orders"}, **body}
    answer = api.post("/v1/webhooks", body, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()


def test_document_events_arrive_signed_as_the_spec_says(api: APIClient, receiver: Receiver) -> None:
    hook = create(api, receiver.url())
    api.post("/v1/db/orders", {"id": "o1", "data": {"total": 5}}, format="json")
    api.patch("/v1/db/orders/o1", {"data": {"total": 7}}, format="json")
    api.delete("/v1/db/orders/o1")
    rows = drain()
    assert [row.status for row in rows] == ["succeeded"] * 3
    received = receiver.received
    assert [r.payload["type"] for r in received] == ["document.created", "document.updated", "document.deleted"]
    for request in received:
        assert verify(hook["secret"], request.headers, request.body)
        assert not verify("whsec_" + "A" * 44, request.headers, request.body)  # another secret fails
        assert request.headers["content-type"] == "application/json"
        assert request.path == "/hook"
    created = received[0].payload
    assert set(created) == {"type", "timestamp", "data"}
    assert created["data"]["collection"] == "orders" and created["data"]["doc"]["data"]["total"] == 5
    assert received[1].payload["data"]["before"]["data"]["total"] == 5
    assert len({r.headers["webhook-id"] for r in received}) == 3
    listed = api.get("/v1/webhooks/orders-hook/deliveries").json()["items"]
    assert [d["status_code"] for d in listed] == [200, 200, 200]
    assert listed[0]["history"][0]["response"] == "ok"


def test_only_events_after_creation_and_only_the_chosen_types(api: APIClient, receiver: Receiver) -> None:
    api.post("/v1/db/orders", {"id": "before", "data": {"total": 1}}, format="json")
    create(api, receiver.url(), events=["document.deleted"])
    api.post("/v1/db/orders", {"id": "after", "data": {"total": 2}}, format="json")
    api.delete("/v1/db/orders/before")
    drain()
    assert [(r.payload["type"], r.payload["data"]["key"]) for r in receiver.received] == [
        ("document.deleted", "before")
    ]


def test_a_filter_chooses_the_documents(api: APIClient, receiver: Receiver) -> None:
    create(api, receiver.url(), filter="total >= 100")
    api.post("/v1/db/orders", {"id": "small", "data": {"total": 5}}, format="json")
    api.post("/v1/db/orders", {"id": "big", "data": {"total": 500}}, format="json")
    drain()
    assert [r.payload["data"]["doc"]["id"] for r in receiver.received] == ["big"]


def test_object_events_with_a_prefix(api: APIClient, receiver: Receiver) -> None:
    assert api.post("/v1/storage/buckets", {"name": "uploads"}, format="json").status_code == 201
    create(api, receiver.url(), name="uploads-hook", source={"bucket": "uploads", "prefix": "in/"})
    api.put("/v1/storage/objects/uploads/in/a.txt", b"hello", content_type="text/plain")
    api.put("/v1/storage/objects/uploads/elsewhere/b.txt", b"not watched", content_type="text/plain")
    api.delete("/v1/storage/objects/uploads/in/a.txt")
    drain()
    payloads = [r.payload for r in receiver.received]
    assert [(p["type"], p["data"]["path"]) for p in payloads] == [
        ("object.created", "in/a.txt"),
        ("object.deleted", "in/a.txt"),
    ]
    assert payloads[0]["data"]["bucket"] == "uploads"


def test_retried_with_backoff_after_errors_then_delivered(api: APIClient, receiver: Receiver, settings: Any) -> None:
    from functions.dispatcher import dispatch
    from webhooks import delivery
    from webhooks.models import WebhookDelivery

    settings.FUNCTIONS_RETRY_BASE_MS = 400  # long enough to see the wait
    hook = create(api, receiver.url(), max_retries=3)
    receiver.answer(500, 503, body=b"busy")
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    dispatch()
    [row] = WebhookDelivery.objects.all()
    assert delivery.deliver(row.pk) == "retrying"
    row.refresh_from_db()
    wait = (row.not_before - row.finished_at).total_seconds()
    assert 0.2 <= wait <= 0.4  # equal jitter: half of 400 ms fixed, half random
    assert api.get("/v1/webhooks/orders-hook/deliveries").json()["items"][0]["next_attempt_at"]
    assert delivery.deliver(row.pk) is None  # not due yet: no second request
    assert len(receiver.received) == 1

    [row] = drain()
    assert row.status == "succeeded" and row.attempts == 3
    assert [a["status_code"] for a in row.history] == [500, 503, 200]
    assert row.history[0]["response"] == "busy"
    # The same message each time: same id and body (receivers deduplicate on webhook-id).
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1
    assert all(verify(hook["secret"], r.headers, r.body) for r in receiver.received)


def test_dead_after_max_retries_then_replayed(api: APIClient, receiver: Receiver) -> None:
    create(api, receiver.url(), max_retries=2)
    receiver.answer(500, 500, 500)
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    [row] = drain()
    assert row.status == "dead" and row.attempts == 3
    dead = api.get("/v1/webhooks/orders-hook/deliveries?status=dead").json()["items"]
    assert [d["id"] for d in dead] == [str(row.pk)]
    assert dead[0]["error"] == "http_status: the endpoint answered 500"

    retried = api.post(f"/v1/webhook-deliveries/{row.pk}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    [row] = drain()
    assert row.status == "succeeded" and row.attempts == 4
    assert len(receiver.received) == 4
    again = api.post(f"/v1/webhook-deliveries/{row.pk}/retry")  # a delivered one can be replayed too
    assert again.status_code == 202


def test_a_disabled_webhook_gets_nothing(api: APIClient, receiver: Receiver) -> None:
    create(api, receiver.url(), enabled=False)
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    assert drain() == []
    api.post("/v1/db/orders", {"id": "o1b", "data": {}}, format="json")  # not dispatched before it is on again
    assert api.patch("/v1/webhooks/orders-hook", {"enabled": True}, format="json").status_code == 200
    api.post("/v1/db/orders", {"id": "o2", "data": {}}, format="json")
    drain()
    assert [r.payload["data"]["key"] for r in receiver.received] == ["o2"]


def test_a_redirect_is_not_followed(api: APIClient, receiver: Receiver) -> None:
    create(api, receiver.url(), max_retries=0)
    receiver.answer(302, headers={"location": receiver.url("/elsewhere")})
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    [row] = drain()
    assert row.status == "dead" and row.history[-1]["status_code"] == 302
    assert [r.path for r in receiver.received] == ["/hook"]


def test_410_gone_disables_the_webhook(api: APIClient, receiver: Receiver) -> None:
    create(api, receiver.url(), max_retries=5)
    receiver.answer(410)
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    [row] = drain()
    assert row.status == "dead" and row.attempts == 1
    hook = api.get("/v1/webhooks/orders-hook").json()
    assert hook["enabled"] is False and "410" in hook["disabled_reason"]


def test_loopback_is_refused_without_the_allow_list(api: APIClient, receiver: Receiver, settings: Any) -> None:
    # By name, so that the check at creation (IP literals) does not catch it: the send does.
    create(api, f"http://localhost:{receiver.port}/hook", max_retries=3)
    settings.WEBHOOKS_EGRESS_ALLOW = []
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    [row] = drain()
    assert row.status == "dead" and row.attempts == 1  # refused: no retry can help
    assert row.history[0]["error"].startswith("egress_refused:") and "loopback" in row.history[0]["error"]
    assert receiver.received == []


def test_http_is_refused_without_the_setting(api: APIClient, receiver: Receiver, settings: Any) -> None:
    create(api, receiver.url(), max_retries=3)
    settings.WEBHOOKS_ALLOW_HTTP = False
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    [row] = drain()
    assert row.status == "dead" and row.history[0]["error"].startswith("egress_refused:")
    assert receiver.received == []


def test_a_rotated_secret_signs_beside_the_old_one(api: APIClient, receiver: Receiver) -> None:
    old = create(api, receiver.url())["secret"]
    rotated = api.post("/v1/webhooks/orders-hook/rotate-secret", {}, format="json").json()
    new = rotated["secret"]
    assert new != old and rotated["previous_secret_valid_until"]
    api.post("/v1/db/orders", {"id": "o1", "data": {}}, format="json")
    drain()
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(old, request.headers, request.body) and verify(new, request.headers, request.body)


def test_the_test_delivery(api: APIClient, receiver: Receiver) -> None:
    hook = create(api, receiver.url())
    answer = api.post("/v1/webhooks/orders-hook/test")
    assert answer.status_code == 202 and answer.json()["type"] == "webhook.test"
    drain()
    [request] = receiver.received
    assert request.payload["type"] == "webhook.test" and request.payload["data"] == {"webhook": "orders-hook"}
    assert verify(hook["secret"], request.headers, request.body)
