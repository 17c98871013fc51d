"""Forged and broken access tokens are refused with 401 token_invalid / token_expired."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from django.conf import settings

from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def sign(payload: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def assert_refused(token: str, code: str = "token_invalid") -> None:
    response = bearer(token).get("/v1/auth/user")
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_access_token_carries_sub_role_claims_and_session(alice):
    claims = claims_of(alice["access"])
    assert claims["sub"] == alice["user"]["id"]
    assert claims["role"] == "user" and claims["claims"] == {}
    assert claims["sid"] and claims["typ"] == "access" and claims["iss"] == "baas"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert jwt.get_unverified_header(alice["access"])["alg"] == "HS256"


def test_a_correctly_signed_token_of_our_own_is_accepted(alice):
    assert bearer(sign(claims_of(alice["access"]))).get("/v1/auth/user").status_code == 200


def test_an_expired_token_is_401_token_expired(alice):
    claims = claims_of(alice["access"]) | {"exp": int(time.time()) - 5, "iat": int(time.time()) - 905}
    assert_refused(sign(claims), "token_expired")


def test_a_tampered_payload_is_refused(alice, bob):
    header, _, signature = alice["access"].split(".")
    forged_payload = b64(claims_of(alice["access"]) | {"sub": bob["user"]["id"]})
    assert_refused(f"{header}.{forged_payload}.{signature}")


def test_raised_claims_without_the_key_are_refused(alice):
    header, _, signature = alice["access"].split(".")
    assert_refused(f"{header}.{b64(claims_of(alice['access']) | {'claims': {'admin': True}})}.{signature}")


def test_alg_none_is_refused(alice):
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(alice['access']))}."
    assert_refused(unsigned)
    assert_refused(jwt.encode(claims_of(alice["access"]), None, algorithm="none"))


def test_a_token_signed_with_another_key_is_refused(alice):
    assert_refused(sign(claims_of(alice["access"]), key="not-the-server-key-" + "x" * 32))


def test_another_hmac_algorithm_with_the_right_key_is_refused(alice):
    assert_refused(sign(claims_of(alice["access"]), algorithm="HS512"))


def test_a_refresh_token_used_as_access_is_refused(alice):
    assert_refused(alice["refresh"])


def test_a_token_without_type_or_session_is_refused(alice):
    claims = claims_of(alice["access"])
    assert_refused(sign({k: v for k, v in claims.items() if k != "typ"}))
    assert_refused(sign({k: v for k, v in claims.items() if k != "sid"}))


def test_a_token_from_another_issuer_is_refused(alice):
    assert_refused(sign(claims_of(alice["access"]) | {"iss": "someone-else"}))


def test_a_validly_signed_token_for_a_session_of_another_user_is_refused(alice, bob):
    """Even with the key, sub and sid must belong together."""
    assert_refused(sign(claims_of(alice["access"]) | {"sub": bob["user"]["id"]}))


def test_garbage_that_looks_like_a_jwt_is_refused(db):
    assert_refused("abc.def.ghi")
    assert_refused("eyJhbGciOiJIUzI1NiJ9..")


def test_a_bad_token_is_refused_even_on_endpoints_open_to_anonymous_callers(alice):
    header, payload, _ = alice["access"].split(".")
    response = bearer(f"{header}.{payload}.AAAA").post("/v1/auth/logout", {}, format="json")
    assert response.status_code == 401


def test_a_token_verified_once_still_expires_on_time(alice, monkeypatch):
    from auth import tokens

    token = sign(claims_of(alice["access"]) | {"exp": int(time.time()) + 2})
    assert bearer(token).get("/v1/auth/user").status_code == 200  # verified, and remembered
    assert token in tokens._verified_access
    later = tokens.aware_utcnow() + tokens.timedelta(seconds=3)
    monkeypatch.setattr(tokens, "aware_utcnow", lambda: later)
    assert_refused(token, "token_expired")
