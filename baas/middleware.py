"""Kernel middleware: request id + access log + metrics, the body size limit, the error shape."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from baas import client_address, errors, metrics
from baas.logs import request_id_var

access_log = logging.getLogger("baas.access")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

Handler = Callable[[HttpRequest], HttpResponse]


# The bits uuid4() sets: version 4 and the RFC 4122 variant.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """`uuid.uuid4().hex` without building a UUID object (its checks cost more than the randomness):
    the same 32 hex digits with the same version and variant bits."""
    value = int.from_bytes(os.urandom(16), "big")
    return "%032x" % (value & _UUID4_CLEAR | _UUID4_SET)


def _route_of(request: HttpRequest) -> str:
    """The URL pattern that served the request: bounded label values for metrics."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + (match.route or match.view_name or "unknown").lstrip("^").rstrip("$")


# A response whose real outcome comes later, from the ASGI side (a synchronous function invoke hands
# its wait to baas.asgi and answers 200/4xx/5xx there): it carries this header with the route, and
# is logged and counted by `record_request` once that answer is sent, not here with a placeholder
# status. The header never reaches the client.
OUTCOME_LATER_HEADER = "X-Baas-Outcome-Later"


def record_request(*, method: str, path: str, route: str, status: int, seconds: float, request_id: str) -> None:
    """The access log line and the metrics of one answered request."""
    metrics.observe_request(method=method, route=route, status=status, seconds=seconds)
    token = request_id_var.set(request_id)
    try:
        access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={"status": status, "duration_ms": round(seconds * 1000, 2), "route": route},
        )
    finally:
        request_id_var.reset(token)


class RequestContextMiddleware:
    """Gives every request an id (kept from X-Request-Id when sane), logs and measures it."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # META, not request.headers: building the headers mapping parses every META key, and
        # most requests never need it (`X-Request-Id` arrives as HTTP_X_REQUEST_ID either way).
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            response["X-Request-Id"] = request_id
            route = _route_of(request)
            if OUTCOME_LATER_HEADER in response:
                response[OUTCOME_LATER_HEADER] = route  # logged by whoever sends the real answer
                return response
            metrics.observe_request(
                method=request.method or "", route=route, status=response.status_code, seconds=elapsed
            )
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "route": route,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class ClientAddressMiddleware:
    """Puts the client's address in REMOTE_ADDR (baas/client_address.py) and takes the forwarding
    headers out of the request, so nothing after it can read X-Forwarded-For differently; only a
    trusted proxy may say the request came over HTTPS (X-Forwarded-Proto)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        client_address.trusted_networks(tuple(settings.BAAS_TRUSTED_PROXIES))  # a bad setting fails at start

    def __call__(self, request: HttpRequest) -> HttpResponse:
        networks = client_address.trusted_networks(tuple(settings.BAAS_TRUSTED_PROXIES))  # (cached)
        hops = settings.AUTH_TRUSTED_PROXY_COUNT
        meta = request.META
        peer = meta.get("REMOTE_ADDR")
        forwarded_for = meta.pop("HTTP_X_FORWARDED_FOR", "")
        if not (hops or client_address.is_trusted(client_address.parse_address(peer), networks)):
            meta.pop("HTTP_X_FORWARDED_PROTO", None)
        meta["REMOTE_ADDR"] = client_address.client_address(peer, forwarded_for, networks, hops) or ""
        return self.get_response(request)


class BodySizeLimitMiddleware:
    """Refuses a declared body larger than BAAS_MAX_BODY_BYTES with 413 before reading it."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.BAAS_MAX_BODY_BYTES
        if not request.path.startswith(settings.BAAS_BODY_LIMIT_EXEMPT_PREFIXES):
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return errors.error_response(errors.InvalidRequest("Content-Length is not a number."))
            if declared > limit:
                return errors.error_response(
                    errors.TooLarge(
                        f"The request body is {declared} bytes; the limit is {limit}.",
                        details={"limit": limit},
                    )
                )
        return self.get_response(request)


_ERROR_FOR_STATUS: dict[int, type[errors.ApiError]] = {
    400: errors.InvalidRequest,
    401: errors.NotAuthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    409: errors.Conflict,
    412: errors.PreconditionFailed,
    413: errors.TooLarge,
    415: errors.UnsupportedMediaType,
    429: errors.RateLimited,
    503: errors.Unavailable,
}


# The console's HTML pages: their errors are pages for a person, not the API's error shape.
BROWSER_PAGES_PREFIX = "/console/"


class ErrorShapeMiddleware:
    """Makes sure no error leaves as an HTML page or a traceback.

    DRF views already answer in the error shape (baas.errors.drf_exception_handler); this catches
    what happens outside them: unknown URLs, Django's own 405/400/403 (CSRF) pages, exceptions in
    plain views.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
            return response
        if getattr(response, "sent_verbatim", False):
            return response  # a function's own answer at /v1/functions/{name}/http/… (its choice)
        if request.path.startswith(BROWSER_PAGES_PREFIX):
            return response  # the console's own pages (a form with its errors, a CSRF refusal)
        error_class = _ERROR_FOR_STATUS.get(response.status_code)
        if error_class is None:
            error = errors.ApiError(code="http_error")
            error.http_status = response.status_code
            if response.status_code >= 500:
                error = errors.InternalError()
        else:
            error = error_class()
        shaped = errors.error_response(error)
        if response.has_header("Allow"):
            shaped["Allow"] = response["Allow"]
        return shaped

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse:
        return errors.error_response(errors.from_exception(exception))


class BrowserSessionMiddleware:
    """Runs the browser middlewares (settings.BAAS_BROWSER_MIDDLEWARE: sessions and Django's auth
    user) for every request except bearer-authenticated API calls to BAAS_BEARER_API_PREFIXES.

    Those paths are served by DRF views only, whose authentication classes take a request with an
    `Authorization` header by its bearer credentials alone: any bearer they cannot accept is
    refused, never passed on to the session. So for such a request the session and
    `request.user` are never consulted, and building them is pure cost. Requests without that
    header — the console's session-cookie requests above all — run the wrapped middlewares exactly
    as if they were listed in MIDDLEWARE. (CsrfViewMiddleware stays in MIDDLEWARE for everyone;
    DRF views are exempt from it and check CSRF themselves for session-authenticated requests.)
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self._view_hooks: list[Callable[..., HttpResponse | None]] = []
        chain: Handler = get_response
        for path in reversed(settings.BAAS_BROWSER_MIDDLEWARE):
            wrapped = import_string(path)(chain)
            if hasattr(wrapped, "process_view"):
                self._view_hooks.insert(0, wrapped.process_view)
            chain = convert_exception_to_response(wrapped)  # as Django's handler wraps each middleware
        self.browser_chain = chain

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _bearer_api_call(request):
            return self.get_response(request)
        return self.browser_chain(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: tuple, kwargs: dict
    ) -> HttpResponse | None:
        if _bearer_api_call(request):
            return None
        for hook in self._view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None


def _bearer_api_call(request: HttpRequest) -> bool:
    return bool(request.META.get("HTTP_AUTHORIZATION")) and request.path.startswith(settings.BAAS_BEARER_API_PREFIXES)
