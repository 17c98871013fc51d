"""POST /v1/auth/verify/request and POST /v1/auth/verify: single-use, expiring email tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.models import EmailToken, User
from tests.auth.conftest import token_in
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def request_token(client, outbox) -> str:  # type: ignore[no-untyped-def]
    with outbox() as sent:
        assert client.post("/v1/auth/verify/request", {}, format="json").status_code == 204
    assert len(sent) == 1
    return token_in(sent[0])


def test_the_emailed_token_verifies_the_address_once(api, alice, alice_api, outbox):
    token = request_token(alice_api, outbox)
    response = api.post("/v1/auth/verify", {"token": token}, format="json")
    assert response.status_code == 200
    assert response.json()["email_verified"] is True and response.json()["id"] == alice["user"]["id"]
    again = api.post("/v1/auth/verify", {"token": token}, format="json")
    assert again.status_code == 400
    assert again.json()["error"]["details"]["token"][0]["code"] == "invalid"


def test_the_email_goes_to_the_users_address_with_a_link_when_configured(alice_api, outbox, settings):
    settings.AUTH_VERIFY_URL = "https://app.example.com/verify?token={token}"
    with outbox() as sent:
        alice_api.post("/v1/auth/verify/request", {}, format="json")
    assert sent[0].to == ["alice@example.com"]
    assert "https://app.example.com/verify?token=" in sent[0].body


def test_only_a_hash_of_the_token_is_stored(alice_api, outbox):
    token = request_token(alice_api, outbox)
    stored = EmailToken.objects.get()
    assert token not in stored.token_hash and len(stored.token_hash) == 64


def test_an_expired_token_is_refused(api, alice_api, outbox):
    token = request_token(alice_api, outbox)
    EmailToken.objects.update(expires_at=EmailToken.objects.get().created_at - timedelta(seconds=1))
    assert api.post("/v1/auth/verify", {"token": token}, format="json").status_code == 400
    assert User.objects.get().email_verified is False


def test_a_newer_request_voids_the_older_token(api, alice_api, outbox):
    first = request_token(alice_api, outbox)
    second = request_token(alice_api, outbox)
    assert api.post("/v1/auth/verify", {"token": first}, format="json").status_code == 400
    assert api.post("/v1/auth/verify", {"token": second}, format="json").status_code == 200


def test_a_token_for_an_old_address_is_void_after_the_email_changes(api, alice_api, outbox):
    token = request_token(alice_api, outbox)
    with outbox() as sent:
        alice_api.patch("/v1/auth/user", {"email": "alice2@example.com"}, format="json")
    assert api.post("/v1/auth/verify", {"token": token_in(sent[0])}, format="json").status_code == 200
    assert api.post("/v1/auth/verify", {"token": token}, format="json").status_code == 400
    assert User.objects.get().email == "alice2@example.com"


def test_a_verified_user_gets_no_new_email(alice, alice_api, outbox):
    User.objects.filter(pk=alice["user"]["id"]).update(email_verified=True)
    with outbox() as sent:
        assert alice_api.post("/v1/auth/verify/request", {}, format="json").status_code == 204
    assert sent == []


def test_an_anonymous_user_has_no_address_to_verify(api, db):
    guest = api.post("/v1/auth/anonymous").json()
    response = bearer(guest["access"]).post("/v1/auth/verify/request", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_requesting_needs_a_signed_in_user(api, service_api):
    assert api.post("/v1/auth/verify/request", {}, format="json").status_code == 401
    assert service_api.post("/v1/auth/verify/request", {}, format="json").status_code == 403


@pytest.mark.parametrize("payload", [{}, {"token": 7}, {"token": "x", "email": "a@b.c"}])
def test_bad_verify_bodies_are_400(api, db, payload):
    response = api.post("/v1/auth/verify", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_an_unknown_token_is_400(api, db):
    response = api.post("/v1/auth/verify", {"token": "made-up"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["token"][0]["code"] == "invalid"
