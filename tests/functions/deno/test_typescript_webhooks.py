"""A TypeScript `onHttp` handler as a webhook: at `/v1/functions/{name}/http/{path}` it receives
the method, path, query, headers and the raw body as a `Uint8Array`, and a Fetch `Response` it
returns chooses the status, headers and body — judged by the worker exactly as Python's
`HttpResponse` (tests/functions/test_http_route.py). Real worker, real bubblewrap sandboxes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.functions.deno.test_deno_functions import deploy_ts

ANSWERS_TS = """
import { onHttp } from "baas";

export const answer = onHttp(async (event) => {
  const kind = (event.path ?? "/").replace(/^\\/|\\/$/g, "");
  const body = event.body ?? new Uint8Array();
  if (kind === "echo") {
    return {
      method: event.method,
      path: event.path,
      query: event.query,
      contentType: event.headers?.["content-type"],
      bodyIsBytes: body instanceof Uint8Array,
      bodyBytes: Array.from(body),
      payload: event.payload ?? null,
    };
  }
  if (kind === "created") {
    return Response.json({ ok: true }, { status: 201, headers: { "x-custom": "yes" } });
  }
  if (kind === "text") return new Response("bad signature", { status: 400 });
  if (kind === "bytes") return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  if (kind === "empty") return new Response(null, { status: 204 });
  if (kind === "cookie") return new Response("x", { headers: { "set-cookie": "session=stolen" } });
  return { unknown: kind };
});
"""


@pytest.fixture
def answers(functions_api: APIClient) -> APIClient:
    response = deploy_ts(functions_api, "answers-ts", ANSWERS_TS, invoke="public")
    assert response.status_code == 201, response.json()
    return functions_api


def _call(client: APIClient, method: str, path: str, body: bytes = b"", **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/octet-stream")
    return client.generic(method, path, data=body, content_type=content_type, **extra)


def test_the_handler_gets_the_request_with_the_raw_body_as_bytes(answers: APIClient, api: APIClient) -> None:
    raw = bytes([0, 1, 2, 250, 255])
    response = _call(api, "PUT", "/v1/functions/answers-ts/http/echo?a=1&a=2&b=x", raw)
    assert response.status_code == 200, response.content
    seen = response.json()
    assert seen["method"] == "PUT" and seen["path"] == "/echo"
    assert seen["query"] == {"a": "2", "b": "x"}
    assert seen["contentType"] == "application/octet-stream"
    assert seen["bodyIsBytes"] is True and bytes(seen["bodyBytes"]) == raw
    assert seen["payload"] is None

    posted = _call(api, "POST", "/v1/functions/answers-ts/http/echo", b'{"n": 1}', content_type="application/json")
    assert posted.json()["payload"] == {"n": 1}


def test_a_fetch_response_chooses_status_headers_and_body(answers: APIClient, api: APIClient) -> None:
    created = _call(api, "POST", "/v1/functions/answers-ts/http/created")
    assert created.status_code == 201
    assert created["x-custom"] == "yes" and created["content-type"].startswith("application/json")
    assert json.loads(created.content) == {"ok": True}

    text = _call(api, "POST", "/v1/functions/answers-ts/http/text")
    assert text.status_code == 400 and text.content == b"bad signature"
    assert text["content-type"].startswith("text/plain")

    raw = bytes(range(256))
    echoed = _call(api, "POST", "/v1/functions/answers-ts/http/bytes", raw)
    assert echoed.status_code == 200 and echoed.content == raw

    empty = _call(api, "GET", "/v1/functions/answers-ts/http/empty")
    assert empty.status_code == 204 and empty.content == b""


def test_a_header_that_is_the_platforms_fails_the_invocation(answers: APIClient, api: APIClient) -> None:
    response = _call(api, "GET", "/v1/functions/answers-ts/http/cookie")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "invalid_response"
    assert "set-cookie" not in {name.lower() for name in response.headers}
