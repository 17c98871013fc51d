"""DRF authentication classes that turn credentials into a kernel Principal (`request.auth`)."""

from __future__ import annotations

from typing import Any, cast

from django.http import QueryDict
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from auth import services
from auth.tokens import looks_like_jwt
from baas.errors import TokenExpired, TokenInvalid
from baas.principals import Principal, staff_principal

WWW_AUTHENTICATE = 'Bearer realm="baas"'


def authorization_header(request: Any) -> bytes:
    """The `Authorization` header as bytes, b"" when absent: what DRF's `get_authorization_header`
    answers, read from META directly. That one goes through `request.headers`, whose first use
    parses every META key, and under granian META holds the whole process environment too: about
    12 µs, some 2 % of a document get's server CPU, on a path that needs no other header."""
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    if isinstance(header, str):
        header = header.encode(HTTP_HEADER_ENCODING)
    return header


def bearer_token(request: Any) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when there is no such header.

    A header that is present but malformed is refused rather than ignored, so a client bug never
    silently turns into anonymous access.
    """
    header = authorization_header(request)
    if not header:
        return None
    try:
        scheme, _, token = header.decode("latin-1").partition(" ")
    except UnicodeDecodeError:
        raise AuthenticationFailed("The Authorization header is not readable.", code="token_invalid") from None
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthenticationFailed("Use 'Authorization: Bearer <token>'.", code="token_invalid")
    return token


class ServiceKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[None, Principal] | None:
        token = bearer_token(request)
        if token is None or not services.looks_like_service_key(token):
            return None
        principal = services.authenticate_service_key(token)
        if principal is None:
            raise refused_service_key()
        return None, principal

    def authenticate_header(self, request: Any) -> str:
        return WWW_AUTHENTICATE


def refused_service_key() -> AuthenticationFailed:
    return AuthenticationFailed("This service key is unknown or revoked.", code="token_invalid")


def service_key_check(request: Any) -> services.ServiceKeyCheck | None:
    """The pending check of a request's service key, for a hot path that runs it inside its own
    statement (then `refused_service_key()` when it finds no row); None for any other request."""
    token = bearer_token(request)
    if token is None or not services.looks_like_service_key(token):
        return None
    return services.service_key_check(token)


def bearer_check(request: Any) -> services.ServiceKeyCheck | services.AccessTokenCheck | None:
    """The pending check of a request's service key or access token (as `service_key_check`): for
    a hot path that runs it inside its own statement, then answers `refused(check)` when it finds
    no row. None for a request without either (no bearer header, or another kind of token: the
    authentication classes decide those). Raises AuthenticationFailed as the classes do for an
    access token that is not valid."""
    token = bearer_token(request)
    if token is None:
        return None
    if services.looks_like_service_key(token):
        return services.service_key_check(token)
    if not looks_like_jwt(token):
        return None
    try:
        return services.access_token_check(token, principal_only=True)  # its callers want no User
    except TokenExpired as exc:
        raise AuthenticationFailed(exc.message, code="token_expired") from None
    except TokenInvalid as exc:
        raise AuthenticationFailed(exc.message, code="token_invalid") from None


def refused(check: services.ServiceKeyCheck | services.AccessTokenCheck) -> AuthenticationFailed:
    """What a request is told when its credential's check found no row."""
    if isinstance(check, services.ServiceKeyCheck):
        return refused_service_key()
    return AuthenticationFailed(services.SESSION_ENDED, code="token_invalid")


class UnknownBearerAuthentication(BaseAuthentication):
    """Last in line for bearer tokens: one that no earlier class accepted is invalid, not anonymous."""

    def authenticate(self, request: Any) -> None:
        if bearer_token(request) is not None:
            raise AuthenticationFailed("The token is not valid.", code="token_invalid")
        return None

    def authenticate_header(self, request: Any) -> str:
        return WWW_AUTHENTICATE


class StaffSessionAuthentication(SessionAuthentication):
    """Operators signed in to the console (Django session). App users use tokens instead."""

    def authenticate(self, request: Any) -> tuple[Any, Principal] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        if not user.is_staff or user.disabled:
            return None
        return user, staff_principal(user_id=str(user.id), email=user.email)

    def enforce_csrf(self, request: Any) -> None:
        """Django's CSRF check, with the token taken from the `X-CSRFToken` header, never the body.

        Django's check reads `request.POST` first; on a DRF request that parses the body with the
        view's parsers, which refuse a multipart upload (storage streams those itself: 415) and
        would read a large body into memory. Console calls send the header (htmx does)."""
        super().enforce_csrf(cast(Request, _WithoutFormBody(request)))  # it delegates every attribute


class _WithoutFormBody:
    """A request as Django's CSRF check sees it, with an empty form body; all else delegated."""

    POST = QueryDict()

    def __init__(self, request: Any) -> None:
        self._wrapped = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class JWTAuthentication(BaseAuthentication):
    """A user's access token: `request.user` is the User, `request.auth` a user Principal.

    The session and user are checked on every request (one query), so a logout, a revoked session,
    a disabled or deleted user take effect at once.
    """

    def authenticate(self, request: Any) -> tuple[Any, Principal] | None:
        token = bearer_token(request)
        if token is None or services.looks_like_service_key(token) or not looks_like_jwt(token):
            return None
        try:
            return services.authenticate_access_token(token)
        except TokenExpired as exc:
            raise AuthenticationFailed(exc.message, code="token_expired") from None
        except TokenInvalid as exc:
            raise AuthenticationFailed(exc.message, code="token_invalid") from None

    def authenticate_header(self, request: Any) -> str:
        return WWW_AUTHENTICATE


_BEARER_AUTHENTICATORS = (ServiceKeyAuthentication(), JWTAuthentication(), UnknownBearerAuthentication())


def bearer_principal(request: Any) -> Principal | None:
    """The principal of a request's `Authorization: Bearer` credentials, exactly as the DRF classes
    above find it (service key, then access token; any other bearer is refused), for views that
    skip DRF's dispatch. None when there is no bearer header: the caller must then fall back to DRF,
    which also considers the staff session (with its CSRF check). Raises AuthenticationFailed."""
    for authenticator in _BEARER_AUTHENTICATORS:
        found = authenticator.authenticate(request)
        if found is not None:
            return found[1]
    return None
