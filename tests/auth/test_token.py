"""POST /v1/auth/token: sign in with email and password; the failed-login lockout."""

from __future__ import annotations

import pytest

from auth.models import Session
from baas import ratelimit
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def login(api, email="alice@example.com", password=PASSWORD, **extra):  # type: ignore[no-untyped-def]
    return api.post("/v1/auth/token", {"email": email, "password": password}, format="json", **extra)


def test_good_credentials_give_the_user_and_a_new_session(api, alice):
    response = login(api, email="  Alice@EXAMPLE.com ")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == alice["user"]["id"]
    assert bearer(body["access"]).get("/v1/auth/user").status_code == 200
    assert Session.objects.filter(user_id=alice["user"]["id"]).count() == 2


@pytest.mark.parametrize(
    ("email", "password"), [("alice@example.com", "wrong passphrase"), ("nobody@example.com", PASSWORD)]
)
def test_bad_credentials_are_401_with_one_wording_for_unknown_and_wrong(api, alice, email, password):
    response = login(api, email=email, password=password)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["message"] == "The email or password is wrong."


def test_an_anonymous_account_cannot_sign_in_with_a_password(api):
    anonymous = api.post("/v1/auth/anonymous", format="json").json()
    assert anonymous["user"]["email"] is None
    assert login(api, email="", password=PASSWORD).status_code == 400


def test_a_disabled_user_with_the_right_password_is_403(api, alice, service_api):
    service_api.patch(f"/v1/admin/users/{alice['user']['id']}", {"disabled": True}, format="json")
    response = login(api)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "alice@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": ["x"]}, "email"),
    ],
)
def test_missing_or_wrong_typed_fields_are_400(api, payload, field):
    response = api.post("/v1/auth/token", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_repeated_failures_lock_that_address_out_of_the_account_then_the_lock_expires(
    api, alice, settings, monkeypatch
):
    settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD = 3
    settings.AUTH_LOCKOUT_SECONDS = 60
    for _ in range(3):
        assert login(api, password="wrong passphrase").status_code == 401
    locked = login(api)  # even the right password is refused while locked
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "rate_limited"
    assert 55 <= int(locked["Retry-After"]) <= 60  # the lock has just begun: nearly all of it is left
    # Another address is not affected by this address's failures.
    assert login(api, REMOTE_ADDR="10.9.9.9").status_code == 200
    # Attempts while locked do not extend the lock: after it ends, the right password works.
    real_now = ratelimit._now()
    monkeypatch.setattr(ratelimit, "_now", lambda: real_now + 61)
    assert login(api).status_code == 200


def test_failures_from_many_addresses_lock_the_whole_account_for_a_while(api, alice, settings, monkeypatch):
    settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD = 100
    settings.AUTH_LOCKOUT_ACCOUNT_THRESHOLD = 4
    settings.AUTH_LOCKOUT_SECONDS = 30
    for index in range(4):
        assert login(api, password="wrong passphrase", REMOTE_ADDR=f"10.0.0.{index}").status_code == 401
    assert login(api, REMOTE_ADDR="10.0.1.1").status_code == 429
    real_now = ratelimit._now()
    monkeypatch.setattr(ratelimit, "_now", lambda: real_now + 31)
    assert login(api, REMOTE_ADDR="10.0.1.1").status_code == 200


def test_a_successful_login_clears_earlier_failures(api, alice, settings):
    settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD = 3
    for _ in range(2):
        login(api, password="wrong passphrase")
    assert login(api).status_code == 200
    for _ in range(2):
        login(api, password="wrong passphrase")
    assert login(api).status_code == 200


def test_failures_for_unknown_accounts_are_locked_the_same_way(api, settings):
    settings.AUTH_LOCKOUT_ADDRESS_THRESHOLD = 2
    for _ in range(2):
        assert login(api, email="ghost@example.com").status_code == 401
    assert login(api, email="ghost@example.com").status_code == 429
