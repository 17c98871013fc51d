"""auth.services.authenticate_token: a raw token → Principal, for transports outside DRF."""

from __future__ import annotations

import pytest

from auth import services
from baas.errors import TokenInvalid

pytestmark = pytest.mark.django_db


def test_an_access_token_gives_the_user_principal(alice):
    principal = services.authenticate_token(alice["access"])
    assert principal.kind == "user" and principal.id == alice["user"]["id"]
    assert principal.role == "user" and principal.email == "alice@example.com"
    assert principal.rules_context() == {
        "id": alice["user"]["id"],
        "email": "alice@example.com",
        "role": "user",
        "claims": {},
    }


def test_a_service_key_gives_the_service_principal(service_key):
    assert services.authenticate_token(service_key).kind == "service"


@pytest.mark.parametrize("token", ["baas_sk_nope", "a.b.c", "plain"])
def test_bad_tokens_raise_token_invalid(db, token):
    with pytest.raises(TokenInvalid):
        services.authenticate_token(token)


def test_a_refresh_token_or_a_logged_out_session_raises(api, alice):
    with pytest.raises(TokenInvalid):
        services.authenticate_token(alice["refresh"])
    api.post("/v1/auth/logout", {"refresh": alice["refresh"]}, format="json")
    with pytest.raises(TokenInvalid):
        services.authenticate_token(alice["access"])


def test_the_drf_request_carries_the_user_and_principal(alice):
    from rest_framework.test import APIRequestFactory

    from auth.authentication import JWTAuthentication

    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {alice['access']}")
    user, principal = JWTAuthentication().authenticate(request)
    assert str(user.id) == alice["user"]["id"] and principal.kind == "user"
    assert principal.credential_id == services.authenticate_token(alice["access"]).credential_id
