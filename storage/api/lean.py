"""The lean path of the object routes: GET, HEAD and PUT of `/v1/storage/objects/{bucket}/{path}`
skip DRF's dispatch for requests with bearer credentials and for requests with no credentials
at all (public buckets, signed URLs).

An object request's own work is one statement and a file read or write; DRF's per-request
machinery (request wrapping, negotiation, the authentication loop with its own query, response
finalization) cost as much again. Here the caller's service key or access token is checked in the
same statement that reads the bucket and the object (`selectors.caller_and_object`), and the view
functions the DRF methods call (storage/api/views.py) answer — so both paths give the same
answers by construction; tests/storage/test_lean_object_paths.py compares them byte for byte.

What the lean path does not reproduce is refused when the view class is created
(`check_object_view`): the import fails rather than a check being skipped. Every request that is
not plainly one of these — a console session cookie (with its CSRF check), a bearer token of
another kind (DRF refuses it), other methods — takes DRF's dispatch, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from auth.authentication import (
    JWTAuthentication,
    ServiceKeyAuthentication,
    StaffSessionAuthentication,
    UnknownBearerAuthentication,
    bearer_check,
    refused,
)
from baas.errors import drf_exception_handler, from_exception
from baas.principals import ANONYMOUS
from storage import selectors
from storage.services import SMALL_OBJECT_BYTES

# `(principal, request, bucket, path, found) -> response`: the function the DRF method calls too.
Handler = Callable[..., HttpResponseBase]
# (status, body or None, headers): an answer for a front that serves requests before Django's
# middlewares (`LeanObjectDispatch.front_answer`), in the shape baas.front's routes answer.
FrontAnswer = tuple[int, bytes | None, list[tuple[str, str]]]

_JSON = JSONRenderer()
# The authentication DRF runs for these views, which the lean path stands in for: a service key or
# an access token (checked in the object's statement), any other bearer refused (by DRF), and the
# console's session (by DRF) — so no bearer and no session cookie is the anonymous caller.
_AUTHENTICATION = [
    ServiceKeyAuthentication,
    JWTAuthentication,
    UnknownBearerAuthentication,
    StaffSessionAuthentication,
]
# Set to False to send every request through DRF (tests compare the two paths).
enabled = True


class LeanObjectDispatch:
    """Mixin for the object view: `lean_methods` maps HTTP methods to handlers
    `(principal, request, bucket, path, found) -> response`, which its DRF methods call as well.
    `lean_check(request)` is what the view's DRF `initial()` checks after authentication."""

    lean_methods: ClassVar[dict[str, Handler]] = {}
    lean_allow: ClassVar[str] = ""  # DRF's Allow header for the view

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if issubclass(cls, APIView):
            check_object_view(cls)
            cls.lean_allow = ", ".join(m.upper() for m in cls.http_method_names if hasattr(cls, m))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = None if args else self.lean_response(request, kwargs)
        if response is None:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        return response

    @classmethod
    def lean_response(cls, request: HttpRequest, kwargs: dict[str, Any]) -> HttpResponseBase | None:
        """The answer DRF's dispatch would give, or None when this request is DRF's to answer."""
        handler = cls.lean_methods.get(request.method or "")
        if handler is None or not enabled:
            return None
        meta = request.META
        principal = None
        try:
            if meta.get("HTTP_AUTHORIZATION"):
                key_check = bearer_check(request)  # raises AuthenticationFailed as DRF's classes do
                if key_check is None:  # another kind of token: DRF refuses it
                    return None
                caller = selectors.caller_and_object(key_check, kwargs["bucket"], kwargs["path"])
                if caller is None:
                    raise refused(key_check)
                principal, found = caller
            elif settings.SESSION_COOKIE_NAME in request.COOKIES:  # the console: DRF, with its CSRF check
                return None
            else:
                principal, found = ANONYMOUS, None
            cls.lean_check(request)
            response = handler(principal, request, kwargs["bucket"], kwargs["path"], found)
        except Exception as exc:  # the same mapping as DRF's exception handler (baas.errors)
            response = _error_response(exc)
        response["Allow"] = cls.lean_allow  # as DRF does
        if principal is ANONYMOUS:
            # DRF's session authentication looked at the (absent) session: the session middleware
            # then marks the answer as varying with the cookie, and so do we.
            patch_vary_headers(response, ("Cookie",))
        return response

    @classmethod
    def lean_check(cls, request: HttpRequest) -> None:
        """What the view checks in `initial()` after DRF's authentication."""

    @classmethod
    def front_answer(cls, request: HttpRequest, kwargs: dict[str, Any]) -> FrontAnswer | None:
        """The lean answer as (status, body, headers) for a front that answers before Django's
        middlewares and adds `Content-Length` and SecurityMiddleware's headers itself (baas.front);
        None for what must go through Django: HEAD (whose Content-Length is the object's size),
        streamed answers (large objects) and bodies that are streamed (chunked or large uploads)."""
        method = request.method
        if method == "PUT":
            length = request.META.get("CONTENT_LENGTH") or ""
            if not length.isdigit() or int(length) > SMALL_OBJECT_BYTES:
                return None
        elif method != "GET":
            return None
        response = cls.lean_response(request, kwargs)
        if response is None:
            return None
        if response.streaming:
            response.close()  # the file it would have streamed
            return None
        nosniff = settings.SECURE_CONTENT_TYPE_NOSNIFF  # then the front adds the header, as the middleware does
        headers = [
            (name, value)
            for name, value in response.items()
            if name != "Content-Length" and not (nosniff and name == "X-Content-Type-Options")
        ]
        return response.status_code, response.content or None, headers  # type: ignore[attr-defined]


def _error_response(exc: Exception) -> HttpResponse:
    error = from_exception(exc)
    response = HttpResponse(_JSON.render(error.as_dict()), status=error.http_status, content_type="application/json")
    for name, value in error.headers.items():
        response[name] = value
    return response


def check_object_view(view: type[APIView]) -> None:
    """Refuse (ImproperlyConfigured, at import) an object view whose DRF dispatch would do more
    than the lean path: other authentication classes, a permission that is not AllowAny, a
    throttle, versioning, another exception handler."""
    problems = []
    if list(view.authentication_classes) != _AUTHENTICATION:
        problems.append(f"authentication classes {list(view.authentication_classes)}")
    if any(cls is not AllowAny for cls in view.permission_classes):
        problems.append(f"permission classes {list(view.permission_classes)}")
    if list(view.throttle_classes):
        problems.append(f"throttle classes {list(view.throttle_classes)}")
    if view.versioning_class is not None:
        problems.append(f"versioning class {view.versioning_class}")
    if view.settings.EXCEPTION_HANDLER is not drf_exception_handler:
        problems.append("an exception handler other than baas.errors.drf_exception_handler")
    if list(view.renderer_classes) != [JSONRenderer]:
        problems.append(f"renderer classes {list(view.renderer_classes)} (errors are rendered as JSONRenderer)")
    if problems:
        raise ImproperlyConfigured(
            f"{view.__module__}.{view.__qualname__} serves objects on the lean path (storage/api/lean.py), "
            "which would skip: " + "; ".join(problems) + "."
        )
