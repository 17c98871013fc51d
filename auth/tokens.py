"""Signing and checking JWTs with simplejwt: short-lived access tokens and rotating refresh tokens.

Access token claims: `sub` (user id), `role` ("user" | "anonymous_user"), `email`, `claims`
(admin-set), `sid` (session = refresh-token family), `typ` = "access", `iss`, `iat`, `exp`, `jti`.
Refresh token claims: `sub`, `sid`, `jti` (the one generation of the family that is valid),
`typ` = "refresh", `iss`, `iat`, `exp`. HS256, verified against exactly that algorithm (so
`alg: none` and algorithm confusion are refused by PyJWT).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
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
    """A random UUID's hex, as `uuid.uuid4().hex` (16 random bytes with the version and variant
    bits set), without building the UUID object: a refresh makes three of them."""
    random = bytearray(os.urandom(16))
    random[6] = (random[6] & 0x0F) | 0x40  # version 4
    random[8] = (random[8] & 0x3F) | 0x80  # RFC 4122 variant
    return random.hex()


def issue_access(*, user: Any, session_id: str) -> str:
    extra = {"sub": str(user.id), "role": role_of(user), "email": user.email, "claims": user.claims or {}}
    if _lean_hs256() is not None:
        return _sign("access", access_lifetime(), {**extra, "sid": str(session_id)})
    token = _Access()
    token.set_exp(lifetime=access_lifetime())
    for name, value in extra.items():
        token[name] = value
    token["sid"] = str(session_id)
    return str(token)


def issue_refresh(*, user_id: str, session_id: str, jti: str) -> str:
    if _lean_hs256() is not None:
        return _sign("refresh", refresh_lifetime(), {"sub": str(user_id), "sid": str(session_id), "jti": jti})
    token = _Refresh()
    token.set_exp(lifetime=refresh_lifetime())
    token["sub"] = str(user_id)
    token["sid"] = str(session_id)
    token["jti"] = jti
    return str(token)


def _decode(cls: type[AccessToken] | type[RefreshToken], raw: str) -> dict[str, Any]:
    key = _lean_hs256()
    if key is not None:
        payload = _verified_payload(raw, key, cls.token_type or "")
    else:
        try:
            payload = cls(raw).payload  # type: ignore[arg-type]
        except ExpiredTokenError:
            raise TokenExpired() from None
        except TokenError:
            raise TokenInvalid() from None
    if not (isinstance(payload.get("sub"), str) and isinstance(payload.get("sid"), str)):
        raise TokenInvalid()
    return payload


# --- HS256 without simplejwt's and PyJWT's layers ----------------------------------------------------
# A refresh verifies one token and signs two: through simplejwt and PyJWT that was most of its CPU
# (token objects, the key prepared and checked against PEM/SSH shapes on every call, a per-character
# alphabet check of every segment). With the settings baas uses — HS256, no audience, the default
# claim names and JSON encoder — the same tokens are signed and checked here: the same header and
# claims in the same order, serialized as PyJWT does; a token is accepted only when its HMAC-SHA256
# over the exact bytes received matches (compared in constant time, before anything in it is read),
# then the claims are checked as PyJWT and simplejwt check them. Other settings take the libraries.

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
# (settings object, its signing key when the lean path applies, an HMAC-SHA256 keyed with it)
_lean_key: tuple[Any, bytes | None, Any] = (object(), None, None)


def _lean_hs256() -> bytes | None:
    """The signing key when the lean HS256 path applies (else None), decided once per settings
    object (simplejwt makes a new one when SIMPLE_JWT changes)."""
    global _lean_key
    if api_settings is _lean_key[0]:
        return _lean_key[1]
    signing_key = api_settings.SIGNING_KEY
    lean = (
        api_settings.ALGORITHM == "HS256"
        and isinstance(signing_key, str | bytes)
        and bool(signing_key)
        and api_settings.AUDIENCE is None
        and api_settings.JSON_ENCODER is None
        and not api_settings.JWK_URL
        and api_settings.TOKEN_TYPE_CLAIM == "typ"
        and api_settings.JTI_CLAIM == "jti"
        and isinstance(api_settings.ISSUER, str)
        and not getattr(api_settings, "TOKEN_BACKEND_CLASS", None)  # a custom token backend
    )
    key = (signing_key.encode() if isinstance(signing_key, str) else signing_key) if lean else None
    _lean_key = (api_settings, key, None if key is None else hmac.new(key, digestmod=hashlib.sha256))
    return key


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """base64.urlsafe_b64encode without its padding (the same bytes, without the module's layers)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _hs256(key: bytes, signing_input: bytes) -> bytes:
    """The signature segment: HMAC-SHA256 of `signing_input` with `key`, continued from a copy of
    an HMAC already keyed with it (OpenSSL's one-shot HMAC sets the key up again on every call:
    about 30 k instructions, most of a token's signing). Hashing by hand from the two keyed
    SHA-256 states would save ~7 k more; not worth a hand-made HMAC."""
    _, lean_key, keyed = _lean_key
    mac = keyed.copy() if keyed is not None and lean_key is key else hmac.new(key, digestmod=hashlib.sha256)
    mac.update(signing_input)
    return _b64(mac.digest())


# json.dumps(payload, separators=(",", ":")), as PyJWT serializes the claims: the C encoder
# JSONEncoder.encode would build on every call, built once (ensure_ascii, no sorting, no indent;
# no circular-reference check: a payload is a flat dict of strings, numbers and the claims).
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_compact_encoder = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
)


def _compact_json(payload: dict[str, Any]) -> str:
    if _compact_encoder is None:  # (a Python without the json module's C part)
        return json.dumps(payload, separators=(",", ":"))
    return "".join(_compact_encoder(payload, 0))


def _sign(token_type: str, lifetime: timedelta, claims: dict[str, Any]) -> str:
    """A token as simplejwt issues it: typ, exp, iat, jti, then `claims` (a `jti` there replaces
    the random one in its place), then iss; PyJWT's compact JSON and sorted header. The times are
    whole seconds since the epoch, as simplejwt's `datetime_to_epoch` of its UTC now."""
    key = _lean_hs256()
    assert key is not None
    now = time.time()
    payload = {"typ": token_type, "exp": int(now + lifetime.total_seconds()), "iat": int(now),
               "jti": new_jti()}  # fmt: skip
    payload.update(claims)
    payload["iss"] = api_settings.ISSUER
    signing_input = _HEADER + b"." + _b64(_compact_json(payload).encode())
    return (signing_input + b"." + _hs256(key, signing_input)).decode()


_URLSAFE_DECODE = bytes.maketrans(b"-_", b"+/")
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # (as json.loads parses)


def _segment(data: bytes) -> Any:
    """The JSON value of a base64url segment, as `json.loads(base64.urlsafe_b64decode(…))` reads it
    (binascii under base64's layers; json's scanner without the decoder's whitespace steps, which
    only a value that does not span the whole text needs: json.loads decides those)."""
    text = binascii.a2b_base64(data.translate(_URLSAFE_DECODE) + b"=" * (-len(data) % 4)).decode()
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:  # (leading whitespace, or no JSON value: json.loads says which)
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


_HEADER_CLAIMS = {"alg": "HS256", "typ": "JWT"}


def _verified_payload(raw: str, key: bytes, token_type: str) -> dict[str, Any]:
    """The claims of a token of `token_type` signed with `key`; TokenInvalid / TokenExpired as
    simplejwt over PyJWT raises them (through `_decode`)."""
    try:
        data = raw.encode("ascii")
    except UnicodeError:
        raise TokenInvalid() from None
    signing_input, dot, signature = data.rpartition(b".")
    if not dot or signing_input.count(b".") != 1:
        raise TokenInvalid()
    if not hmac.compare_digest(_hs256(key, signing_input), signature):
        raise TokenInvalid()
    header_part, _, payload_part = signing_input.partition(b".")
    try:  # (the header this module writes is known already)
        header = _HEADER_CLAIMS if header_part == _HEADER else _segment(header_part)
        payload = _segment(payload_part)
    except ValueError:  # (binascii.Error, JSONDecodeError and UnicodeDecodeError are ValueErrors)
        raise TokenInvalid() from None
    if type(header) is not dict or header.get("alg") != "HS256" or "crit" in header or type(payload) is not dict:
        raise TokenInvalid()
    now = time.time()
    leeway = _leeway().total_seconds()
    try:  # PyJWT's claim checks, in its order
        if "iat" in payload and int(payload["iat"]) > now + leeway:
            raise TokenInvalid()
        if "nbf" in payload and int(payload["nbf"]) > now + leeway:
            raise TokenInvalid()
        if "exp" in payload and int(payload["exp"]) <= now - leeway:
            raise TokenExpired()
    except (ValueError, TypeError, OverflowError):
        raise TokenInvalid() from None
    if payload.get("iss") != api_settings.ISSUER or payload.get("aud"):
        raise TokenInvalid()
    if ("sub" in payload and not isinstance(payload["sub"], str)) or not isinstance(payload.get("jti"), str):
        raise TokenInvalid()  # (PyJWT's sub and jti checks; simplejwt requires a jti)
    if "exp" not in payload:  # simplejwt's own checks: an expiry, and the type
        raise TokenInvalid()
    if payload.get("typ") != token_type:
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
