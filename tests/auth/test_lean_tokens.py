"""auth/tokens.py signs and checks HS256 tokens itself (the settings baas uses): the same tokens
simplejwt over PyJWT issues and accepts, and the same refusals, refresh tokens included."""

from __future__ import annotations

import time

import jwt
import pytest
from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from auth import tokens
from baas.errors import TokenExpired, TokenInvalid
from tests.auth.test_token_attacks import b64, claims_of, sign

pytestmark = pytest.mark.django_db


class _User:
    id, anonymous, email, claims = "6f1f7c52-5b6e-4c8e-9a51-4f3a2b1c0d9e", False, "a@example.com", {"plan": "pro"}


def test_the_lean_path_is_the_one_in_use():
    assert tokens._lean_hs256() == settings.SIMPLE_JWT["SIGNING_KEY"].encode()


def test_tokens_issued_here_are_what_simplejwt_issues_and_accepts():
    access = tokens.issue_access(user=_User(), session_id="s1")
    refresh = tokens.issue_refresh(user_id=_User.id, session_id="s1", jti="j" * 32)
    assert jwt.get_unverified_header(access) == {"alg": "HS256", "typ": "JWT"}
    assert list(claims_of(access)) == ["typ", "exp", "iat", "jti", "sub", "role", "email", "claims", "sid", "iss"]
    assert list(claims_of(refresh)) == ["typ", "exp", "iat", "jti", "sub", "sid", "iss"]
    assert AccessToken(access)["claims"] == {"plan": "pro"}  # simplejwt verifies them
    assert RefreshToken(refresh)["jti"] == "j" * 32
    library = jwt.encode(claims_of(refresh), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    assert library == refresh  # byte for byte what PyJWT makes of the same claims


def test_tokens_simplejwt_issues_are_accepted_here():
    token = RefreshToken()
    token["sub"], token["sid"] = _User.id, "s2"
    claims = tokens.decode_refresh(str(token))
    assert (claims.user_id, claims.session_id, claims.jti) == (_User.id, "s2", token["jti"])


def _refresh_claims() -> dict:
    return claims_of(tokens.issue_refresh(user_id=_User.id, session_id="s3", jti="k" * 32))


@pytest.mark.parametrize(
    "forge",
    [
        lambda c: sign(c, key="not-the-server-key-" + "x" * 32),
        lambda c: sign(c, algorithm="HS512"),
        lambda c: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(c)}.",
        lambda c: jwt.encode(c, None, algorithm="none"),
        lambda c: sign(c | {"typ": "access"}),
        lambda c: sign({k: v for k, v in c.items() if k != "typ"}),
        lambda c: sign({k: v for k, v in c.items() if k != "jti"}),
        lambda c: sign({k: v for k, v in c.items() if k != "exp"}),
        lambda c: sign({k: v for k, v in c.items() if k != "sid"}),
        lambda c: sign(c | {"iss": "someone-else"}),
        lambda c: sign(c | {"aud": "elsewhere"}),
        lambda c: sign(c | {"iat": int(time.time()) + 600}),
        lambda c: sign(c | {"nbf": int(time.time()) + 600}),
        lambda c: sign(c | {"exp": "soon"}),
        lambda c: sign(c | {"sub": 7}),
        lambda c: sign(c, key=None).rsplit(".", 1)[0] + ".AAAA",
        lambda c: sign(c).replace(".", "..", 1),
        lambda c: sign(c) + ".x",
        lambda c: "abc.def.ghi",
        lambda c: "ünïcode.abc.def",
    ],
)
def test_forged_or_broken_refresh_tokens_are_refused(forge):
    with pytest.raises(TokenInvalid):
        tokens.decode_refresh(forge(_refresh_claims()))


def test_a_tampered_refresh_payload_is_refused():
    header, _, signature = tokens.issue_refresh(user_id=_User.id, session_id="s3", jti="k" * 32).split(".")
    with pytest.raises(TokenInvalid):
        tokens.decode_refresh(f"{header}.{b64(_refresh_claims() | {'sid': 'other'})}.{signature}")


def test_an_expired_refresh_token_is_expired_for_both():
    expired = sign(_refresh_claims() | {"exp": int(time.time()) - 5})
    with pytest.raises(TokenExpired):
        tokens.decode_refresh(expired)
    with pytest.raises(TokenError):
        RefreshToken(expired)


def test_other_settings_take_the_libraries(monkeypatch):
    from rest_framework_simplejwt.settings import DEFAULTS, IMPORT_STRINGS, APISettings

    monkeypatch.setattr(
        tokens, "api_settings", APISettings({**settings.SIMPLE_JWT, "AUDIENCE": "apps"}, DEFAULTS, IMPORT_STRINGS)
    )
    assert tokens._lean_hs256() is None
    token = tokens.issue_refresh(user_id=_User.id, session_id="s4", jti="m" * 32)
    assert tokens.decode_refresh(token).session_id == "s4"
