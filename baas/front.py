"""The lean front: the hottest API calls answered before Django's request handling, same answers.

A document get with a service key or a user's token is a few hundred microseconds of our own
work; Django's WSGI handler around it (the request object, twelve middlewares, each wrapped for
exceptions, URL resolution, the view wrapper, the response object and its headers) costs as much
again. `LeanFront` wraps the WSGI app: a request to a route whose view class answers lean calls
(`front_answer`, see auth/bearer_dispatch.py) and that needs nothing of what the middlewares
decide is answered here; every other request goes to Django unchanged.

What the middlewares do is done here for the requests served here, from the same settings and
helpers: the client's address (`ClientAddressMiddleware`), the request id, access log line and
metrics (`RequestContextMiddleware`), CORS headers (django-cors-headers' decision, through
`baas.origins`), the security headers (`SecurityMiddleware`'s own values), `Content-Length`
(`CommonMiddleware`), and Django's request_started/request_finished signals (which keep database
connections healthy). What they would decide otherwise is left to Django by not serving here: a
declared body over the limit, a NUL anywhere, a host not in ALLOWED_HOSTS, cookies (sessions, the
CSRF cookie), `Idempotency-Key`, a redirect to HTTPS. Routing is Django's own URL configuration,
compiled at start into one regular expression with the patterns in their order, so a path reaches
the view Django would have chosen (`tests/platform/test_lean_front.py` checks both against each
other, answers included).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from functools import cached_property
from http.client import responses
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import caches, close_caches
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.handlers.base import reset_urlconf
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections, reset_queries
from django.dispatch import Signal
from django.http import HttpRequest, QueryDict
from django.http.request import HttpHeaders
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern, URLResolver, get_resolver, set_urlconf
from django.urls.converters import IntConverter, PathConverter, SlugConverter, StringConverter, UUIDConverter
from django.urls.resolvers import RoutePattern

from baas import client_address, metrics
from baas.logs import request_id_var
from baas.middleware import _SAFE_REQUEST_ID, access_log, new_request_id

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# (status, body or None, headers) — the view's own headers (Content-Type, ETag, Allow, …).
FrontAnswer = tuple[int, bytes | None, list[tuple[str, str]]]
FrontAnswerOf = Callable[[HttpRequest, dict[str, Any]], FrontAnswer | None]

# Converters whose regular expression admits only values their to_python accepts: a match of the
# compiled table is then the match Django's resolver makes.
_TOTAL_CONVERTERS = (StringConverter, IntConverter, SlugConverter, UUIDConverter, PathConverter)
_STATUS_LINES = {code: f"{code} {phrase}" for code, phrase in responses.items()}


class LeanRequest(HttpRequest):
    """What the lean views read of a request (META, method, path, GET, body, headers, host), built
    from the environ without the rest of WSGIRequest's work."""

    def __init__(self, environ: dict[str, Any], path: str) -> None:  # no super(): nothing else is needed
        self.environ = self.META = environ
        self.method = environ["REQUEST_METHOD"]
        self.path_info = path
        self.path = path if not environ.get("SCRIPT_NAME") else environ["SCRIPT_NAME"] + path
        self.resolver_match = None
        self.content_type = None
        self.content_params = None
        self._stream = environ["wsgi.input"]

    @cached_property
    def GET(self) -> QueryDict:  # type: ignore[override]  # as WSGIRequest.GET
        return QueryDict(get_bytes_from_wsgi(self.environ, "QUERY_STRING", ""), encoding=self.encoding)

    @cached_property
    def headers(self) -> HttpHeaders:
        return HttpHeaders(self.META)

    @cached_property
    def COOKIES(self) -> dict[str, str]:  # type: ignore[override]
        return {}  # requests with cookies are not served here

    @property
    def body(self) -> bytes:
        """The body, of the declared length (the front only serves bodies within the limits)."""
        if not hasattr(self, "_body"):
            length = int(self.META.get("CONTENT_LENGTH") or 0)
            self._body = self._stream.read(length) if length else b""
        return self._body


class _Route:
    __slots__ = ("converters", "defaults", "groups", "lean", "route", "view_class")

    def __init__(self, groups: list[tuple[str, str]], converters: dict[str, Any], defaults: dict[str, Any],
                 route: str, view_class: Any) -> None:  # fmt: skip
        self.groups = groups  # (the group's name in the table, the keyword argument's name)
        self.converters = converters
        self.defaults = defaults
        self.route = route  # as Django's ResolverMatch.route, for the metrics' label
        self.view_class = view_class
        self.lean = getattr(view_class, "front_answer", None)


class RouteTable:
    """Django's URL patterns, in order, as one regular expression (first match wins, as in Django's
    resolver). Only patterns up to the last one with a lean view are compiled: later ones cannot
    take a path from an earlier one."""

    def __init__(self, urlconf: Any = None) -> None:
        entries: list[tuple[str, list[tuple[str, str]], dict[str, Any], dict[str, Any], str, Any]] = []
        self._flatten(get_resolver(urlconf).url_patterns, "", [], {}, {}, "", entries)
        last_lean = max((i for i, entry in enumerate(entries) if hasattr(entry[5], "front_answer")), default=-1)
        self.routes: dict[str, _Route] = {}
        alternatives = []
        for index, (regex, groups, converters, defaults, route, view_class) in enumerate(entries[: last_lean + 1]):
            name = f"r{index}"
            alternatives.append(f"(?P<{name}>{regex})")
            self.routes[name] = _Route(groups, converters, defaults, route, view_class)
        self.regex = re.compile("|".join(alternatives)) if alternatives else None

    def _flatten(self, patterns: list[Any], regex: str, groups: list[tuple[str, str]], converters: dict[str, Any],
                 defaults: dict[str, Any], route: str, out: list[Any]) -> None:  # fmt: skip
        for pattern in patterns:
            if not isinstance(pattern.pattern, RoutePattern):
                # A regular expression of its own: its groups and anchors would need translating.
                # Nothing after it can be served here (it might take the path first).
                out.append(("(?!)", [], {}, {}, "", None))
                continue
            own = pattern.pattern.regex.pattern
            own = own[1:] if own.startswith("^") else own
            prefix = len(out)
            own_groups = list(groups)

            def rename(
                match: re.Match[str], own_groups: list[tuple[str, str]] = own_groups, prefix: int = prefix
            ) -> str:
                name = match.group(1)
                renamed = f"g{prefix}_{len(own_groups)}"
                own_groups.append((renamed, name))
                return f"(?P<{renamed}>"

            own = re.sub(r"\(\?P<(\w+)>", rename, own)
            own_converters = {**converters, **pattern.pattern.converters}
            if any(not isinstance(c, _TOTAL_CONVERTERS) for c in own_converters.values()):
                raise ImproperlyConfigured(f"baas.front: the converters of {pattern!r} may refuse a match")
            own_route = route + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                self._flatten(pattern.url_patterns, regex + own, own_groups, own_converters,
                              {**defaults, **pattern.default_kwargs}, own_route, out)  # fmt: skip
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None)
                out.append((regex + own, own_groups, own_converters, {**defaults, **pattern.default_args},
                            own_route, view_class))  # fmt: skip

    def match(self, path: str) -> tuple[_Route, dict[str, Any]] | None:
        """The route Django would resolve `path` (without its leading slash) to, and its arguments."""
        if self.regex is None:
            return None
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        route = self.routes[found.lastgroup]  # type: ignore[index]
        kwargs = dict(route.defaults)
        for group, name in route.groups:
            value = found.group(group)
            converter = route.converters.get(name)
            kwargs[name] = value if converter is None else converter.to_python(value)
        return route, kwargs


class LeanFront:
    """WSGI app: lean routes answered here (see the module's docstring), the rest by `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.table = RouteTable()
        security = SecurityMiddleware(lambda request: None)  # type: ignore[arg-type]
        self._hsts = _hsts_value(security)
        # SecurityMiddleware's headers (it sets them unless the view did; ours never do).
        self._security_headers: list[tuple[str, str]] = []
        if security.content_type_nosniff:
            self._security_headers.append(("X-Content-Type-Options", "nosniff"))
        policy = getattr(security, "referrer_policy", None)  # (set in its __init__; not in the stubs)
        if policy:
            parts = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else policy
            self._security_headers.append(("Referrer-Policy", ",".join(parts)))
        opener_policy = getattr(security, "cross_origin_opener_policy", None)
        if opener_policy:
            self._security_headers.append(("Cross-Origin-Opener-Policy", opener_policy))
        # The receivers Django connects itself, as connected now (`_request_started`): compared
        # with the signals' own lists on every request, so any receiver connected later (or one
        # of these disconnected) sends the signal again.
        self._started_receivers = _receivers_if(request_started, (reset_queries, close_old_connections))
        self._finished_receivers = _receivers_if(request_finished, (close_old_connections, close_caches, reset_urlconf))
        self._off = bool(
            settings.SECURE_SSL_REDIRECT
            or settings.PREPEND_WWW
            or settings.DISALLOWED_USER_AGENTS
            or settings.USE_X_FORWARDED_HOST
            or settings.APPEND_SLASH
        )

    def _request_started(self, environ: dict[str, Any]) -> None:
        """Django's request_started: with only Django's own receivers connected (the common case),
        their work done directly — each connection's query log emptied and its health and age
        checked — in one pass over the thread's connections instead of two, and without the
        signal's dispatch; with any other receiver, the signal itself."""
        if request_started.receivers == self._started_receivers:
            for db in connections.all(initialized_only=True):
                db.queries_log.clear()
                db.close_if_unusable_or_obsolete()
        else:
            request_started.send(sender=LeanFront, environ=environ)

    def _request_finished(self) -> None:
        """Django's request_finished, likewise: the connections' health and age checked, the caches
        closed, the URLconf reset (close_old_connections, close_caches, reset_urlconf)."""
        if request_finished.receivers == self._finished_receivers:
            for db in connections.all(initialized_only=True):
                db.close_if_unusable_or_obsolete()
            caches.close_all()
            set_urlconf(None)
        else:
            request_finished.send(sender=LeanFront)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        served = None if self._off else self._serve(environ, start_response)
        return self.app(environ, start_response) if served is None else served

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes] | None:
        raw_path = environ.get("PATH_INFO", "")
        if not raw_path.startswith("/v1/") or not self._plain(environ):
            return None
        try:
            path = raw_path.encode("latin-1").decode("utf-8")
        except (UnicodeError, ValueError):
            return None  # Django re-percent-encodes broken UTF-8: its answer
        if "\x00" in path:
            return None
        matched = self.table.match(path[1:])
        if matched is None or matched[0].lean is None:
            return None
        route, kwargs = matched
        request = LeanRequest(environ, path)
        if not self._host_allowed(request):
            return None
        return self._answer(route, kwargs, request, environ, start_response)

    def _plain(self, environ: dict[str, Any]) -> bool:
        """Whether no middleware would decide anything about this request but what is done here."""
        if "HTTP_COOKIE" in environ or "HTTP_IDEMPOTENCY_KEY" in environ:
            return False
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                if int(length) > settings.BAAS_MAX_BODY_BYTES:
                    return False
            except ValueError:
                return False
        elif environ.get("HTTP_TRANSFER_ENCODING"):
            return False
        query = environ.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            return False
        for name, value in environ.items():  # RefuseNulMiddleware's check
            if (name.startswith("HTTP_") or name == "CONTENT_TYPE") and isinstance(value, str) and "\x00" in value:
                return False
        return True

    @staticmethod
    def _host_allowed(request: LeanRequest) -> bool:
        """CommonMiddleware's `get_host()` check (ALLOWED_HOSTS), without its 400."""
        try:
            request.get_host()
        except DisallowedHost:
            return False
        return True

    def _answer(self, route: _Route, kwargs: dict[str, Any], request: LeanRequest, environ: dict[str, Any],
                start_response: Callable[..., Any]) -> list[bytes] | None:  # fmt: skip
        started = time.perf_counter()
        self._request_started(environ)
        try:
            _settle_client_address(environ)
            incoming = environ.get("HTTP_X_REQUEST_ID", "")
            request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else new_request_id()
            request.request_id = request_id  # type: ignore[attr-defined]
            token = request_id_var.set(request_id)
            try:
                answer = cast(FrontAnswerOf, route.lean)(request, kwargs)
                if answer is None:
                    if hasattr(request, "_body"):  # read but not answered: Django reads it again
                        import io

                        environ["wsgi.input"] = io.BytesIO(request._body)
                    return None
                status, body, headers = answer
                headers.append(("X-Request-Id", request_id))
                self._add_cors(request, headers)
                headers.extend(self._security_headers)
                if self._hsts and request.is_secure():
                    headers.append(("Strict-Transport-Security", self._hsts))
                headers.append(("Content-Length", str(len(body)) if body else "0"))
                elapsed = time.perf_counter() - started
                method = request.method or ""
                metrics.observe_request(method=method, route="/" + route.route, status=status, seconds=elapsed)
                access_log.info(
                    "%s %s %s",
                    method,
                    request.path,
                    status,
                    extra={"status": status, "duration_ms": round(elapsed * 1000, 2), "route": "/" + route.route},
                )
            finally:
                request_id_var.reset(token)
        finally:
            self._request_finished()
        start_response(_STATUS_LINES.get(status) or f"{status} Unknown Status Code", headers)
        return [body] if body else []

    @staticmethod
    def _add_cors(request: LeanRequest, headers: list[tuple[str, str]]) -> None:
        """django-cors-headers' response headers for a request that is not a preflight (the lean
        routes are all under CORS_URLS_REGEX, checked when the front starts)."""
        headers.append(("Vary", "origin"))
        origin = request.META.get("HTTP_ORIGIN")
        if origin:
            _cors_headers(request, origin, headers)


# Peers without forwarding headers, as ClientAddressMiddleware settles them (a pure function of the
# address and the two settings, which are fixed for the process): parsing an address with
# `ipaddress` on every request cost more than the rest of this step. Bounded: emptied when full.
_direct_peers: dict[tuple[str | None, tuple[str, ...], int], str] = {}
_DIRECT_PEERS_MAX = 4096


def _settle_client_address(environ: dict[str, Any]) -> None:
    """ClientAddressMiddleware's work, on the environ."""
    proxies = tuple(settings.BAAS_TRUSTED_PROXIES)
    networks = client_address.trusted_networks(proxies)
    hops = settings.AUTH_TRUSTED_PROXY_COUNT
    peer = environ.get("REMOTE_ADDR")
    if "HTTP_X_FORWARDED_FOR" not in environ and "HTTP_X_FORWARDED_PROTO" not in environ:
        # (Keyed by the setting's text, whose networks are a function of it: hashing the networks
        # themselves runs ipaddress's __hash__ in Python for each.)
        key = (peer, proxies, hops)
        settled = _direct_peers.get(key)
        if settled is None:
            if len(_direct_peers) >= _DIRECT_PEERS_MAX:
                _direct_peers.clear()
            settled = _direct_peers[key] = client_address.client_address(peer, "", networks, hops) or ""
        environ["REMOTE_ADDR"] = settled
        return
    forwarded_for = environ.pop("HTTP_X_FORWARDED_FOR", "")
    if "HTTP_X_FORWARDED_PROTO" in environ and not (
        hops or client_address.is_trusted(client_address.parse_address(peer), networks)
    ):
        del environ["HTTP_X_FORWARDED_PROTO"]
    environ["REMOTE_ADDR"] = client_address.client_address(peer, forwarded_for, networks, hops) or ""


def _cors_headers(request: LeanRequest, origin: str, headers: list[tuple[str, str]]) -> None:
    from corsheaders.conf import conf
    from corsheaders.middleware import (
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK,
    )

    from baas.origins import _decider

    try:
        url = urlsplit(origin)
    except ValueError:
        return
    if (
        not conf.CORS_ALLOW_ALL_ORIGINS
        and not _decider.origin_found_in_white_lists(origin, url)
        and not _decider.check_signal(request)
    ):
        return
    allow_all = conf.CORS_ALLOW_ALL_ORIGINS and not conf.CORS_ALLOW_CREDENTIALS
    headers.append((ACCESS_CONTROL_ALLOW_ORIGIN, "*" if allow_all else origin))
    if conf.CORS_ALLOW_CREDENTIALS:
        headers.append((ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
    if len(conf.CORS_EXPOSE_HEADERS):
        headers.append((ACCESS_CONTROL_EXPOSE_HEADERS, ", ".join(conf.CORS_EXPOSE_HEADERS)))
    if conf.CORS_ALLOW_PRIVATE_NETWORK and request.headers.get(ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK) == "true":
        headers.append((ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, "true"))


def _receivers_if(signal: Signal, functions: tuple[Callable[..., Any], ...]) -> list[Any] | None:
    """The signal's receivers list (a copy) when it is exactly `functions`, in that order, for any
    sender; else None (never equal to a receivers list)."""
    connected = [(receiver[1](), receiver[0][1]) for receiver in signal.receivers]
    if [function for function, _ in connected] != list(functions) or any(sender != id(None) for _, sender in connected):
        return None
    return list(signal.receivers)


def _hsts_value(security: SecurityMiddleware) -> str | None:
    if not security.sts_seconds:
        return None
    value = f"max-age={security.sts_seconds}"
    if security.sts_include_subdomains:
        value += "; includeSubDomains"
    if security.sts_preload:
        value += "; preload"
    return value
