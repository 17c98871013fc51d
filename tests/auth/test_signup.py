"""POST /v1/auth/signup: an account with email and password, signed in at once."""

from __future__ import annotations

import pytest
from django.core import mail

from auth.models import Session, User
from tests.conftest import PASSWORD, bearer, signup

pytestmark = pytest.mark.django_db


def test_signup_answers_201_with_the_user_and_a_working_token_pair(api):
    body = signup(api, "New.Person@Example.COM", data={"name": "New"})
    user = body["user"]
    assert set(user) == {"id", "email", "is_anonymous", "email_verified", "data", "claims", "created_at"}
    assert user["email"] == "new.person@example.com"
    assert user["is_anonymous"] is False and user["email_verified"] is False
    assert user["data"] == {"name": "New"} and user["claims"] == {}
    assert user["created_at"].endswith("Z")
    assert bearer(body["access"]).get("/v1/auth/user").json()["id"] == user["id"]
    assert api.post("/v1/auth/token/refresh", {"refresh": body["refresh"]}, format="json").status_code == 200


def test_the_password_is_stored_with_argon2(api):
    signup(api, "hash@example.com")
    assert User.objects.get(email="hash@example.com").password.startswith("argon2")


def test_an_existing_email_gets_a_generic_409_and_its_owner_an_email(api, alice, outbox):
    with outbox() as sent:
        response = api.post(
            "/v1/auth/signup", {"email": "ALICE@example.com", "password": "another passphrase"}, format="json"
        )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "alice" not in error["message"].lower()
    assert [message.to for message in sent] == [["alice@example.com"]]
    assert User.objects.count() == 1
    assert User.objects.get().check_password(PASSWORD)


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"password": PASSWORD}, "email", "required"),
        ({"email": "x@example.com"}, "password", "required"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "invalid"),
        ({"email": 42, "password": PASSWORD}, "email", "invalid"),
        ({"email": "x@example.com", "password": 12345678901}, "password", "invalid"),
        ({"email": "x@example.com", "password": "short"}, "password", "password_too_short"),
        ({"email": "x@example.com", "password": "password123"}, "password", "password_too_common"),
        ({"email": "x@example.com", "password": "83749283749283"}, "password", "password_entirely_numeric"),
        ({"email": "x@example.com", "password": PASSWORD, "data": [1]}, "data", "not_a_dict"),
        ({"email": "x@example.com", "password": PASSWORD, "is_staff": True}, "is_staff", "unknown_field"),
        ({"email": "x" * 250 + "@example.com", "password": PASSWORD}, "email", "max_length"),
    ],
)
def test_bad_input_is_400_with_field_details_and_creates_nothing(api, payload, field, code):
    response = api.post("/v1/auth/signup", payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert code in [item["code"] for item in error["details"][field]]
    assert not User.objects.exists() and not Session.objects.exists()


def test_a_password_like_the_email_is_refused(api):
    response = api.post(
        "/v1/auth/signup",
        {"email": "sunflower.garden@example.com", "password": "sunflower.garden"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["password"][0]["code"] == "password_too_similar"


def test_malformed_json_is_400_and_creates_nothing(api):
    response = api.post("/v1/auth/signup", '{"email": "x@example.com",', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not User.objects.exists()


def test_a_body_that_is_not_an_object_is_400(api):
    response = api.post("/v1/auth/signup", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "The body must be a JSON object.",
        "details": {},
    }


def test_a_non_json_body_is_415(api):
    response = api.post("/v1/auth/signup", "email=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_an_oversized_body_is_413_and_creates_nothing(api, settings):
    settings.BAAS_MAX_BODY_BYTES = 2048
    payload = {"email": "big@example.com", "password": PASSWORD, "data": {"blob": "x" * 4096}}
    response = api.post("/v1/auth/signup", payload, format="json")
    assert response.status_code == 413
    assert not User.objects.exists()


def test_profile_data_over_the_size_limit_is_400(api, settings):
    settings.AUTH_USER_DATA_MAX_BYTES = 256
    payload = {"email": "big@example.com", "password": PASSWORD, "data": {"blob": "x" * 300}}
    response = api.post("/v1/auth/signup", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["data"][0]["code"] == "too_large"
    assert not User.objects.exists()


def test_a_stale_authorization_header_does_not_block_signup(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")
    assert (
        api.post("/v1/auth/signup", {"email": "s@example.com", "password": PASSWORD}, format="json").status_code == 201
    )


def test_signup_sends_no_email_by_itself(api):
    signup(api, "quiet@example.com")
    assert mail.outbox == []
