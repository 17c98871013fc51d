"""Shared fixtures: personas (anonymous, service, staff), service checks, subprocess helpers."""

from __future__ import annotations

import os
import signal
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BAAS_BIN = str(Path(sys.executable).with_name("baas"))


def pytest_configure(config: pytest.Config) -> None:
    # Tests stop `baas dev`, `baas functions dev` and the like with SIGINT, as Ctrl-C would. A
    # suite started in the background of a non-interactive shell (`.ci/run &`) inherits SIGINT
    # ignored, and an ignored signal stays ignored across exec: those children would never see
    # it. A handler (unlike an ignore) is reset to the default by exec, so each child starts as
    # from a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def service_missing(what: str) -> None:
    """Skip a test whose service is absent — or fail it when CI demands every service."""
    message = f"{what} is not available"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and REQUIRE_SERVICES=1")
    pytest.skip(f"{message} (set REQUIRE_SERVICES=1 to make this a failure)")  # REQUIRE_SERVICES


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url() -> str:
    if not port_open("127.0.0.1", 5432):
        service_missing("PostgreSQL on 127.0.0.1:5432")
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis on 127.0.0.1:6379")
    return REDIS_TEST_URL


@pytest.fixture
def api() -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def service_key(db: None) -> str:
    from auth import services

    _, secret = services.create_service_key(name="tests")
    return secret


@pytest.fixture
def service_api(service_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    return client


@pytest.fixture
def staff_user(db: None):  # type: ignore[no-untyped-def]
    from auth import services

    user, _ = services.create_admin(email="ops@example.com", password="correct horse battery")
    return user


@pytest.fixture
def staff_api(staff_user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path


# --- personas: signed-up users with access tokens ---------------------------------------------

PASSWORD = "a fine long passphrase"


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with test-sized costs: the production parameters take ~150 ms per hash here."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1


@pytest.fixture(autouse=True)
def quick_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.conftest.QuickArgon2PasswordHasher"]


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgresql` state facts of PostgreSQL itself (a trigger only it has): on
    another database they are left out of the run, not skipped, so a skip always means something
    is missing."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    kept = [item for item in items if item.get_closest_marker("postgresql") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
