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
from auth.services import principal_of_bearer_check
from baas import jsonvalues
from baas.errors import drf_exception_handler, from_exception
from baas.parsers import StrictJSONParser
from baas.principals import Principal

Answer = tuple[int, Any, dict[str, Any] | None]
# (status, rendered JSON or None, headers): what the lean path answers (see `front_answer`).
FrontAnswer = tuple[int, bytes | None, list[tuple[str, str]]]
Handler = Callable[..., Answer]
# `(key_check, request, **url_kwargs) -> answer | None`: a handler that runs the caller's service-key
# or access-token check (auth.authentication.bearer_check) inside its own statement; None when the
# key is not an active one, or the token's session not an open one.
KeyCheckingHandler = Callable[..., Answer | None]

# What a key-checking handler answers when it cannot decide without the caller's principal: the
# request then takes the principal's path (the credential checked on its own, then the handler
# of `lean_methods`), as if the handler had not been tried.
UNDECIDED: Any = object()

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
    # Whether the first two classes are the service-key and access-token ones: then a bearer they
    # would take is checked without them, and without building the token's User …
    lean_checks_bearer: ClassVar[bool] = False
    # … unless a handler reads `request.bearer_user` (the User, as DRF's request.user).
    needs_bearer_user: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if issubclass(cls, APIView):
            check_lean_path(cls)
            cls.lean_authenticators = lean_authenticators(cls.authentication_classes)
            first_two = list(cls.authentication_classes)[:2]
            cls.lean_checks_bearer = first_two == [ServiceKeyAuthentication, JWTAuthentication]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        answer = None if args else self.front_answer(request, kwargs)
        if answer is None:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        status, body, headers = answer
        response = HttpResponse(body or b"", status=status)
        del response["Content-Type"]  # the answer's own headers say it (none with an empty body, as DRF)
        for name, value in headers:
            response[name] = value
        return response

    @classmethod
    def front_answer(cls, request: HttpRequest, kwargs: dict[str, Any]) -> FrontAnswer | None:
        """The lean answer to a plain bearer request — status, JSON body (None when empty) and the
        view's headers, as DRF would give them — or None when DRF's dispatch must answer (another
        method or request, or no authenticator of the lean path decided). Also what the lean front
        (baas/front.py) serves before Django's middlewares."""
        handler = cls.lean_methods.get(request.method or "")
        if handler is None or not _plain_bearer_request(request):
            return None
        try:
            answer = cls._answer_checking_key(request, kwargs)
            if answer is None:
                principal = cls._bearer_principal(request)
                if principal is None:  # no authenticator of the lean path decided: DRF does
                    return None
                answer = _run(handler, principal, request, kwargs)
        except Exception as exc:  # the same mapping as DRF's exception handler (baas.errors)
            return error_answer(exc, cls)
        status, body, doc = answer
        return json_answer(status, body, cls, None if doc is None else [("ETag", f'"{doc["version"]}"')])

    @classmethod
    def _bearer_principal(cls, request: HttpRequest) -> Principal | None:
        """The principal the view's authentication classes find, in their order (as DRF's
        `perform_authentication`); None when none before the first session-based class decides.
        Raises AuthenticationFailed as they do."""
        if cls.lean_checks_bearer and not cls.needs_bearer_user:
            check = bearer_check(request)  # raises as the two classes do for a bad token
            if check is not None:
                return principal_of_bearer_check(check)  # as the classes find it, without the User
        for authenticator in cls.lean_authenticators:
            found = authenticator.authenticate(request)  # type: ignore[arg-type]  # they read META only
            if found is not None:
                # What DRF's request.user would be (the token's User; None for a service key).
                request.bearer_user = found[0]  # type: ignore[attr-defined]
                return found[1]
        return None

    @classmethod
    def _answer_checking_key(cls, request: HttpRequest, kwargs: dict[str, Any]) -> Answer | None:
        """The answer of a key-checking handler for a service-key or access-token request; None
        for other requests, and when the handler leaves the request to the principal's path
        (UNDECIDED)."""
        handler = cls.key_checking_methods.get(request.method or "")
        key_check = bearer_check(request) if handler is not None else None
        if key_check is None or handler is None:
            return None
        if request.method in _METHODS_WITH_BODY:
            try:
                body = _json_body(request)
            except Exception:  # told after the credential's check, on the principal's path
                return None
            answer = handler(key_check, request, **kwargs, body=body)
        else:
            answer = handler(key_check, request, **kwargs)
        if answer is UNDECIDED:
            return None
        if answer is None:
            raise refused(key_check)
        return answer


def json_answer(status: int, body: Any, view: type, headers: list[tuple[str, str]] | None = None) -> FrontAnswer:
    """What DRF answers for `body` from `view` (JSONRenderer; no body and no Content-Type for None)."""
    answer_headers = headers or []
    rendered = None if body is None else _JSON_RENDERER.render(body)
    if rendered is not None:
        answer_headers.insert(0, ("Content-Type", "application/json"))
    answer_headers.append(("Allow", allow_header(view)))  # as DRF does
    return status, rendered, answer_headers


def error_answer(exc: Exception, view: type) -> FrontAnswer:
    """DRF's answer (baas.errors.drf_exception_handler) to an exception raised in `view`."""
    error = from_exception(exc)
    return json_answer(error.http_status, error.as_dict(), view, list(error.headers.items()))


def allow_header(view: type) -> str:
    """APIView.allowed_methods of an instance (View.setup adds HEAD where there is a GET)."""
    allow = view.__dict__.get("_lean_allow")
    if allow is None:
        names = view.http_method_names  # type: ignore[attr-defined]
        allow = ", ".join(m.upper() for m in names if hasattr(view, m) or (m == "head" and hasattr(view, "get")))
        view._lean_allow = allow  # type: ignore[attr-defined]
    return allow


def plain_refresh_token(request: HttpRequest) -> str | None:
    """The refresh token of a `POST /v1/auth/token/refresh` whose JSON body is exactly
    `{"refresh": "<token>"}` with a token the body's serializer (auth.api.bodies.RefreshBody) takes
    as it is; None for any other request, which the view's DRF method answers."""
    if request.method != "POST" or not _plain_request(request) or not _content_length(request):
        return None
    try:
        body = jsonvalues.loads(request.body)
    except Exception:
        return None
    if type(body) is not dict or len(body) != 1:
        return None
    token = body.get("refresh")
    if type(token) is not str or not token or len(token) > _REFRESH_MAX_LENGTH or token != token.strip():
        return None
    if "\x00" in token or not token.isascii():  # (DRF's CharField refuses NUL and surrogates)
        return None
    return token


_REFRESH_MAX_LENGTH = 4096  # RefreshBody's max_length


def _run(handler: Handler, principal: Principal, request: HttpRequest, kwargs: dict[str, Any]) -> Any:
    body = _json_body(request) if request.method in _METHODS_WITH_BODY else None
    return handler(principal, request, **kwargs, body=body)


def _plain_bearer_request(request: HttpRequest) -> bool:
    return bool(request.META.get("HTTP_AUTHORIZATION")) and _plain_request(request)


def _plain_request(request: HttpRequest) -> bool:
    """Whether DRF's negotiation and parsing would come to JSON in and JSON out, as the lean path does."""
    meta = request.META
    if meta.get("QUERY_STRING") and "format" in request.GET:  # (no QueryDict for an empty query)
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
    if getattr(view, "key_checking_methods", None) and authentication[:2] != [
        ServiceKeyAuthentication,
        JWTAuthentication,
    ]:
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
