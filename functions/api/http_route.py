"""A request to `/v1/functions/{name}/http/{path}` as its handler's event, and its answer back.

The event is the request nearly as sent (baas_runtime/_http.py has the wire): method, the path
below `/http/`, the query, the headers, the raw body. Taken out first are the platform's own
credentials and signals, which belong to the platform and not to a function's code:
`Authorization: Bearer …` (the caller's service key or access token; the handler sees who called
as `event["auth"]`), the console's session and CSRF cookies, and the hand-off header of
functions/api/awaiting.py (a per-process secret), and anything of the server's own environment
that a WSGI server put among the request's variables. Every other header arrives as it came,
`Authorization` of another scheme included (a sender's Basic credentials, for instance).
"""

from __future__ import annotations

import base64
import os
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from baas import jsonvalues
from baas.errors import TooLarge
from functions.api import awaiting


def platform_bearer(meta: dict[str, Any]) -> bool:
    """Whether the request carries the platform's credential (`Authorization: Bearer …`)."""
    scheme = str(meta.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")[0]
    return scheme.lower() == "bearer"


def read_body(request: HttpRequest) -> bytes:
    """The raw body, at most FUNCTIONS_HTTP_BODY_MAX_BYTES (413 `too_large` beyond: a declared
    larger body is refused unread)."""
    limit = settings.FUNCTIONS_HTTP_BODY_MAX_BYTES
    declared = str(request.META.get("CONTENT_LENGTH") or "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"A function's HTTP request body may be at most {limit} bytes.", details={"limit": limit})


def payload_of(meta: dict[str, Any], body: bytes) -> Any:
    """The body parsed as JSON when it says it is JSON (`application/json`, `…+json`) and parses;
    else None: the handler still has the raw bytes, and decides what an unreadable body means."""
    media_type = str(meta.get("CONTENT_TYPE") or "").partition(";")[0].strip().lower()
    if not body or not (media_type == "application/json" or media_type.endswith("+json")):
        return None
    try:
        return jsonvalues.loads(body)
    except jsonvalues.UnacceptableValue:
        return None


def request_event(request: HttpRequest, subpath: str, body: bytes) -> dict[str, Any]:
    """The request's part of the handler's event (`payload` and `auth` are added by the service)."""
    return {
        "method": request.method,
        "path": "/" + subpath,
        "query": dict(request.GET.items()),  # a repeated name: its last value (all of them: query_string)
        "query_string": str(request.META.get("QUERY_STRING") or ""),
        "headers": forwarded_headers(request.META),
        "body_base64": base64.b64encode(body).decode("ascii"),
    }


def forwarded_headers(meta: dict[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name, without the platform's credentials and signals."""
    headers: dict[str, str] = {}
    for key, value in meta.items():
        if os.environ.get(key) == value:
            continue  # some WSGI servers (granian) put the process environment into META too
        if key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.lower().replace("_", "-")
        else:
            continue
        if value in ("", None) and key.startswith("CONTENT_"):
            continue  # WSGI servers set these empty when the request had none
        headers[name] = str(value)
    headers.pop(awaiting.HANDOFF_META[5:].lower().replace("_", "-"), None)
    headers.pop("proxy", None)  # never a real request header (httpoxy: read as HTTP_PROXY by CGI-style code)
    if platform_bearer(meta):
        headers.pop("authorization", None)
    if "cookie" in headers:
        kept = _without_platform_cookies(headers["cookie"])
        if kept:
            headers["cookie"] = kept
        else:
            del headers["cookie"]
    return headers


def _without_platform_cookies(header: str) -> str:
    ours = {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME}
    parts = [part.strip() for part in header.split(";")]
    return "; ".join(part for part in parts if part and part.partition("=")[0].strip() not in ours)


class FunctionAnswer(HttpResponse):
    """A function's own answer: sent as it is. The error-shape middleware leaves it alone (a
    handler's 400 with a text body is its choice, not an error page of ours)."""

    sent_verbatim = True


def django_response(status: int, headers: list[tuple[str, str]], content: bytes, *, head: bool) -> HttpResponse:
    """The WSGI view's answer (baas.asgi sends the same one itself after a hand-off)."""
    response = FunctionAnswer(b"" if head else content, status=status)
    del response["Content-Type"]  # Django's default text/html: the answer says its own, or none
    for name, value in headers:
        if name in response:
            response.headers[name] = f"{response[name]}, {value}"  # a repeated header, joined
        else:
            response[name] = value
    response["Content-Length"] = str(len(content))
    return response
