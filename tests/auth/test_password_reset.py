"""POST /v1/auth/recover and /v1/auth/recover/confirm: password reset by email, no enumeration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.models import EmailToken, Session, User
from tests.auth.conftest import token_in
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a completely new passphrase"


def recover(api, outbox, email="alice@example.com"):  # type: ignore[no-untyped-def]
    with outbox() as sent:
        response = api.post("/v1/auth/recover", {"email": email}, format="json")
    assert response.status_code == 204
    return sent


def test_recover_answers_204_whether_or_not_the_email_exists(api, alice, outbox):
    assert len(recover(api, outbox, "alice@example.com")) == 1
    assert recover(api, outbox, "nobody@example.com") == []


def test_recover_answers_the_same_for_a_disabled_account_and_sends_nothing(api, alice, outbox):
    User.objects.update(disabled=True)
    assert recover(api, outbox) == []


def test_the_reset_sets_the_password_ends_all_sessions_and_signs_in(api, alice, outbox):
    token = token_in(recover(api, outbox)[0])
    response = api.post("/v1/auth/recover/confirm", {"token": token, "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == alice["user"]["id"] and body["user"]["email_verified"] is True
    assert bearer(alice["access"]).get("/v1/auth/user").status_code == 401
    assert bearer(body["access"]).get("/v1/auth/user").status_code == 200
    assert (
        api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json").status_code
        == 401
    )
    assert (
        api.post("/v1/auth/token", {"email": "alice@example.com", "password": NEW_PASSWORD}, format="json").status_code
        == 200
    )


def test_a_reset_token_works_once(api, alice, outbox):
    token = token_in(recover(api, outbox)[0])
    api.post("/v1/auth/recover/confirm", {"token": token, "password": NEW_PASSWORD}, format="json")
    again = api.post("/v1/auth/recover/confirm", {"token": token, "password": "yet another passphrase"}, format="json")
    assert again.status_code == 400
    assert User.objects.get().check_password(NEW_PASSWORD)


def test_an_expired_reset_token_is_refused(api, alice, outbox):
    token = token_in(recover(api, outbox)[0])
    EmailToken.objects.update(expires_at=EmailToken.objects.get().created_at - timedelta(seconds=1))
    response = api.post("/v1/auth/recover/confirm", {"token": token, "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert User.objects.get().check_password(PASSWORD)


def test_a_weak_new_password_is_400_and_the_token_stays_usable(api, alice, outbox):
    token = token_in(recover(api, outbox)[0])
    weak = api.post("/v1/auth/recover/confirm", {"token": token, "password": "123"}, format="json")
    assert weak.status_code == 400
    assert "password" in weak.json()["error"]["details"]
    assert EmailToken.objects.get().used_at is None
    assert Session.objects.filter(revoked_at__isnull=True).count() == 1
    ok = api.post("/v1/auth/recover/confirm", {"token": token, "password": NEW_PASSWORD}, format="json")
    assert ok.status_code == 200


def test_a_verify_token_is_not_a_reset_token(api, alice, alice_api, outbox):
    with outbox() as sent:
        alice_api.post("/v1/auth/verify/request", {}, format="json")
    response = api.post(
        "/v1/auth/recover/confirm", {"token": token_in(sent[0]), "password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 400


def test_a_reset_lifts_a_login_lockout(api, alice, outbox, settings):
    settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD = 2
    for _ in range(2):
        api.post("/v1/auth/token", {"email": "alice@example.com", "password": "wrong one!"}, format="json")
    locked = api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    assert locked.status_code == 429
    token = token_in(recover(api, outbox)[0])
    api.post("/v1/auth/recover/confirm", {"token": token, "password": NEW_PASSWORD}, format="json")
    login = api.post("/v1/auth/token", {"email": "alice@example.com", "password": NEW_PASSWORD}, format="json")
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("url", "payload"),
    [
        ("/v1/auth/recover", {}),
        ("/v1/auth/recover", {"email": "bad"}),
        ("/v1/auth/recover", {"email": "a@example.com", "extra": 1}),
        ("/v1/auth/recover/confirm", {"token": "x"}),
        ("/v1/auth/recover/confirm", {"password": NEW_PASSWORD}),
        ("/v1/auth/recover/confirm", {"token": ["x"], "password": NEW_PASSWORD}),
    ],
)
def test_bad_bodies_are_400(api, db, url, payload):
    response = api.post(url, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
