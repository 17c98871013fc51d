"""POST /v1/auth/anonymous, and linking an email later (PATCH /v1/auth/user) keeps the user id."""

from __future__ import annotations

import pytest

from auth.models import User
from tests.auth.conftest import token_in
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def guest(api):  # type: ignore[no-untyped-def]
    response = api.post("/v1/auth/anonymous")
    assert response.status_code == 201
    return response.json()


def test_anonymous_sign_in_gives_an_anonymous_user_and_tokens(guest):
    assert guest["user"]["is_anonymous"] is True
    assert guest["user"]["email"] is None
    principal_check = bearer(guest["access"]).get("/v1/auth/user")
    assert principal_check.status_code == 200 and principal_check.json()["is_anonymous"] is True


def test_the_access_token_says_role_anonymous_user(guest):
    import jwt

    claims = jwt.decode(guest["access"], options={"verify_signature": False})
    assert claims["role"] == "anonymous_user"
    assert claims["sub"] == guest["user"]["id"]


def test_anonymous_sign_in_accepts_initial_data_and_refuses_unknown_fields(api, db):
    assert api.post("/v1/auth/anonymous", {"data": {"theme": "dark"}}, format="json").json()["user"]["data"] == {
        "theme": "dark"
    }
    response = api.post("/v1/auth/anonymous", {"email": "x@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "email": [{"code": "unknown_field", "message": "This field is not accepted here; expected data."}]
    }


def test_linking_email_and_password_keeps_the_id_and_data(api, guest, outbox):
    client = bearer(guest["access"])
    client.patch("/v1/auth/user", {"data": {"cart": [1, 2]}}, format="json")
    with outbox() as sent:
        response = client.patch("/v1/auth/user", {"email": "Linked@Example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 202
    assert response.json()["pending_email"] == "linked@example.com"
    assert response.json()["is_anonymous"] is True and response.json()["email"] is None
    # The address is the account's only once confirmed from the mailbox.
    assert [m.to for m in sent] == [["linked@example.com"]]
    linked = api.post("/v1/auth/verify", {"token": token_in(sent[0])}, format="json").json()
    assert linked["id"] == guest["user"]["id"]
    assert linked["is_anonymous"] is False and linked["email"] == "linked@example.com"
    assert linked["email_verified"] is True
    assert linked["data"] == {"cart": [1, 2]}
    # The same account now signs in with the password, and refreshing yields role "user".
    signed_in = api.post("/v1/auth/token", {"email": "linked@example.com", "password": PASSWORD}, format="json")
    assert signed_in.json()["user"]["id"] == guest["user"]["id"]
    import jwt

    refreshed = api.post("/v1/auth/token/refresh", {"refresh": guest["refresh"]}, format="json").json()
    assert jwt.decode(refreshed["access"], options={"verify_signature": False})["role"] == "user"
    assert User.objects.count() == 1


def test_linking_needs_email_and_password_together(guest):
    client = bearer(guest["access"])
    response = client.patch("/v1/auth/user", {"email": "only@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["password"][0]["code"] == "required"
    response = client.patch("/v1/auth/user", {"password": PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["email"][0]["code"] == "required"
    assert User.objects.get().anonymous is True


def test_linking_to_a_taken_email_neither_claims_nor_reveals_it(api, alice, guest, outbox):
    client = bearer(guest["access"])
    with outbox() as sent:
        response = client.patch("/v1/auth/user", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 202
    assert response.json()["pending_email"] == "alice@example.com"
    user = User.objects.get(pk=guest["user"]["id"])
    assert user.anonymous is True and user.email is None
    # The owner of the address is told; no link exists that could move the address.
    assert [m.to for m in sent] == [["alice@example.com"]]
    assert "code in the app" not in sent[0].body
    assert (
        api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json").json()["user"][
            "id"
        ]
        == alice["user"]["id"]
    )


def test_linking_with_a_weak_password_is_400_and_changes_nothing(guest):
    client = bearer(guest["access"])
    response = client.patch("/v1/auth/user", {"email": "weak@example.com", "password": "123"}, format="json")
    assert response.status_code == 400
    assert User.objects.get().anonymous is True
