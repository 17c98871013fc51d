"""Signing and checking JWTs with simplejwt: short-lived access tokens and rotating refresh tokens.

Access token claims: `sub` (user id), `role` ("user" | "anonymous_user"), `email`, `claims`
(admin-set), `sid` (session = refresh-token family), `typ` = "access", `iss`, `iat`, `exp`, `jti`.
Refresh token claims: `sub`, `sid`, `jti` (the one generation of the family that is valid),
`typ` = "refresh", `iss`, `iat`, `exp`. HS256, verified against exactly that algorithm (so
`alg: none` and algorithm confusion are refused by PyJWT).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow, datetime_from_epoch

from baas.errors import TokenExpired, TokenInvalid

ROLE_USER = "user"
ROLE_ANONYMOUS = "anonymous_user"


class _Access(AccessToken):
    token_type = "access"


class _Refresh(RefreshToken):
    token_type = "refresh"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str


@dataclass(frozen=True)
class RefreshClaims:
    user_id: str
    session_id: str
    jti: str


def access_lifetime() -> timedelta:
    return api_settings.ACCESS_TOKEN_LIFETIME


def refresh_lifetime() -> timedelta:
    return api_settings.REFRESH_TOKEN_LIFETIME


def role_of(user: Any) -> str:
    return ROLE_ANONYMOUS if user.anonymous else ROLE_USER


def new_jti() -> str:
    return uuid.uuid4().hex


def issue_access(*, user: Any, session_id: str) -> str:
    token = _Access()
    token.set_exp(lifetime=access_lifetime())
    token["sub"] = str(user.id)
    token["role"] = role_of(user)
    token["email"] = user.email
    token["claims"] = user.claims or {}
    token["sid"] = str(session_id)
    return str(token)


def issue_refresh(*, user_id: str, session_id: str, jti: str) -> str:
    token = _Refresh()
    token.set_exp(lifetime=refresh_lifetime())
    token["sub"] = str(user_id)
    token["sid"] = str(session_id)
    token["jti"] = jti
    return str(token)


def _decode(cls: type[AccessToken] | type[RefreshToken], raw: str) -> dict[str, Any]:
    try:
        payload = cls(raw).payload  # type: ignore[arg-type]
    except ExpiredTokenError:
        raise TokenExpired() from None
    except TokenError:
        raise TokenInvalid() from None
    if not (isinstance(payload.get("sub"), str) and isinstance(payload.get("sid"), str)):
        raise TokenInvalid()
    return payload


# Access tokens this process has verified: token → (claims, expiry). A client sends the
# same token with every request of its 15 minutes, and the signature check with claim parsing
# (simplejwt over PyJWT) was about 12 % of a document get's CPU; it now runs once per token and
# process. Expiry is still checked on every use, with simplejwt's clock and leeway, and so is the
# session (auth/sessions.py), so a logout or a revoked session still ends the token at once. (A new
# signing key needs a restart anyway: simplejwt builds its token backend once per process.)
# Bounded: emptied when full.
_verified_access: dict[str, tuple[AccessClaims, datetime]] = {}
VERIFIED_ACCESS_MAX = 10_000


def decode_access(raw: str) -> AccessClaims:
    """Check signature, expiry, issuer and type; raise TokenInvalid / TokenExpired."""
    remembered = _verified_access.get(raw)
    if remembered is not None:
        claims, expires_at = remembered
        if expires_at <= aware_utcnow() - _leeway():  # as simplejwt's Token.check_exp
            raise TokenExpired()
        return claims
    payload = _decode(_Access, raw)
    claims = AccessClaims(user_id=payload["sub"], session_id=payload["sid"])
    if len(_verified_access) >= VERIFIED_ACCESS_MAX:
        _verified_access.clear()
    _verified_access[raw] = (claims, datetime_from_epoch(payload["exp"]))
    return claims


def _leeway() -> timedelta:
    leeway = api_settings.LEEWAY or 0
    return leeway if isinstance(leeway, timedelta) else timedelta(seconds=leeway)


def decode_refresh(raw: str) -> RefreshClaims:
    payload = _decode(_Refresh, raw)
    return RefreshClaims(user_id=payload["sub"], session_id=payload["sid"], jti=str(payload["jti"]))


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
