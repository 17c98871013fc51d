"""`/v1/functions/{name}/http/{path}`: any method reaches the @on_http handler with the request as
sent (method, path, query, headers, the raw body as bytes), and the handler's `HttpResponse`
chooses the status, headers and body — through a real worker and real sandboxes. The platform's
credentials never reach the function, and a function cannot answer with headers that are the
platform's (hop-by-hop, cookies, CORS, security, internal)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import bearer
from tests.functions.conftest import deploy

ECHO = """
from baas_runtime import on_http

@on_http
def echo(event, ctx):
    seen = {key: value for key, value in event.items() if key != "body"}
    seen["body_type"] = type(event.get("body")).__name__
    seen["body_hex"] = event["body"].hex() if isinstance(event.get("body"), bytes) else None
    return seen
"""

ANSWERS = """
import time
from baas_runtime import BaasError, HttpResponse, on_http

@on_http
def answer(event, ctx):
    kind = event["path"].strip("/")
    query = event["query"]
    if kind == "json":
        return HttpResponse({"ok": True}, status=201, headers={"X-Custom": "yes", "Cache-Control": "no-store"})
    if kind == "text":
        return HttpResponse("bad signature", status=400)
    if kind == "bytes":
        return HttpResponse(event["body"])
    if kind == "typed":
        return HttpResponse(b"<p>hi</p>", headers={"Content-Type": "text/html; charset=utf-8"})
    if kind == "empty":
        return HttpResponse(status=204)
    if kind == "none":
        return HttpResponse()
    if kind == "plain":
        return [1, "two"]
    if kind == "nothing":
        return None
    if kind == "wire-status":
        return {"$http": {"status": int(query["s"]), "headers": [], "body_base64": ""}}
    if kind == "wire-header":
        return {"$http": {"status": 200, "headers": [[query["name"], query.get("value", "x")]], "body_base64": ""}}
    if kind == "wire-body":
        return {"$http": {"status": 200, "headers": [], "body_base64": "not base64!"}}
    if kind == "bad-status":
        return HttpResponse(status=99)
    if kind == "raise":
        raise KeyError("sk_live_do_not_show")
    if kind == "labelled":
        raise BaasError("Nothing left", code="out_of_stock")
    if kind == "sleep":
        time.sleep(5)
    return {"unknown": kind}
"""


def _invocations(name: str) -> list[Any]:
    from functions.models import Invocation

    return list(Invocation.objects.filter(function__name=name).order_by("created_at"))


def _call(client: APIClient, method: str, path: str, body: bytes = b"", **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/octet-stream")
    return client.generic(method, path, data=body, content_type=content_type, **extra)


@pytest.fixture
def echo(functions_api: APIClient) -> APIClient:
    response = deploy(functions_api, "echo", ECHO, invoke="public")
    assert response.status_code == 201, response.json()
    return functions_api


@pytest.fixture
def answers(functions_api: APIClient) -> APIClient:
    response = deploy(functions_api, "answers", ANSWERS, invoke="public", timeout=2)
    assert response.status_code == 201, response.json()
    return functions_api


# --- the request, as the handler sees it -----------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_handler(echo: APIClient, api: APIClient, method: str) -> None:
    response = _call(api, method, "/v1/functions/echo/http/orders/7")
    assert response.status_code == 200, response.content
    seen = response.json()
    assert seen["method"] == method and seen["path"] == "/orders/7"
    assert response["Content-Type"] == "application/json"
    assert response["X-Baas-Invocation-Id"] == str(_invocations("echo")[-1].pk)


def test_head_answers_without_a_body(echo: APIClient, api: APIClient) -> None:
    response = api.head("/v1/functions/echo/http/x")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response["Content-Length"]) > 0  # the length the GET body would have
    assert _invocations("echo")[-1].event["method"] == "HEAD"


@pytest.mark.parametrize("path", ["/v1/functions/echo/http", "/v1/functions/echo/http/"])
def test_the_path_may_be_empty_with_or_without_the_slash(echo: APIClient, api: APIClient, path: str) -> None:
    response = api.post(path)
    assert response.status_code == 200, response.content
    assert response.json()["path"] == "/"


def test_a_trailing_slash_is_kept_in_the_path(echo: APIClient, api: APIClient) -> None:
    assert api.get("/v1/functions/echo/http/hooks/github/").json()["path"] == "/hooks/github/"


def test_query_headers_and_a_json_body(echo: APIClient, api: APIClient) -> None:
    body = b'{"id": "evt_1",  "amount": 12}'
    response = _call(
        api,
        "POST",
        "/v1/functions/echo/http/in?a=1&b=2&a=3",
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE="t=1,v1=ab",
        HTTP_USER_AGENT="Stripe/1.0",
    )
    seen = response.json()
    assert seen["query"] == {"a": "3", "b": "2"}  # a repeated name: its last value
    assert seen["query_string"] == "a=1&b=2&a=3"
    assert seen["headers"]["x-signature"] == "t=1,v1=ab"
    assert seen["headers"]["user-agent"] == "Stripe/1.0"
    assert seen["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in seen["headers"])
    assert seen["payload"] == {"id": "evt_1", "amount": 12}
    # The raw bytes as sent (spacing and all), as Python bytes; the base64 of the wire is gone.
    assert seen["body_type"] == "bytes" and bytes.fromhex(seen["body_hex"]) == body
    assert "body_base64" not in seen
    assert seen["auth"] is None


def test_a_binary_body_arrives_byte_for_byte(echo: APIClient, api: APIClient) -> None:
    body = bytes(range(256)) * 4 + b"\x00\xff\xfe"
    seen = _call(api, "POST", "/v1/functions/echo/http/bin", body).json()
    assert bytes.fromhex(seen["body_hex"]) == body
    assert seen["payload"] is None


def test_a_body_that_is_not_json_has_no_payload(echo: APIClient, api: APIClient) -> None:
    seen = _call(
        api, "POST", "/v1/functions/echo/http/form", b"a=1&b=2", content_type="application/x-www-form-urlencoded"
    ).json()
    assert bytes.fromhex(seen["body_hex"]) == b"a=1&b=2" and seen["payload"] is None
    broken = _call(api, "POST", "/v1/functions/echo/http/j", b"{not json", content_type="application/json").json()
    assert broken["payload"] is None and bytes.fromhex(broken["body_hex"]) == b"{not json"


def test_an_empty_body_is_empty_bytes(echo: APIClient, api: APIClient) -> None:
    seen = api.get("/v1/functions/echo/http/").json()
    assert seen["body_type"] == "bytes" and seen["body_hex"] == "" and seen["payload"] is None


def test_the_platforms_credentials_never_reach_the_function(echo: APIClient, service_key: str, settings: Any) -> None:
    client = APIClient()
    client.cookies[settings.SESSION_COOKIE_NAME] = "operator-session"
    client.cookies[settings.CSRF_COOKIE_NAME] = "csrf"
    client.cookies["app_pref"] = "dark"
    seen = _call(client, "POST", "/v1/functions/echo/http/x", b"{}", HTTP_AUTHORIZATION=f"Bearer {service_key}").json()
    assert "authorization" not in seen["headers"]
    assert service_key not in json.dumps(seen)
    assert seen["headers"]["cookie"] == "app_pref=dark"
    assert "operator-session" not in json.dumps(seen) and "x-baas-invoke-handoff" not in seen["headers"]
    assert seen["auth"]["role"] == "service"  # who called: as event["auth"], not as a header


def test_the_servers_environment_never_reaches_the_function(
    echo: APIClient, api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # granian's WSGI environ holds the process environment too: a variable named HTTP_* looks like a
    # request header there. The test client builds its environ itself, so put one in both places.
    monkeypatch.setenv("HTTP_X_SERVER_TOKEN", "from-the-environment")
    seen = _call(
        api, "POST", "/v1/functions/echo/http/x", b"", HTTP_X_SERVER_TOKEN="from-the-environment", HTTP_PROXY="evil:1"
    ).json()
    assert "x-server-token" not in seen["headers"] and "proxy" not in seen["headers"]
    assert "from-the-environment" not in json.dumps(seen)


def test_another_authorization_scheme_is_the_functions_own(echo: APIClient, api: APIClient) -> None:
    basic = "Basic " + base64.b64encode(b"sender:hunter2").decode()
    response = _call(api, "POST", "/v1/functions/echo/http/x", b"", HTTP_AUTHORIZATION=basic)
    assert response.status_code == 200, response.content
    seen = response.json()
    assert seen["headers"]["authorization"] == basic and seen["auth"] is None


def test_a_body_over_the_limit_is_413_and_nothing_is_recorded(echo: APIClient, api: APIClient, settings: Any) -> None:
    settings.FUNCTIONS_HTTP_BODY_MAX_BYTES = 4096
    response = _call(api, "POST", "/v1/functions/echo/http/big", b"x" * 4097)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert response.json()["error"]["details"] == {"limit": 4096}
    assert _call(api, "POST", "/v1/functions/echo/http/ok", b"x" * 4096).status_code == 200
    assert len(_invocations("echo")) == 1


def test_a_function_without_an_http_handler_is_409(functions_api: APIClient) -> None:
    source = "from baas_runtime import on_schedule\n\n@on_schedule(every=3600)\ndef tick(event, ctx):\n    pass\n"
    assert deploy(functions_api, "ticker", source).status_code == 201
    response = functions_api.post("/v1/functions/ticker/http/x")
    assert response.status_code == 409
    assert functions_api.post("/v1/functions/nobody/http/x").status_code == 404


def test_trace_is_not_a_method_of_the_route(echo: APIClient, api: APIClient) -> None:
    assert _call(api, "TRACE", "/v1/functions/echo/http/x").status_code == 405
    assert _invocations("echo") == []


# --- the answer, as the handler chooses it ---------------------------------------------------------
def test_status_headers_and_a_json_body(answers: APIClient, api: APIClient) -> None:
    response = api.post("/v1/functions/answers/http/json")
    assert response.status_code == 201
    assert response.content == b'{"ok":true}'
    assert response["Content-Type"] == "application/json"
    assert response["X-Custom"] == "yes" and response["Cache-Control"] == "no-store"
    assert response.get("Allow") is None  # nothing of DRF's added to the function's answer


def test_a_text_answer_with_a_4xx_is_sent_as_it_is(answers: APIClient, api: APIClient) -> None:
    response = api.post("/v1/functions/answers/http/text")
    assert response.status_code == 400
    assert response.content == b"bad signature"  # not rewritten into the API's error shape
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_bytes_answers(answers: APIClient, api: APIClient) -> None:
    body = bytes(range(256))
    response = _call(api, "POST", "/v1/functions/answers/http/bytes", body)
    assert response.status_code == 200 and response.content == body
    assert response["Content-Type"] == "application/octet-stream"
    typed = api.get("/v1/functions/answers/http/typed")
    assert typed.content == b"<p>hi</p>" and typed["Content-Type"] == "text/html; charset=utf-8"


def test_answers_without_a_body(answers: APIClient, api: APIClient) -> None:
    empty = api.delete("/v1/functions/answers/http/empty")
    assert empty.status_code == 204 and empty.content == b""
    none = api.get("/v1/functions/answers/http/none")
    assert none.status_code == 200 and none.content == b"" and "Content-Type" not in none


def test_a_plain_return_value_is_200_json(answers: APIClient, api: APIClient) -> None:
    response = api.get("/v1/functions/answers/http/plain")
    assert response.status_code == 200 and response.json() == [1, "two"]
    nothing = api.get("/v1/functions/answers/http/nothing")
    assert nothing.status_code == 200 and nothing.content == b"null"


@pytest.mark.parametrize(
    "name",
    [
        "Set-Cookie",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Access-Control-Allow-Origin",
        "Strict-Transport-Security",
        "X-Content-Type-Options",
        "X-Request-Id",
        "X-Baas-Await-Invocation",
        "Bad Header",
    ],
)
def test_a_header_that_is_the_platforms_fails_the_invocation(answers: APIClient, api: APIClient, name: str) -> None:
    response = api.get("/v1/functions/answers/http/wire-header", {"name": name})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "invalid_response"
    assert name.lower() in error["message"].lower()
    assert "set-cookie" not in {key.lower() for key in response.headers}
    invocation = _invocations("answers")[-1]
    assert invocation.status == "failed" and invocation.error["code"] == "invalid_response"


def test_a_header_value_cannot_split_the_answer(answers: APIClient, api: APIClient) -> None:
    response = api.get("/v1/functions/answers/http/wire-header", {"name": "X-A", "value": "1\r\nSet-Cookie: a=b"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "invalid_response"


@pytest.mark.parametrize("status", [99, 100, 101, 199, 600, 1000])
def test_a_status_outside_200_to_599_fails_the_invocation(answers: APIClient, api: APIClient, status: int) -> None:
    response = api.get("/v1/functions/answers/http/wire-status", {"s": str(status)})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "invalid_response"


@pytest.mark.parametrize("status", [200, 202, 302, 418, 599])
def test_a_status_inside_the_range_is_sent(answers: APIClient, api: APIClient, status: int) -> None:
    assert api.get("/v1/functions/answers/http/wire-status", {"s": str(status)}).status_code == status


def test_a_malformed_body_on_the_wire_fails_the_invocation(answers: APIClient, api: APIClient) -> None:
    response = api.get("/v1/functions/answers/http/wire-body")
    assert response.status_code == 502 and response.json()["error"]["code"] == "invalid_response"


def test_an_invalid_http_response_fails_at_the_authors_line(answers: APIClient, functions_api: APIClient) -> None:
    # The owner (service key) sees the traceback pointing at the handler's own line.
    response = functions_api.get("/v1/functions/answers/http/bad-status")
    assert response.status_code == 500
    invocation = response.json()["error"]["details"]["invocation"]
    assert "status must be a whole number from 200 to 599" in invocation["error"]["message"]
    assert "HttpResponse(status=99)" in invocation["error"]["traceback"]


# --- failures keep their shapes ----------------------------------------------------------------------
def test_an_unlabelled_exception_is_function_error_for_a_caller(answers: APIClient, api: APIClient) -> None:
    response = api.get("/v1/functions/answers/http/raise")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "function_error" and error["message"] == "The function failed."
    assert "sk_live_do_not_show" not in response.content.decode()
    invocation = error["details"]["invocation"]
    assert invocation["status"] == "failed" and invocation["logs"] is None
    assert response["X-Baas-Invocation-Id"] == invocation["id"]


def test_the_owner_sees_the_exception_and_its_traceback(answers: APIClient, functions_api: APIClient) -> None:
    response = functions_api.get("/v1/functions/answers/http/raise")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "function_error" and "sk_live_do_not_show" in error["message"]
    assert "KeyError" in error["details"]["invocation"]["error"]["traceback"]


def test_a_labelled_error_keeps_its_code(answers: APIClient, api: APIClient) -> None:
    response = api.get("/v1/functions/answers/http/labelled")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "out_of_stock"
    assert response.json()["error"]["message"] == "Nothing left"


def test_a_timeout_is_504(answers: APIClient, api: APIClient) -> None:
    response = api.get("/v1/functions/answers/http/sleep")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"


# --- /invoke stays as it was ---------------------------------------------------------------------------
def test_invoke_shows_an_http_response_as_its_wire_object(answers: APIClient) -> None:
    from tests.functions.conftest import invoke

    # /invoke's event has no method or path: the handler's `event["path"]` fails there, so use one
    # that returns an HttpResponse whatever it is given.
    source = (
        "from baas_runtime import HttpResponse, on_http\n\n@on_http\ndef h(event, ctx):\n"
        "    return HttpResponse('made', status=201, headers={'x-a': 'b'})\n"
    )
    assert deploy(answers, "made", source).status_code == 201
    body = invoke(answers, "made", {"n": 1}).json()
    assert body["invocation"]["status"] == "succeeded"
    wire = body["result"]["$http"]
    assert wire["status"] == 201
    assert ["x-a", "b"] in wire["headers"] and ["content-type", "text/plain; charset=utf-8"] in wire["headers"]
    assert base64.b64decode(wire["body_base64"]) == b"made"
    event = _invocations("made")[-1].event
    assert set(event) == {"payload", "auth"}  # the invoke event is unchanged


# --- who may call: the `invoke` setting, as at /invoke ---------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "caller", "status"),
    [
        ("public", "anonymous", 200),
        ("public", "user", 200),
        ("public", "broken", 401),
        ("authenticated", "anonymous", 401),
        ("authenticated", "user", 200),
        ("service", "user", 403),
        ("service", "anonymous", 401),
        ("service", "service", 200),
    ],
)
def test_who_may_call(functions_api: APIClient, alice_api: APIClient, setting: str, caller: str, status: int) -> None:
    assert deploy(functions_api, "gate", ECHO, invoke=setting).status_code == 201
    client = {
        "anonymous": APIClient(),
        "user": alice_api,
        "broken": bearer("not-a-token"),
        "service": functions_api,
    }[caller]
    response = client.post("/v1/functions/gate/http/hook")
    assert response.status_code == status, response.content
    if status == 200:
        role = response.json()["auth"] and response.json()["auth"]["role"]
        assert role == {"anonymous": None, "user": "user", "service": "service"}[caller]
    else:
        assert _invocations("gate") == []  # refused: nothing recorded


def test_the_console_session_is_not_a_credential_here(functions_api: APIClient, csrf_staff_api: APIClient) -> None:
    assert deploy(functions_api, "staffonly", ECHO).status_code == 201  # invoke: service
    response = csrf_staff_api.post("/v1/functions/staffonly/http/x")
    assert response.status_code == 401
    assert _invocations("staffonly") == []


# --- CORS --------------------------------------------------------------------------------------------
def test_a_cors_preflight_is_answered_by_the_platform(echo: APIClient, api: APIClient, settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    preflight = api.options(
        "/v1/functions/echo/http/x",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert _invocations("echo") == []  # the function never ran for it
    answer = _call(api, "POST", "/v1/functions/echo/http/x", b"{}", HTTP_ORIGIN="https://app.example.com")
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == "https://app.example.com"
