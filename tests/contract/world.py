"""The world every contract row runs against: one of each resource, owned by the `user` persona,
built once per module through the public API and committed, then wiped (objects, functions, then a
database flush — what `transactional_db` does after each of its tests).

Each test runs in its own transaction (`db`) on top of it, so what a row writes is rolled back.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, bearer, signup

# The personas of every row, in the order the table lists them.
ANONYMOUS = "anonymous"  # no credentials
ANONYMOUS_USER = "anonymous_user"  # a signInAnonymously token
USER = "user"  # the owner of the world's documents, objects and bucket paths
OTHER = "other"  # another signed-up user
SERVICE = "service"  # a service key
STAFF = "staff"  # a staff user with a console session (and its CSRF token)
PERSONAS = (ANONYMOUS, ANONYMOUS_USER, USER, OTHER, SERVICE, STAFF)

# Bucket rules: signed-in callers create, owners read, change and delete.
OWNER_RULES = {
    "read": "$owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}

# Collection rules: the same, but a document not marked hidden is readable by anyone. The world's
# documents are hidden, so strangers get the answer of an absent document: 404 (existence hiding,
# docs/documents.md), where a rule that admits nothing for them answers 401/403.
HIDDEN_RULES = {**OWNER_RULES, "read": "$owner == auth.id || hidden != true"}

# The world's function: an @on_http handler that tells who called it.
ECHO = """
from baas_runtime import on_http

@on_http
def echo(event, ctx):
    auth = event["auth"]
    caller = auth and {"kind": auth["kind"], "role": auth["role"], "id": auth["id"]}
    return {"payload": event["payload"], "caller": caller}
"""

QUICK_HASHERS = ["tests.conftest.QuickArgon2PasswordHasher"]


@dataclass
class World:
    tokens: dict[str, str] = field(default_factory=dict)  # persona → bearer token
    refresh: dict[str, str] = field(default_factory=dict)  # persona → refresh token
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # persona → user object
    staff_user_pk: Any = None
    collection: str = "notes"
    collection_2: str = "extras"
    docs: list[str] = field(default_factory=list)  # the user's documents in `collection`
    bucket: str = "files"
    bucket_2: str = "other-files"
    objects: list[str] = field(default_factory=list)  # the user's objects in `bucket`
    function: str = "echo"  # two versions, invoke "authenticated"
    function_2: str = "echo-two"
    invocations: list[str] = field(default_factory=list)  # of `function`; the first made by USER
    functions: list[str] = field(default_factory=list)  # every function deployed (deleted at the end)
    key_id: str = ""  # a service key that no persona uses
    webhook: str = "hook-one"  # on `collection`; two queued test deliveries (no worker runs here)
    webhook_2: str = "hook-two"
    deliveries: list[str] = field(default_factory=list)  # of `webhook`
    victim_id: str = ""  # a user that admin rows may change, log out and delete

    def client(self, persona: str) -> APIClient:
        """A fresh client with the persona's credentials."""
        if persona == ANONYMOUS:
            return APIClient()
        if persona == STAFF:
            from django.contrib.auth import get_user_model

            client = APIClient(enforce_csrf_checks=True)
            client.force_login(get_user_model().objects.get(pk=self.staff_user_pk))
            secret = uuid.uuid4().hex
            client.cookies["csrftoken"] = secret
            client.credentials(HTTP_X_CSRFTOKEN=secret)
            return client
        return bearer(self.tokens[persona])


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.json() if response.content else None


def build_world(*, resources: bool = True) -> World:
    """Create the world through the API (staff and the first service key through the auth services,
    as tests/conftest.py does: the API needs an admin to make them). Without `resources`, only the
    personas."""
    from auth import services

    world = World()
    # As tests/conftest.py's autouse fixtures do for each test (they are function-scoped): quick
    # hashing, and rate limits counted under a prefix of this world's own (Redis outlives runs).
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"contract-world-{uuid.uuid4().hex}"
    with override_settings(PASSWORD_HASHERS=QUICK_HASHERS, CACHES=caches):
        for persona, email in ((USER, "owner@example.com"), (OTHER, "other@example.com")):
            session = signup(APIClient(), email)
            world.tokens[persona], world.refresh[persona] = session["access"], session["refresh"]
            world.users[persona] = session["user"]
        session = _ok(APIClient().post("/v1/auth/anonymous", {}, format="json"), 201)
        world.tokens[ANONYMOUS_USER], world.refresh[ANONYMOUS_USER] = session["access"], session["refresh"]
        world.users[ANONYMOUS_USER] = session["user"]
        staff, _ = services.create_admin(email="staff@example.com", password=PASSWORD)
        world.staff_user_pk = staff.pk
        _, world.tokens[SERVICE] = services.create_service_key(name="contract")

        admin = bearer(world.tokens[SERVICE])
        world.key_id = _ok(admin.post("/v1/admin/keys", {"name": "spare", "role": "service"}, format="json"), 201)["id"]
        world.victim_id = _ok(
            admin.post("/v1/admin/users", {"email": "victim@example.com", "password": PASSWORD}, format="json"), 201
        )["id"]

        if not resources:
            return world
        admin = bearer(world.tokens[SERVICE])
        owner = bearer(world.tokens[USER])
        for name in (world.collection, world.collection_2):
            _ok(admin.post("/v1/db/collections", {"name": name, "rules": HIDDEN_RULES}, format="json"), 201)
        for n in range(2):
            doc = _ok(owner.post(f"/v1/db/{world.collection}", {"data": {"n": n, "hidden": True}}, format="json"), 201)
            world.docs.append(doc["id"])

        for name in (world.bucket, world.bucket_2):
            _ok(admin.post("/v1/storage/buckets", {"name": name, "rules": OWNER_RULES}, format="json"), 201)
        for path in ("a.txt", "b.txt"):
            url = f"/v1/storage/objects/{world.bucket}/{path}"
            _ok(owner.put(url, b"hello", content_type="text/plain"), 201)
            world.objects.append(path)

        files = {"main.py": textwrap.dedent(ECHO)}
        world.functions = [world.function, world.function_2]
        for name in (world.function, world.function, world.function_2):
            body = {"name": name, "files": files, "invoke": "authenticated"}
            _ok(admin.post("/v1/functions", body, format="json"), 201)
        for n in range(2):
            url = f"/v1/functions/{world.function}/invoke?async=true"
            caller = owner if n == 0 else admin  # the first is USER's: its invoker may read it
            answer = _ok(caller.post(url, {"payload": n}, format="json"), 202)
            world.invocations.append(answer["invocation"]["id"])

        for name in (world.webhook, world.webhook_2):
            body = {"name": name, "url": "https://hooks.example.com/in", "source": {"collection": world.collection}}
            _ok(admin.post("/v1/webhooks", body, format="json"), 201)
        for _ in range(2):
            world.deliveries.append(_ok(admin.post(f"/v1/webhooks/{world.webhook}/test"), 202)["id"])
    return world


def destroy_world(world: World) -> None:
    """Delete what lives outside the database (blobs, bundles), then flush the database."""
    admin = bearer(world.tokens[SERVICE])
    for path in world.objects:
        admin.delete(f"/v1/storage/objects/{world.bucket}/{path}")
    for name in world.functions:
        admin.delete(f"/v1/functions/{name}")
    call_command("flush", verbosity=0, interactive=False, database="default")


def world_fixture(django_db_blocker: Any, *, resources: bool = True) -> Iterator[World]:
    with django_db_blocker.unblock():
        try:
            world = build_world(resources=resources)
        except BaseException:
            call_command("flush", verbosity=0, interactive=False, database="default")
            raise
        try:
            yield world
        finally:
            destroy_world(world)
