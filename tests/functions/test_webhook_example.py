"""Webhooks on a live `baas serve` (uvicorn: the answer is sent by baas.asgi after the hand-off,
functions/api/awaiting.py): examples/webhooks receives Stripe-style signed deliveries into a
collection and refuses bad signatures and replays; a handler's own status, headers and body come
through the ASGI path exactly as through the WSGI view."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.functions.conftest import deploy
from tests.functions.test_http_route import ANSWERS
from tests.platform.processes import baas, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhooks"
SECRET = "whsec_test_5f2b"


@pytest.fixture
def live(functions_api: Any, function_worker: Any) -> Iterator[str]:
    """`baas serve` on the test database and the session worker's queue."""
    env = {**function_worker.env, "BAAS_TEST_MARKER": function_worker.marker + "-web", "LOG_LEVEL": "WARNING"}
    port = free_port()
    process = baas("serve", "--port", str(port), "--threads", "4", env=env)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(url + "/v1/health", timeout=1).status == 200
        except OSError:
            return False

    try:
        assert wait_until(healthy, timeout=30), process.text
        yield url
    finally:
        process.stop()


def _send(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def _signed(body: bytes, *, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}


@pytest.fixture
def example(functions_api: Any) -> Any:
    """examples/webhooks deployed as its baas.json says, with its secret; collection `payments`."""
    config = json.loads((EXAMPLE / "baas.json").read_text())
    files = {"main.py": (EXAMPLE / "main.py").read_text()}
    response = deploy(
        functions_api, config.pop("name"), "", files=files, secrets={"STRIPE_WEBHOOK_SECRET": SECRET}, **config
    )
    assert response.status_code == 201, response.json()
    created = functions_api.post("/v1/db/collections", {"name": "payments"}, format="json")
    assert created.status_code == 201, created.json()
    return functions_api


def _payments(client: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/db/payments")
    assert response.status_code == 200, response.json()
    return response.json()["items"]


def test_a_signed_delivery_becomes_a_document_and_a_bad_one_writes_nothing(example: Any, live: str) -> None:
    endpoint = f"{live}/v1/functions/payments-webhook/http/stripe"
    body = b'{"id": "evt_1Pq", "type": "payment_intent.succeeded",  "data": {"amount": 1200}, "created": 1700000000}'

    status, answer, headers = _send("POST", endpoint, body, _signed(body))
    assert status == 200, answer
    assert json.loads(answer) == {"received": "evt_1Pq"}
    assert headers["X-Baas-Invocation-Id"]
    stored = example.get("/v1/db/payments/evt_1Pq").json()
    assert stored["data"] == {"type": "payment_intent.succeeded", "data": {"amount": 1200}, "created": 1700000000}

    # A wrong signature, a body changed after signing, another secret, no header: 400, nothing written.
    forged = body.replace(b"evt_1Pq", b"evt_forged")
    for headers_sent in [
        _signed(body),  # the signature of another body
        _signed(forged, secret="whsec_guess"),
        {"Content-Type": "application/json"},  # not signed at all
    ]:
        status, answer, _ = _send("POST", endpoint, forged, headers_sent)
        assert status == 400, answer
        assert json.loads(answer)["error"] in ("bad signature", "missing or stale timestamp")
    # A delivery signed correctly but 10 minutes ago: a replay.
    old = b'{"id": "evt_old", "type": "x"}'
    status, answer, _ = _send("POST", endpoint, old, _signed(old, at=int(time.time()) - 600))
    assert status == 400 and json.loads(answer) == {"error": "missing or stale timestamp"}
    assert [item["id"] for item in _payments(example)] == ["evt_1Pq"]

    # The sender retries a delivery: the same document, not a second one.
    status, _, _ = _send("POST", endpoint, body, _signed(body))
    assert status == 200
    assert [item["id"] for item in _payments(example)] == ["evt_1Pq"]
    # Another method is the handler's to refuse.
    status, _, headers = _send("GET", endpoint)
    assert status == 405 and headers["Allow"] == "POST"


def test_answers_come_through_the_asgi_hand_off(functions_api: Any, live: str) -> None:
    assert deploy(functions_api, "answers", ANSWERS, invoke="public", timeout=2).status_code == 201
    base = f"{live}/v1/functions/answers/http"

    status, body, headers = _send("POST", f"{base}/json")
    assert (status, body) == (201, b'{"ok":true}')
    assert headers["Content-Type"] == "application/json" and headers["X-Custom"] == "yes"
    assert headers["X-Request-Id"]  # the middleware's headers are kept
    assert headers.get("Allow") is None

    status, body, headers = _send("POST", f"{base}/text")
    assert (status, body) == (400, b"bad signature")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"

    status, body, headers = _send("PUT", f"{base}/bytes", bytes(range(256)))
    assert status == 200 and body == bytes(range(256))

    status, body, headers = _send("HEAD", f"{base}/typed")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(b"<p>hi</p>"))

    status, body, _ = _send("GET", f"{base}/wire-header?name=Set-Cookie")
    assert status == 502 and json.loads(body)["error"]["code"] == "invalid_response"

    status, body, _ = _send("GET", f"{base}/raise")
    assert status == 500 and json.loads(body)["error"]["code"] == "function_error"
