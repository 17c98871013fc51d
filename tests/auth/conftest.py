"""Auth test helpers: a fresh rate-limit space per test, personas with access tokens, the outbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core import mail
from rest_framework.test import APIClient

PASSWORD = "a fine long passphrase"


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with test-sized costs: the production parameters take ~150 ms per hash here."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1


@pytest.fixture(autouse=True)
def quick_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.auth.conftest.QuickArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings: Any) -> None:
    """Each test counts its own hits: a unique cache key prefix, also on a Redis db shared by workers."""
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def signup(api: APIClient, email: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/auth/signup", {"email": email, "password": password, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def alice(db: None) -> dict[str, Any]:
    """A signed-up user: `{user, access, refresh}`."""
    return signup(APIClient(), "alice@example.com")


@pytest.fixture
def alice_api(alice: dict[str, Any]) -> APIClient:
    return bearer(alice["access"])


@pytest.fixture
def bob(db: None) -> dict[str, Any]:
    return signup(APIClient(), "bob@example.com")


@pytest.fixture
def bob_api(bob: dict[str, Any]) -> APIClient:
    return bearer(bob["access"])


@pytest.fixture
def csrf_staff_api(staff_api: APIClient) -> APIClient:
    """The console operator, with a CSRF token so that writes pass Django's CSRF check."""
    secret = uuid.uuid4().hex
    staff_api.cookies["csrftoken"] = secret
    staff_api.credentials(HTTP_X_CSRFTOKEN=secret)
    return staff_api


@pytest.fixture
def outbox(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """`with outbox() as sent:` runs the block, delivers the mail it queued after commit, and gives
    the list of messages."""

    @contextmanager
    def capture() -> Iterator[list[Any]]:
        before = len(mail.outbox)
        sent: list[Any] = []
        with django_capture_on_commit_callbacks(execute=True):
            yield sent
        sent.extend(mail.outbox[before:])

    return capture


def token_in(message: Any) -> str:
    match = re.search(r"code in the app: (\S+)", message.body)
    assert match, message.body
    return match.group(1)
