"""The lean path of the document endpoints: requests with bearer credentials skip DRF's dispatch.

A document read or write is only a few hundred microseconds of our own work; DRF's per-request
machinery (request wrapping, negotiation, parser and renderer selection, authentication and
permission loops, response finalization) costs as much again. Callers with `Authorization: Bearer`
(the SDKs, service keys) are served by `LeanBearerDispatch.dispatch` with the same authentication
classes, the same JSON parsing (baas.jsonvalues) and renderer, and the same error shape — byte for byte the answers
DRF gives. Every request that is not plainly such a request (no bearer header, so possibly the
console's session cookie with its CSRF check; an unusual Accept or Content-Type; `?format=`; any
other method) takes DRF's own dispatch, unchanged. See docs/documents.md, "Performance".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse
from rest_framework.renderers import JSONRenderer

from auth.authentication import bearer_principal, refused_service_key, service_key_check
from baas import jsonvalues
from baas.errors import from_exception
from baas.principals import Principal

Answer = tuple[int, Any, dict[str, Any] | None]
Handler = Callable[..., Answer]
# `(key_check, request, **url_kwargs) -> answer | None`: a handler that runs the caller's service-key
# check inside its own statement; None when the key is not an active one.
KeyCheckingHandler = Callable[..., Answer | None]

_JSON_RENDERER = JSONRenderer()
# Accept values DRF's negotiation resolves to plain application/json with our single renderer.
_PLAIN_ACCEPTS = {"", "*/*", "application/*", "application/json"}
_METHODS_WITH_BODY = {"POST", "PUT", "PATCH"}


class LeanBearerDispatch:
    """Mixin for an APIView: `lean_methods` maps HTTP methods to handlers
    `(principal, request, **url_kwargs, body=…) -> (status, body, document | None)`, and
    `key_checking_methods` those (a subset) that take a service key's pending check instead of a
    principal, to check the key in the same statement as their own work."""

    lean_methods: ClassVar[dict[str, Handler]] = {}
    key_checking_methods: ClassVar[dict[str, KeyCheckingHandler]] = {}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        handler = self.lean_methods.get(request.method or "")
        if handler is None or args or not _plain_bearer_request(request):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        try:
            answer = self._answer_checking_key(request, kwargs)
            if answer is None:
                principal = bearer_principal(request)
                if principal is None:  # not a bearer request after all: DRF decides
                    return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
                answer = _run(handler, principal, request, kwargs)
            status, body, doc = answer
        except Exception as exc:  # the same mapping as DRF's exception handler (baas.errors)
            error = from_exception(exc)
            response = _json_response(error.http_status, error.as_dict())
            for name, value in error.headers.items():
                response[name] = value
        else:
            response = _json_response(status, body)
            if doc is not None:
                response["ETag"] = f'"{doc["version"]}"'
        response["Allow"] = ", ".join(self.allowed_methods)  # type: ignore[attr-defined]  # as DRF does
        return response

    def _answer_checking_key(self, request: HttpRequest, kwargs: dict[str, Any]) -> Answer | None:
        """The answer of a key-checking handler for a service-key request; None for other requests."""
        handler = self.key_checking_methods.get(request.method or "")
        key_check = service_key_check(request) if handler is not None else None
        if key_check is None:
            return None
        answer = handler(key_check, request, **kwargs)
        if answer is None:
            raise refused_service_key()
        return answer


def _run(handler: Handler, principal: Principal, request: HttpRequest, kwargs: dict[str, Any]) -> Any:
    body = _json_body(request) if request.method in _METHODS_WITH_BODY else None
    return handler(principal, request, **kwargs, body=body)


def _plain_bearer_request(request: HttpRequest) -> bool:
    meta = request.META
    if not meta.get("HTTP_AUTHORIZATION") or "format" in request.GET:
        return False
    accept = meta.get("HTTP_ACCEPT", "")
    if ";" in accept or not any(part.strip() in _PLAIN_ACCEPTS for part in accept.split(",")):
        return False
    if request.method in _METHODS_WITH_BODY and _content_length(request):
        media_type, _, params = meta.get("CONTENT_TYPE", "").partition(";")
        if media_type.strip().lower() != "application/json" or params.strip().lower() not in ("", "charset=utf-8"):
            return False
    return True


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _json_body(request: HttpRequest) -> Any:
    """The body as the API's JSON parser (baas.parsers) reads it: an empty body is `{}`; bad JSON,
    or a value outside the policy of baas.jsonvalues, is the same 400."""
    if not _content_length(request):
        return {}
    return jsonvalues.loads(request.body)


def _json_response(status: int, body: Any) -> HttpResponse:
    if body is None:
        response = HttpResponse(status=status)
        del response["Content-Type"]  # DRF sends no Content-Type with an empty body
        return response
    return HttpResponse(_JSON_RENDERER.render(body), status=status, content_type="application/json")
