"""POST /v1/auth/logout: end one session, or every session with `all: true`."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def second_session(api):  # type: ignore[no-untyped-def]
    return api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json").json()


def test_logout_ends_that_session_and_its_access_token_only(api, alice):
    other = second_session(api)
    assert api.post("/v1/auth/logout", {"refresh": alice["refresh"]}, format="json").status_code == 204
    assert bearer(alice["access"]).get("/v1/auth/user").status_code == 401
    assert api.post("/v1/auth/token/refresh", {"refresh": alice["refresh"]}, format="json").status_code == 401
    assert bearer(other["access"]).get("/v1/auth/user").status_code == 200


def test_logout_all_kills_every_session(api, alice):
    other = second_session(api)
    response = api.post("/v1/auth/logout", {"refresh": alice["refresh"], "all": True}, format="json")
    assert response.status_code == 204
    for session in (alice, other):
        assert bearer(session["access"]).get("/v1/auth/user").status_code == 401
        refreshed = api.post("/v1/auth/token/refresh", {"refresh": session["refresh"]}, format="json")
        assert refreshed.status_code == 401


def test_logout_with_only_the_access_token(alice, alice_api):
    assert alice_api.post("/v1/auth/logout", {}, format="json").status_code == 204
    assert alice_api.get("/v1/auth/user").status_code == 401


def test_logout_is_idempotent(api, alice):
    for _ in range(2):
        assert api.post("/v1/auth/logout", {"refresh": alice["refresh"]}, format="json").status_code == 204


def test_logout_without_any_credential_is_401(api, db):
    response = api.post("/v1/auth/logout", {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("payload", [{"refresh": 1}, {"all": "yes"}, {"everything": True}])
def test_bad_logout_bodies_are_400(alice_api, payload):
    response = alice_api.post("/v1/auth/logout", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert alice_api.get("/v1/auth/user").status_code == 200
