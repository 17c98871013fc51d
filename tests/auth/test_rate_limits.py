"""Rate limits on signup, token, refresh, recover and verify: 429 with Retry-After, then recovery."""

from __future__ import annotations

import pytest

from baas import ratelimit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(settings):  # type: ignore[no-untyped-def]
    def set_rate(name: str, limit: int, window: int = 60) -> None:
        settings.AUTH_RATE_LIMITS = {**settings.AUTH_RATE_LIMITS, name: (limit, window)}

    return set_rate


def assert_limited(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_signup_is_limited_per_address_and_recovers_after_the_window(api, tight, monkeypatch):
    tight("signup:ip", 2, 60)
    for index in range(2):
        assert (
            api.post(
                "/v1/auth/signup", {"email": f"u{index}@example.com", "password": PASSWORD}, format="json"
            ).status_code
            == 201
        )
    retry_after = assert_limited(
        api.post("/v1/auth/signup", {"email": "u9@example.com", "password": PASSWORD}, format="json")
    )
    assert retry_after <= 120
    other_address = api.post(
        "/v1/auth/signup",
        {"email": "u8@example.com", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="10.1.1.1",
    )
    assert other_address.status_code == 201
    real_now = ratelimit._now()
    monkeypatch.setattr(ratelimit, "_now", lambda: real_now + 121)
    assert (
        api.post("/v1/auth/signup", {"email": "u9@example.com", "password": PASSWORD}, format="json").status_code == 201
    )


def test_token_is_limited_per_account_across_addresses(api, alice, tight):
    tight("token:account", 2)
    for index in range(2):
        api.post(
            "/v1/auth/token",
            {"email": "alice@example.com", "password": PASSWORD},
            format="json",
            REMOTE_ADDR=f"10.2.0.{index}",
        )
    assert_limited(
        api.post(
            "/v1/auth/token",
            {"email": "alice@example.com", "password": PASSWORD},
            format="json",
            REMOTE_ADDR="10.2.0.9",
        )
    )
    # Another account from the same address is not affected.
    bob = api.post("/v1/auth/signup", {"email": "bob@example.com", "password": PASSWORD}, format="json")
    assert bob.status_code == 201
    assert (
        api.post(
            "/v1/auth/token",
            {"email": "bob@example.com", "password": PASSWORD},
            format="json",
            REMOTE_ADDR="10.2.0.9",
        ).status_code
        == 200
    )


def test_token_is_limited_per_address(api, alice, tight):
    tight("token:ip", 2)
    for _ in range(2):
        api.post("/v1/auth/token", {"email": "x@example.com", "password": "wrong pass"}, format="json")
    assert_limited(api.post("/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD}, format="json"))


def test_refresh_is_limited_per_session(api, alice, tight):
    tight("refresh:account", 2)
    token = alice["refresh"]
    for _ in range(2):
        token = api.post("/v1/auth/token/refresh", {"refresh": token}, format="json").json()["refresh"]
    limited = api.post("/v1/auth/token/refresh", {"refresh": token}, format="json")
    assert_limited(limited)
    # A refused refresh does not spend the token: it still works after the window.


def test_recover_is_limited_per_account_without_revealing_existence(api, alice, tight):
    tight("recover:account", 1)
    for email in ("alice@example.com", "ghost@example.com"):
        assert api.post("/v1/auth/recover", {"email": email}, format="json").status_code == 204
        assert_limited(api.post("/v1/auth/recover", {"email": email}, format="json"))


def test_verify_is_limited_per_address(api, db, tight):
    tight("verify:ip", 2)
    for _ in range(2):
        assert api.post("/v1/auth/verify", {"token": "guess"}, format="json").status_code == 400
    assert_limited(api.post("/v1/auth/verify", {"token": "guess"}, format="json"))
    assert_limited(api.post("/v1/auth/recover/confirm", {"token": "guess", "password": PASSWORD}, format="json"))


def test_verify_request_is_limited_per_account(alice_api, tight):
    tight("verify:account", 1)
    assert alice_api.post("/v1/auth/verify/request", {}, format="json").status_code == 204
    assert_limited(alice_api.post("/v1/auth/verify/request", {}, format="json"))


def test_the_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(api, tight, settings):
    settings.BAAS_TRUSTED_PROXIES = []  # the test client's peer is 127.0.0.1, trusted by default
    tight("anonymous:ip", 1)
    assert api.post("/v1/auth/anonymous", HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 201
    # Not trusted: spoofed headers do not buy a fresh budget.
    assert_limited(api.post("/v1/auth/anonymous", HTTP_X_FORWARDED_FOR="2.2.2.2"))
    settings.AUTH_TRUSTED_PROXY_COUNT = 1
    assert api.post("/v1/auth/anonymous", HTTP_X_FORWARDED_FOR="evil, 3.3.3.3").status_code == 201
    assert_limited(api.post("/v1/auth/anonymous", HTTP_X_FORWARDED_FOR="other, 3.3.3.3"))
