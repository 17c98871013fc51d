"""A synchronous HTTP invoke whose wait holds no thread: the ASGI side awaits the result.

`POST /v1/functions/{name}/invoke`, and any request to `/v1/functions/{name}/http/…` (webhooks,
whose answer is the handler's own status, headers and body), still go through the whole WSGI stack (middleware,
authentication, throttling, the view, the service that records and queues the invocation), in
a2wsgi's thread pool. When the request came through `baas.asgi`, which marks it with this
process's secret hand-off token, the view does not wait there: it answers at once with a hand-off
header naming the invocation. `baas.asgi` holds that answer back, frees the thread, awaits the
invocation's end (`functions.waiting.wait_finished`, the one wait loop), and then sends the real
answer — built by the same function as the WSGI view's (`representations.invoke_answer`), with the
headers the middleware set. Under a plain WSGI server (`baas serve --interface wsgi`) no request
carries the token and the view waits itself (`functions.waiting.wait_for`).

This module is the HTTP edge only; how a wait wakes up is functions/waiting.py's business.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rest_framework.renderers import JSONRenderer

from baas.errors import error_body
from baas.middleware import OUTCOME_LATER_HEADER, record_request
from functions import waiting
from functions.api.representations import http_answer, invoke_answer

if TYPE_CHECKING:
    from functions.models import Invocation

logger = logging.getLogger("baas.functions")

# A request header only baas.asgi can set (a client's own copy is removed first): its value is a
# secret of this process, so a client cannot ask a WSGI server for a hand-off answer.
HANDOFF_REQUEST_HEADER = b"x-baas-invoke-handoff"
HANDOFF_META = "HTTP_X_BAAS_INVOKE_HANDOFF"
HANDOFF_TOKEN = secrets.token_urlsafe(24)
# The view's answer: "<invocation id> <seconds to wait> <owner|caller> <answer>", where answer is
# how to answer: INVOKE (`{invocation, result}`), HTTP (the handler's own answer, /http/ routes) or
# HTTP_HEAD (the same without its body).
HANDOFF_RESPONSE_HEADER = "X-Baas-Await-Invocation"
INVOKE, HTTP, HTTP_HEAD = "invoke", "http", "http-head"

_INVOKE_PATH = re.compile(r"^/v1/functions/[^/]+/invoke/?$")
_HTTP_PATH = re.compile(r"^/v1/functions/[^/]+/http(/.*)?$")  # any method: webhooks

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def applies(scope: dict[str, Any]) -> bool:
    if scope["type"] != "http":
        return False
    if scope.get("method") == "POST" and _INVOKE_PATH.match(scope["path"]):
        return True
    return bool(_HTTP_PATH.match(scope["path"]))


def may_hand_off(meta: dict[str, Any]) -> bool:
    """Whether the request came through baas.asgi (which awaits the result itself)."""
    return secrets.compare_digest(str(meta.get(HANDOFF_META, "")), HANDOFF_TOKEN)


def handoff_header(invocation_id: Any, timeout: float, *, for_owner: bool, answer: str = INVOKE) -> dict[str, str]:
    """The view's hand-off answer headers (the audience and the kind of answer travel with it: see
    `rendered_answer`). The request is logged and counted here, with the status the client gets,
    not by the middleware."""
    return {
        HANDOFF_RESPONSE_HEADER: f"{invocation_id} {timeout} {'owner' if for_owner else 'caller'} {answer}",
        OUTCOME_LATER_HEADER: "pending",  # the middleware puts the route here
    }


async def serve(app: ASGIApp, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run an invoke request through the WSGI `app`; if it hands off, await and answer here."""
    headers = [(name, value) for name, value in scope["headers"] if name.lower() != HANDOFF_REQUEST_HEADER]
    scope = {**scope, "headers": [*headers, (HANDOFF_REQUEST_HEADER, HANDOFF_TOKEN.encode())]}
    started = time.perf_counter()
    before_commit = time.monotonic()  # the view commits the invocation after this
    held = _HeldAnswer(send)
    await app(scope, receive, held.send)
    if held.invocation_id is None:
        return
    try:
        # A replayed hand-off (baas/idempotency.py) names an invocation committed before this request.
        since = None if held.replayed else before_commit
        invocation = await waiting.wait_finished(held.invocation_id, held.timeout, since=since)
        if held.answer_kind == INVOKE:
            status, body = rendered_answer(invocation, for_owner=held.for_owner)
            headers = [("content-type", "application/json")]
        else:
            status, headers, body = http_answer(invocation, for_owner=held.for_owner)
    except Exception:
        logger.exception("waiting for an invocation failed", extra={"invocation": held.invocation_id})
        status, headers, body = 500, [("content-type", "application/json")], _internal_error()
    await held.answer(status, headers, body, head=held.answer_kind == HTTP_HEAD)
    record_request(
        method=scope["method"],
        path=scope["path"],
        route=held.route,
        status=status,
        seconds=time.perf_counter() - started,
        request_id=held.request_id,
    )


def rendered_answer(invocation: Invocation, *, for_owner: bool) -> tuple[int, bytes]:
    """The status and JSON body of the answer to a hand-off, as the WSGI view would render them.
    `invocation` must come with its function and version (as `wait_finished` returns it)."""
    status, data = invoke_answer(invocation, for_owner=for_owner)
    return status, JSONRenderer().render(data)


class _HeldAnswer:
    """Passes an ordinary answer through; keeps back a hand-off answer and its headers."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.invocation_id: str | None = None
        self.timeout = 0.0
        self.for_owner = False  # the caller may see logs and tracebacks (selectors.may_see_internals)
        self.answer_kind = INVOKE
        self.route = "unmatched"  # for the access log and metrics, as the middleware named it
        self.request_id = ""
        self.replayed = False  # the hand-off is an Idempotency-Key replay of an earlier request's
        self._headers: list[tuple[bytes, bytes]] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            wanted = HANDOFF_RESPONSE_HEADER.lower().encode()
            handoff = [value for name, value in message.get("headers", []) if name.lower() == wanted]
            if handoff:
                invocation_id, timeout, audience, answer_kind = handoff[0].decode().split()
                self.invocation_id, self.timeout = invocation_id, float(timeout)
                self.for_owner = audience == "owner"
                self.answer_kind = answer_kind
                headers = {name.lower(): value for name, value in message.get("headers", [])}
                later = OUTCOME_LATER_HEADER.lower().encode()
                self.route = headers.get(later, b"unmatched").decode()
                self.request_id = headers.get(b"x-request-id", b"").decode()
                self.replayed = b"idempotent-replayed" in headers
                skip = {wanted, later, b"content-length", b"content-type", b"allow"}
                self._headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in skip]
                return
        if self.invocation_id is not None:
            return  # the hand-off answer's body: replaced by the real answer
        await self._send(message)

    async def answer(self, status: int, headers: list[tuple[str, str]], body: bytes, *, head: bool = False) -> None:
        """Send the real answer: the middleware's headers (CORS, X-Request-Id…), then the answer's
        own (a function's were checked: it cannot override those, baas_runtime/_http.py). A HEAD
        answer says how long the body would be and sends none."""
        sent = [*self._headers, *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers)]
        sent.append((b"content-length", str(len(body)).encode()))
        with contextlib.suppress(OSError):  # the client went away: the invocation is recorded anyway
            await self._send({"type": "http.response.start", "status": status, "headers": sent})
            await self._send({"type": "http.response.body", "body": b"" if head else body})


def _internal_error() -> bytes:
    return json.dumps(error_body("internal_error", "The server failed to wait for the result.")).encode()
