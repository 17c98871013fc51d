"""The wire of an HTTP handler's request and answer, in one place for the runtime and the worker.

A request to `/v1/functions/{name}/http/{path}` reaches the sandbox as an event of plain JSON:

    {"method": "POST", "path": "/stripe", "query": {"a": "1"}, "query_string": "a=1",
     "headers": {"content-type": "application/json", …}, "body_base64": "eyJpZCI6…",
     "payload": {…} | null, "auth": {…} | null}

and each runtime hands its handler the body in its own bytes type (Python: `event["body"]`, a
`bytes`; `body_base64` is removed). A handler's answer with a status, headers or a non-JSON body
travels back as the invocation's result:

    {"$http": {"status": 201, "headers": [["content-type", "text/plain; charset=utf-8"]],
               "body_base64": "aGVsbG8="}}

`check_answer` is the one judge of that shape: the worker applies it to whatever a sandbox sent
(a function may write the wire by hand, or come from another language's runtime), and the Python
runtime applies it when an `HttpResponse` is built, so a mistake shows up at the user's own line.
Standard library only: this module runs inside the sandbox too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

WIRE_KEY = "$http"
# Informational answers (1xx) are not final answers to a request: a server cannot send one as the
# response. 204, 205 and 304 carry no body by definition.
LOWEST_STATUS, HIGHEST_STATUS = 200, 599
BODYLESS_STATUSES = frozenset({204, 205, 304})
MAX_HEADERS = 64
MAX_HEADER_BYTES = 8192  # one header's name and value together

# Headers a function may not set. Hop-by-hop headers and the framing (Content-Length,
# Transfer-Encoding) belong to the server's connection; cookies would be set on the platform's own
# origin, which the console and every other function share (a function could overwrite the
# console's session or CSRF cookie); CORS, the security headers and X-Request-Id are the
# platform's answer to every request, and `x-baas-*` are its internal signals.
REFUSED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "set-cookie",
        "set-cookie2",
        "strict-transport-security",
        "content-security-policy",
        "content-security-policy-report-only",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "permissions-policy",
        "x-request-id",
        "date",
        "server",
    }
)
REFUSED_PREFIXES = ("access-control-", "cross-origin-", "proxy-", "x-baas-")

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")


class InvalidAnswer(ValueError):
    """An HTTP answer the platform will not send (the message says why)."""


def is_answer(value: Any) -> bool:
    """Whether a handler's result is the HTTP answer wire (an object with the one key `$http`)."""
    return isinstance(value, dict) and len(value) == 1 and WIRE_KEY in value


def check_answer(value: Any, *, max_body_bytes: int | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body of an answer on the wire; raises InvalidAnswer."""
    answer = value.get(WIRE_KEY) if isinstance(value, dict) else None
    if not isinstance(answer, dict):
        raise InvalidAnswer(f"{WIRE_KEY} must be an object with status, headers and body_base64")
    unknown = set(answer) - {"status", "headers", "body_base64"}
    if unknown:
        raise InvalidAnswer(f"unknown field(s) in the answer: {', '.join(sorted(unknown))}")
    status = check_status(answer.get("status", 200))
    headers = check_headers(answer.get("headers") or [])
    encoded = answer.get("body_base64") or ""
    if not isinstance(encoded, str):
        raise InvalidAnswer("body_base64 must be a string")
    try:
        body = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAnswer("body_base64 is not base64") from None
    if body and status in BODYLESS_STATUSES:
        raise InvalidAnswer(f"a {status} answer has no body")
    if max_body_bytes is not None and len(body) > max_body_bytes:
        raise InvalidAnswer(f"the body is {len(body)} bytes; at most {max_body_bytes} may be sent")
    return status, headers, body


def check_status(status: Any) -> int:
    if isinstance(status, bool) or not isinstance(status, int) or not LOWEST_STATUS <= status <= HIGHEST_STATUS:
        raise InvalidAnswer(
            f"status must be a whole number from {LOWEST_STATUS} to {HIGHEST_STATUS}, not {_short(status)}"
        )
    return status


def check_headers(headers: Any) -> list[tuple[str, str]]:
    """Pairs `[name, value]` (a mapping is accepted too); names are sent lower-case."""
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    if not isinstance(pairs, list):
        raise InvalidAnswer("headers must be a list of [name, value] pairs")
    if len(pairs) > MAX_HEADERS:
        raise InvalidAnswer(f"at most {MAX_HEADERS} headers may be sent")
    checked = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidAnswer("each header must be a [name, value] pair")
        name, value = pair
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise InvalidAnswer(f"{_short(name)} is not a header name")
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            raise InvalidAnswer(f"the value of header {_short(name)} must be printable ASCII on one line")
        if len(name) + len(value) > MAX_HEADER_BYTES:
            raise InvalidAnswer(f"header {_short(name)} is longer than {MAX_HEADER_BYTES} bytes")
        lowered = name.lower()
        if lowered in REFUSED_HEADERS or lowered.startswith(REFUSED_PREFIXES):
            raise InvalidAnswer(f"a function may not set the {_short(name)} header")
        checked.append((lowered, value))
    return checked


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class HttpResponse:
    """What an `@on_http` handler returns to choose its answer's status, headers and body.

    `body`: a dict or list (sent as JSON, `application/json`), a str (`text/plain; charset=utf-8`),
    bytes (`application/octet-stream`) or None (no body); a `content-type` in `headers` wins.
    Refused at once with ValueError: a status outside 200 to 599, a header a function may not set
    (hop-by-hop, Content-Length, Set-Cookie, CORS and security headers: see the docs)."""

    def __init__(self, body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status = check_status(status)
        given = check_headers(dict(headers or {}))
        data, content_type = _encode_body(body)
        if content_type and not any(name == "content-type" for name, _ in given):
            given.append(("content-type", content_type))
        self.headers = given
        self.body = data
        if data and self.status in BODYLESS_STATUSES:
            raise InvalidAnswer(f"a {self.status} answer has no body")

    def to_wire(self) -> dict[str, Any]:
        return {
            WIRE_KEY: {
                "status": self.status,
                "headers": [[name, value] for name, value in self.headers],
                "body_base64": base64.b64encode(self.body).decode("ascii"),
            }
        }

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status}, headers={self.headers!r}, body={len(self.body)} bytes)"


def _encode_body(body: Any) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, (dict, list)):
        return json.dumps(body, separators=(",", ":")).encode("utf-8"), "application/json"
    raise InvalidAnswer(f"body must be a dict, list, str, bytes or None, not {type(body).__name__}")


def event_for_handler(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a Python handler sees it: `body` as bytes instead of `body_base64`."""
    if "body_base64" not in event:
        return event
    decoded = dict(event)
    decoded["body"] = base64.b64decode(decoded.pop("body_base64") or "")
    return decoded
