"""Storage test fixtures: the object backend (local folder or a moto S3 server on loopback),
personas with their own clients, and buckets.

Every object test takes `backend`, which runs it twice: against FileSystemStorage in a temporary
folder and against S3Storage on a moto server (one per test process, a fresh S3 bucket per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import free_port

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=moto_endpoint, **S3_CREDENTIALS)


@pytest.fixture(scope="session")
def s3_resource(moto_endpoint: str) -> Any:
    """One boto3 resource for every test of the process: building one loads the service models
    (~0.3 s), and the storage handler builds a new S3Storage for every test."""
    import boto3

    return boto3.session.Session().resource("s3", endpoint_url=moto_endpoint, **S3_CREDENTIALS)


@dataclass
class Backend:
    kind: str
    root: Path | None = None
    s3: Any = None
    s3_bucket: str | None = None

    def keys(self) -> list[str]:
        """Every key holding bytes in the object backend right now."""
        if self.kind == "local":
            assert self.root is not None
            if not self.root.exists():
                return []
            return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        answer = self.s3.list_objects_v2(Bucket=self.s3_bucket)
        return sorted(item["Key"] for item in answer.get("Contents", []))


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Backend:
    storages = dict(settings.STORAGES)
    if request.param == "local":
        root = tmp_path / "objects"
        storages["default"] = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        }
        settings.STORAGES = storages
        return Backend(kind="local", root=root)
    endpoint = request.getfixturevalue("moto_endpoint")
    client = request.getfixturevalue("s3_client")
    name = f"t-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=name)
    storages["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": name,
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
            "addressing_style": "path",
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
    settings.STORAGES = storages
    from django.core.files.storage import storages as storage_handler

    storage_handler["default"]._connections.connection = request.getfixturevalue("s3_resource")
    return Backend(kind="s3", s3=client, s3_bucket=name)


# --- personas -----------------------------------------------------------------------------------


@dataclass
class Persona:
    name: str
    client: APIClient
    id: str | None = None


def _user_persona(name: str) -> Persona:
    from auth.limits import NO_CLIENT
    from auth.models import User
    from auth.sessions import signed_in

    user = User.objects.create_user(f"{name}@example.com")
    access = signed_in(user=user, client=NO_CLIENT).access
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return Persona(name=name, client=client, id=str(user.id))


@pytest.fixture
def alice(db: None) -> Persona:
    """The owner of the objects in rules tests."""
    return _user_persona("alice")


@pytest.fixture
def bob(db: None) -> Persona:
    """Another signed-in user."""
    return _user_persona("bob")


@pytest.fixture
def anonymous(db: None) -> Persona:
    return Persona(name="anonymous", client=APIClient())


@pytest.fixture
def service(service_api: APIClient) -> Persona:
    return Persona(name="service", client=service_api)


@pytest.fixture
def staff(staff_api: APIClient) -> Persona:
    """A console operator, with a CSRF token so that writes pass Django's CSRF check."""
    secret = uuid.uuid4().hex
    staff_api.cookies["csrftoken"] = secret
    staff_api.credentials(HTTP_X_CSRFTOKEN=secret)
    return Persona(name="staff", client=staff_api)


@pytest.fixture
def personas(anonymous: Persona, alice: Persona, bob: Persona, service: Persona, staff: Persona) -> dict:
    return {p.name: p for p in (anonymous, alice, bob, service, staff)}


# --- buckets and objects ------------------------------------------------------------------------


@pytest.fixture
def make_bucket(db: None):  # type: ignore[no-untyped-def]
    """`make_bucket(name, **fields)` creates a bucket as the service role."""
    from baas.principals import service_principal
    from storage import services

    def make(name: str = "files", **fields: Any) -> dict[str, Any]:
        return services.create_bucket(
            principal=service_principal(key_id="tests", name="tests"), fields={"name": name, **fields}
        )

    return make


def put(client: APIClient, bucket: str, path: str, data: bytes, content_type: str = "text/plain", **headers: str):  # type: ignore[no-untyped-def]
    return client.put(f"/v1/storage/objects/{bucket}/{path}", data=data, content_type=content_type, **headers)


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]["code"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(600)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(600)
PDF = b"%PDF-1.7\n" + b"x" * 600


@pytest.fixture(autouse=True)
def quick_password_hashing(settings: Any) -> None:
    """The staff persona has a password; hash it with test-sized Argon2 costs."""
    settings.PASSWORD_HASHERS = ["tests.storage.conftest.QuickArgon2PasswordHasher"]


def _quick_hasher() -> type:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    class QuickArgon2PasswordHasher(Argon2PasswordHasher):
        time_cost = 1
        memory_cost = 1024
        parallelism = 1

    return QuickArgon2PasswordHasher


QuickArgon2PasswordHasher = _quick_hasher()
