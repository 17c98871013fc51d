"""POST /v1/auth/token/refresh: rotation on every use, and reuse detection that ends the session."""

from __future__ import annotations

import pytest

from auth.models import Session
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def refresh(api, token):  # type: ignore[no-untyped-def]
    return api.post("/v1/auth/token/refresh", {"refresh": token}, format="json")


def test_refreshing_gives_a_new_pair_and_a_new_refresh_token(api, alice):
    response = refresh(api, alice["refresh"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != alice["refresh"]
    assert bearer(body["access"]).get("/v1/auth/user").json()["id"] == alice["user"]["id"]
    assert refresh(api, body["refresh"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_session(api, alice):
    rotated = refresh(api, alice["refresh"]).json()
    reuse = refresh(api, alice["refresh"])
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "token_invalid"
    # The whole family is dead: the newest refresh token and its access token too.
    assert refresh(api, rotated["refresh"]).status_code == 401
    assert bearer(rotated["access"]).get("/v1/auth/user").status_code == 401
    assert Session.objects.get().revoked_reason == "reuse"


def test_reuse_in_one_session_leaves_the_users_other_sessions_alone(api, alice):
    other = api.post(
        "/v1/auth/token", {"email": "alice@example.com", "password": "a fine long passphrase"}, format="json"
    )
    refresh(api, alice["refresh"])
    refresh(api, alice["refresh"])
    assert bearer(other.json()["access"]).get("/v1/auth/user").status_code == 200
    assert refresh(api, other.json()["refresh"]).status_code == 200


def test_within_the_grace_interval_a_racing_duplicate_is_not_reuse(api, alice, settings):
    settings.AUTH_REFRESH_REUSE_GRACE_SECONDS = 10
    first = refresh(api, alice["refresh"])
    duplicate = refresh(api, alice["refresh"])
    assert first.status_code == duplicate.status_code == 200
    assert refresh(api, duplicate.json()["refresh"]).status_code == 200


def test_an_access_token_is_not_a_refresh_token(api, alice):
    response = refresh(api, alice["access"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_a_disabled_users_refresh_is_refused(api, alice, service_api):
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"disabled": True}, format="json")
    assert refresh(api, alice["refresh"]).status_code == 401


def test_a_deleted_users_refresh_is_refused(api, alice, service_api):
    assert service_api.delete(f"/v1/admin/users/{alice['user']['id']}").status_code == 204
    assert refresh(api, alice["refresh"]).status_code == 401


@pytest.mark.parametrize("payload", [{}, {"refresh": 5}, {"refresh": ""}, {"refresh": "x", "extra": 1}])
def test_bad_bodies_are_400(api, payload):
    response = api.post("/v1/auth/token/refresh", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_garbage_is_401_token_invalid(api, db):
    response = refresh(api, "not-a-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
