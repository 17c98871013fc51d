"""Shared fixtures: personas (anonymous, service, staff), service checks, subprocess helpers."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BAAS_BIN = str(Path(sys.executable).with_name("baas"))


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
