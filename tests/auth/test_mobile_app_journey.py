"""The whole path of a mobile app, end to end, as one story."""

from __future__ import annotations

import pytest

from tests.auth.conftest import token_in
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def test_signup_use_refresh_logout(api):
    session = api.post("/v1/auth/signup", {"email": "app@example.com", "password": PASSWORD}, format="json").json()
    assert bearer(session["access"]).get("/v1/auth/user").status_code == 200
    rotated = api.post("/v1/auth/token/refresh", {"refresh": session["refresh"]}, format="json").json()
    assert bearer(rotated["access"]).patch("/v1/auth/user", {"data": {"n": 1}}, format="json").status_code == 200
    assert api.post("/v1/auth/logout", {"refresh": rotated["refresh"]}, format="json").status_code == 204
    assert bearer(rotated["access"]).get("/v1/auth/user").status_code == 401
    assert api.post("/v1/auth/token/refresh", {"refresh": rotated["refresh"]}, format="json").status_code == 401


def test_anonymous_then_link_then_verify_then_forget_and_reset(api, outbox):
    guest = api.post("/v1/auth/anonymous", {"data": {"score": 10}}, format="json").json()
    me = bearer(guest["access"])
    with outbox() as sent:
        pending = me.patch("/v1/auth/user", {"email": "player@example.com", "password": PASSWORD}, format="json")
    assert pending.status_code == 202 and pending.json()["pending_email"] == "player@example.com"
    linked = api.post("/v1/auth/verify", {"token": token_in(sent[0])}, format="json").json()
    assert linked["id"] == guest["user"]["id"] and linked["data"] == {"score": 10}
    assert linked["email_verified"] is True and linked["is_anonymous"] is False

    with outbox() as sent:
        api.post("/v1/auth/recover", {"email": "player@example.com"}, format="json")
    reset = api.post(
        "/v1/auth/recover/confirm",
        {"token": token_in(sent[0]), "password": "my new passphrase"},
        format="json",
    ).json()
    assert reset["user"]["id"] == guest["user"]["id"]
    assert me.get("/v1/auth/user").status_code == 401  # old sessions ended by the reset
    assert bearer(reset["access"]).get("/v1/auth/user").json()["data"] == {"score": 10}
