"""The lean path of the hottest API views: requests with bearer credentials skip DRF's dispatch.

Used by the document endpoints (documents/api/views.py) and the current user's
`GET /v1/auth/user` (auth/api/views.py); it lives here, beside the authentication classes it
runs, because an app's api/ package may only be imported by the URL configuration.

A document read or write is only a few hundred microseconds of our own work; DRF's per-request
machinery (request wrapping, negotiation, parser and renderer selection, authentication and
permission loops, response finalization) costs as much again. Callers with `Authorization: Bearer`
(the SDKs, service keys) are served by `LeanBearerDispatch.dispatch` with the same authentication
classes (the view's, i.e. DRF's DEFAULT_AUTHENTICATION_CLASSES), the same JSON parsing
(baas.jsonvalues) and renderer, and the same error shape — byte for byte the answers DRF gives.
What DRF would do besides — permission and throttle checks, versioning, another parser, renderer
or exception handler — the lean path does not do, so a view class that has any of it (from its
own attributes or from settings) is refused when it is created (`check_lean_path`): the import
fails rather than a hook being skipped. Every request that is not plainly such a request (no
bearer header, so possibly the console's session cookie with its CSRF check; an unusual Accept or
Content-Type; `?format=`; any other method) takes DRF's own dispatch, unchanged. See docs/documents.md, "Performance".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from auth.authentication import JWTAuthentication, ServiceKeyAuthentication, bearer_check, refused
from baas import jsonvalues
from baas.errors import drf_exception_handler, from_exception
from baas.parsers import StrictJSONParser
from baas.principals import Principal

Answer = tuple[int, Any, dict[str, Any] | None]
Handler = Callable[..., Answer]
# `(key_check, request, **url_kwargs) -> answer | None`: a handler that runs the caller's service-key
# or access-token check (auth.authentication.bearer_check) inside its own statement; None when the
# key is not an active one, or the token's session not an open one.
KeyCheckingHandler = Callable[..., Answer | None]

_JSON_RENDERER = JSONRenderer()
# Accept values DRF's negotiation resolves to plain application/json with our single renderer.
_PLAIN_ACCEPTS = {"", "*/*", "application/*", "application/json"}
_METHODS_WITH_BODY = {"POST", "PUT", "PATCH"}


class LeanBearerDispatch:
    """Mixin for an APIView: `lean_methods` maps HTTP methods to handlers
    `(principal, request, **url_kwargs, body=…) -> (status, body, document | None)`, and
    `key_checking_methods` those (a subset) that take a service key's or access token's pending
    check instead of a principal, to check it in the same statement as their own work."""

    lean_methods: ClassVar[dict[str, Handler]] = {}
    key_checking_methods: ClassVar[dict[str, KeyCheckingHandler]] = {}
    # The view's authentication classes, instantiated once, up to the first session-based one.
    lean_authenticators: ClassVar[tuple[BaseAuthentication, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if issubclass(cls, APIView):
            check_lean_path(cls)
            cls.lean_authenticators = lean_authenticators(cls.authentication_classes)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        handler = self.lean_methods.get(request.method or "")
        if handler is None or args or not _plain_bearer_request(request):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        try:
            answer = self._answer_checking_key(request, kwargs)
            if answer is None:
                principal = self._bearer_principal(request)
                if principal is None:  # no authenticator of the lean path decided: DRF does
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

    def _bearer_principal(self, request: HttpRequest) -> Principal | None:
        """The principal the view's authentication classes find, in their order (as DRF's
        `perform_authentication`); None when none before the first session-based class decides.
        Raises AuthenticationFailed as they do."""
        for authenticator in self.lean_authenticators:
            found = authenticator.authenticate(request)  # type: ignore[arg-type]  # they read META only
            if found is not None:
                # What DRF's request.user would be (the token's User; None for a service key).
                request.bearer_user = found[0]  # type: ignore[attr-defined]
                return found[1]
        return None

    def _answer_checking_key(self, request: HttpRequest, kwargs: dict[str, Any]) -> Answer | None:
        """The answer of a key-checking handler for a service-key request; None for other requests."""
        handler = self.key_checking_methods.get(request.method or "")
        key_check = bearer_check(request) if handler is not None else None
        if key_check is None:
            return None
        answer = handler(key_check, request, **kwargs)
        if answer is None:
            raise refused(key_check)
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


# --- the lean path's seams, checked when a view class is created ---------------------------------

# Permission classes whose check passes every request: the lean path may skip them.
_NO_OP_PERMISSIONS = (AllowAny,)
# APIView methods through which DRF's dispatch runs hooks (authentication, permissions, throttles,
# versioning, negotiation, exception handling). A view that overrides one adds behaviour the lean
# path would skip.
_DRF_HOOKS = (
    "initialize_request",
    "initial",
    "perform_authentication",
    "check_permissions",
    "check_throttles",
    "determine_version",
    "perform_content_negotiation",
    "get_authenticators",
    "get_permissions",
    "get_throttles",
    "get_parsers",
    "get_renderers",
    "get_exception_handler",
    "handle_exception",
    "finalize_response",
)


def check_lean_path(view: type[APIView]) -> None:
    """Refuse (ImproperlyConfigured, at import) a view whose DRF dispatch would do something the
    lean path does not: a permission that is not AllowAny, a throttle, versioning, a parser,
    renderer or exception handler other than the ones the lean path reproduces, an overridden
    hook, or a service-key check that would not stand in for the first authentication class."""
    name = f"{view.__module__}.{view.__qualname__}"
    problems = []
    skipped_permissions = [cls for cls in view.permission_classes if cls not in _NO_OP_PERMISSIONS]
    if skipped_permissions:
        problems.append(f"permission classes {skipped_permissions} (the lean path checks none)")
    if list(view.throttle_classes):
        problems.append(f"throttle classes {list(view.throttle_classes)} (the lean path throttles nothing)")
    if view.versioning_class is not None:
        problems.append(f"versioning class {view.versioning_class} (the lean path does no versioning)")
    if list(view.parser_classes) != [StrictJSONParser]:
        problems.append(f"parser classes {list(view.parser_classes)} (the lean path parses as StrictJSONParser)")
    if list(view.renderer_classes) != [JSONRenderer]:
        problems.append(f"renderer classes {list(view.renderer_classes)} (the lean path renders as JSONRenderer)")
    if view.settings.EXCEPTION_HANDLER is not drf_exception_handler:
        problems.append("an exception handler other than baas.errors.drf_exception_handler")
    overridden = [hook for hook in _DRF_HOOKS if getattr(view, hook) is not getattr(APIView, hook)]
    if overridden:
        problems.append(f"overridden DRF hooks {overridden}")
    authentication = list(view.authentication_classes)
    if view.key_checking_methods and authentication[:2] != [ServiceKeyAuthentication, JWTAuthentication]:  # type: ignore[attr-defined]
        problems.append(
            "key-checking methods, but ServiceKeyAuthentication and JWTAuthentication are not the first"
            " authentication classes"
        )
    if problems:
        raise ImproperlyConfigured(
            f"{name} serves bearer requests on the lean path (auth/bearer_dispatch.py), which would skip: "
            + "; ".join(problems)
            + ". Teach the lean path the hook, or take the view off it."
        )


def lean_authenticators(classes: Any) -> tuple[BaseAuthentication, ...]:
    """The authentication classes the lean path runs, in their order: those before the first
    session-based one. Those read the request's headers only; a session class needs DRF's request
    (its Django user, the CSRF check), so a request none of the earlier classes decides goes
    through DRF (with the default classes every bearer request is decided before it)."""
    authenticators = []
    for cls in classes:
        if issubclass(cls, SessionAuthentication):
            break
        authenticators.append(cls())
    return tuple(authenticators)
