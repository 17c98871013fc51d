"""The table of resources: one row per route and method of the URL configuration.

A row declares data, not boilerplate: the route it covers (the URL pattern, parameters written
`{name}`), how to build a concrete path in the world (tests/contract/world.py), a valid body, and
the status each persona gets. The generic tests (test_resource_table.py) check every row against
every persona, the error shape, unknown body fields and pagination, and fail on a route without a
row.

Expected statuses: a 2xx means the persona is allowed (the exact success status); 401/403/404
are refusals, whose error code follows from the status (docs/errors.md). 404 for a persona that
may not learn whether a resource exists is existence hiding (docs/documents.md, docs/storage.md
"Existence"); an unknown collection, bucket or function is 404 for everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.contract.world import ANONYMOUS, ANONYMOUS_USER, OTHER, PERSONAS, SERVICE, STAFF, USER, World

# persona → the status (its code follows from it: 401 not_authenticated, 403 permission_denied, 404
# not_found) or, for another error, (status, code).
Expect = dict[str, int | tuple[int, str]]


def only_admins(ok: int) -> Expect:
    """Service role and staff only: anonymous 401, every signed-in user 403."""
    return {ANONYMOUS: 401, ANONYMOUS_USER: 403, USER: 403, OTHER: 403, SERVICE: ok, STAFF: ok}


def everyone(ok: int) -> Expect:
    return dict.fromkeys(PERSONAS, ok)


def signed_in(ok: int) -> Expect:
    """Any credentials; anonymous 401."""
    return {**everyone(ok), ANONYMOUS: 401}


def users_only(ok: int) -> Expect:
    """Signed-in users (anonymous accounts too): the service role and staff have no user here."""
    return {ANONYMOUS: 401, ANONYMOUS_USER: ok, USER: ok, OTHER: ok, SERVICE: 403, STAFF: ok}


def owner_and_admins(ok: int, stranger: int = 403, anonymous: int = 401) -> Expect:
    """The owner, service and staff; other users get `stranger`, no credentials `anonymous`."""
    return {ANONYMOUS: anonymous, ANONYMOUS_USER: stranger, USER: ok, OTHER: stranger, SERVICE: ok, STAFF: ok}


def hidden_from_strangers(ok: int) -> Expect:
    """The owner, service and staff; to anyone else the world's hidden documents look absent: 404."""
    return owner_and_admins(ok, stranger=404, anonymous=404)


def object_owner_and_admins(ok: int) -> Expect:
    """Storage refuses callers the rules refuse with 403, anonymous ones too (docs/storage.md,
    "Existence of objects"); documents answer 401 to anonymous callers."""
    return owner_and_admins(ok, anonymous=403)


@dataclass(frozen=True)
class Row:
    route: str  # the URL pattern, `/v1/db/{collection}/{doc_id}`
    method: str
    path: Callable[[World], str]
    expect: Expect
    # (world, what `prepare` returned) → a valid body: JSON, or bytes with `content_type`/`multipart`
    body: Callable[[World, Any], Any] | None = None
    content_type: str | None = None
    multipart: bool = False
    lists: bool = False  # a list route: `{items, next_cursor}`, paginated
    # Run before the request (inside the test's transaction): state the row needs.
    prepare: Callable[[World, Any], Any] | None = None
    # False for rows without a JSON body: they skip the unknown-field case.
    json_body: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return self.route, self.method

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"


def _doc(w: World) -> str:
    return f"/v1/db/{w.collection}/{w.docs[0]}"


def _obj(w: World) -> str:
    return f"/v1/storage/objects/{w.bucket}/{w.objects[0]}"


def _email_token(kind: str) -> Callable[[World, Any], Any]:
    """Ask for a verification or recovery mail for the user and keep its code for the body."""

    def prepare(w: World, tools: Any) -> Any:
        with tools.outbox() as sent:
            if kind == "verify":
                response = w.client(USER).post("/v1/auth/verify/request", {}, format="json")
            else:
                response = tools.anonymous.post("/v1/auth/recover", {"email": "owner@example.com"}, format="json")
            assert response.status_code in (200, 202, 204), response.content
        return tools.token_in(sent[-1])

    return prepare


def _failed_invocation(w: World, tools: Any) -> None:
    """Retry takes a failed or dead invocation; the world's are queued (no worker runs here)."""
    from functions.models import Invocation

    Invocation.objects.filter(pk=w.invocations[0]).update(status="failed")


def _dead_delivery(w: World, tools: Any) -> None:
    """Retry takes a finished delivery; the world's are queued (no worker runs here)."""
    from webhooks.models import WebhookDelivery

    WebhookDelivery.objects.filter(pk=w.deliveries[0]).update(status="dead")


def _http_rows(route: str, url: Callable[[World, str], str]) -> list[Row]:
    from django.conf import settings

    too_large = (413, "too_large")
    over_the_cap = {**dict.fromkeys(PERSONAS, too_large), ANONYMOUS: 401, STAFF: 401}
    rows = [
        Row(
            route,
            method,
            lambda w: url(w, w.function),
            over_the_cap,
            body=lambda w, p: b"x" * (settings.FUNCTIONS_HTTP_BODY_MAX_BYTES + 1),
            content_type="application/octet-stream",
            json_body=False,
        )
        for method in ("POST", "PUT", "PATCH", "DELETE")
    ]
    unknown = [
        Row(route, method, lambda w: url(w, "nobody"), everyone(404), json_body=False) for method in ("GET", "HEAD")
    ]
    return rows + unknown


ROWS: list[Row] = [
    # --- health and discovery ---
    Row("/v1/", "GET", lambda w: "/v1/", everyone(200), json_body=False),
    Row("/v1/health", "GET", lambda w: "/v1/health", everyone(200), json_body=False),
    Row("/v1/ready", "GET", lambda w: "/v1/ready", everyone(200), json_body=False),
    Row("/v1/schema", "GET", lambda w: "/v1/schema", everyone(200), json_body=False),
    Row("/v1/docs", "GET", lambda w: "/v1/docs", everyone(200), json_body=False),
    # --- auth ---
    Row(
        "/v1/auth/signup",
        "POST",
        lambda w: "/v1/auth/signup",
        everyone(201),
        body=lambda w, p: {"email": "new@example.com", "password": "a fine long passphrase"},
    ),
    Row(
        "/v1/auth/token",
        "POST",
        lambda w: "/v1/auth/token",
        everyone(200),
        body=lambda w, p: {"email": "owner@example.com", "password": "a fine long passphrase"},
    ),
    Row(
        "/v1/auth/token/refresh",
        "POST",
        lambda w: "/v1/auth/token/refresh",
        everyone(200),
        body=lambda w, p: {"refresh": w.refresh[USER]},
    ),
    Row(
        "/v1/auth/logout",
        "POST",
        lambda w: "/v1/auth/logout",
        everyone(204),
        body=lambda w, p: {"refresh": w.refresh[USER]},
    ),
    Row("/v1/auth/anonymous", "POST", lambda w: "/v1/auth/anonymous", everyone(201), body=lambda w, p: {}),
    Row("/v1/auth/user", "GET", lambda w: "/v1/auth/user", users_only(200), json_body=False),
    Row(
        "/v1/auth/user",
        "PATCH",
        lambda w: "/v1/auth/user",
        users_only(200),
        body=lambda w, p: {"data": {"nick": "n"}},
    ),
    Row(
        "/v1/auth/verify/request",
        "POST",
        lambda w: "/v1/auth/verify/request",
        {**users_only(204), ANONYMOUS_USER: (400, "invalid_request")},  # no address to verify
        body=lambda w, p: {},
    ),
    Row(
        "/v1/auth/verify",
        "POST",
        lambda w: "/v1/auth/verify",
        everyone(200),
        body=lambda w, p: {"token": p},
        prepare=_email_token("verify"),
    ),
    Row(
        "/v1/auth/recover",
        "POST",
        lambda w: "/v1/auth/recover",
        everyone(204),
        body=lambda w, p: {"email": "owner@example.com"},
    ),
    Row(
        "/v1/auth/recover/confirm",
        "POST",
        lambda w: "/v1/auth/recover/confirm",
        everyone(200),
        body=lambda w, p: {"token": p, "password": "another long passphrase"},
        prepare=_email_token("recover"),
    ),
    Row("/v1/admin/users", "GET", lambda w: "/v1/admin/users", only_admins(200), lists=True, json_body=False),
    Row(
        "/v1/admin/users",
        "POST",
        lambda w: "/v1/admin/users",
        only_admins(201),
        body=lambda w, p: {"email": "made@example.com", "password": "a fine long passphrase"},
    ),
    Row(
        "/v1/admin/users/{user_id}",
        "GET",
        lambda w: f"/v1/admin/users/{w.victim_id}",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/admin/users/{user_id}",
        "PATCH",
        lambda w: f"/v1/admin/users/{w.victim_id}",
        only_admins(200),
        body=lambda w, p: {"claims": {"tier": "gold"}},
    ),
    Row(
        "/v1/admin/users/{user_id}",
        "DELETE",
        lambda w: f"/v1/admin/users/{w.victim_id}",
        only_admins(204),
        json_body=False,
    ),
    Row(
        "/v1/admin/users/{user_id}/logout",
        "POST",
        lambda w: f"/v1/admin/users/{w.victim_id}/logout",
        only_admins(204),
        body=lambda w, p: {},
    ),
    Row("/v1/admin/audit", "GET", lambda w: "/v1/admin/audit", only_admins(200), lists=True, json_body=False),
    Row("/v1/admin/keys", "GET", lambda w: "/v1/admin/keys", only_admins(200), lists=True, json_body=False),
    Row(
        "/v1/admin/keys",
        "POST",
        lambda w: "/v1/admin/keys",
        only_admins(201),
        body=lambda w, p: {"name": "made", "role": "service"},
    ),
    Row(
        "/v1/admin/keys/{key_id}",
        "DELETE",
        lambda w: f"/v1/admin/keys/{w.key_id}",
        only_admins(204),
        json_body=False,
    ),
    # --- documents ---
    Row("/v1/db/collections", "GET", lambda w: "/v1/db/collections", only_admins(200), lists=True, json_body=False),
    Row(
        "/v1/db/collections",
        "POST",
        lambda w: "/v1/db/collections",
        only_admins(201),
        body=lambda w, p: {"name": "made", "rules": {"read": "true"}},
    ),
    Row(
        "/v1/db/collections/{name}",
        "GET",
        lambda w: f"/v1/db/collections/{w.collection}",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/db/collections/{name}",
        "PATCH",
        lambda w: f"/v1/db/collections/{w.collection}",
        only_admins(200),
        body=lambda w, p: {"rules": {"read": "true"}},
    ),
    Row(
        "/v1/db/collections/{name}",
        "DELETE",
        lambda w: f"/v1/db/collections/{w.collection_2}",
        only_admins(204),
        json_body=False,
    ),
    Row(
        "/v1/db/batch",
        "POST",
        lambda w: "/v1/db/batch",
        signed_in(200),
        body=lambda w, p: {"ops": [{"op": "create", "collection": w.collection, "id": "batched", "data": {"n": 9}}]},
    ),
    Row(
        "/v1/db/{collection}",
        "GET",
        lambda w: f"/v1/db/{w.collection}",
        everyone(200),
        lists=True,
        json_body=False,
    ),
    Row(
        "/v1/db/{collection}",
        "POST",
        lambda w: f"/v1/db/{w.collection}",
        signed_in(201),
        body=lambda w, p: {"data": {"n": 5}},
    ),
    Row(
        "/v1/db/{collection}/count",
        "GET",
        lambda w: f"/v1/db/{w.collection}/count",
        everyone(200),
        json_body=False,
    ),
    Row("/v1/db/{collection}/{doc_id}", "GET", _doc, hidden_from_strangers(200), json_body=False),
    # A refused PUT is the write's refusal (taken or free, the create rule would judge a free id).
    Row("/v1/db/{collection}/{doc_id}", "PUT", _doc, owner_and_admins(200), body=lambda w, p: {"data": {"n": 7}}),
    Row(
        "/v1/db/{collection}/{doc_id}",
        "PATCH",
        _doc,
        hidden_from_strangers(200),
        body=lambda w, p: {"data": {"n": 8}},
    ),
    Row("/v1/db/{collection}/{doc_id}", "DELETE", _doc, hidden_from_strangers(204), json_body=False),
    # --- storage ---
    Row(
        "/v1/storage/buckets",
        "GET",
        lambda w: "/v1/storage/buckets",
        only_admins(200),
        lists=True,
        json_body=False,
    ),
    Row(
        "/v1/storage/buckets",
        "POST",
        lambda w: "/v1/storage/buckets",
        only_admins(201),
        body=lambda w, p: {"name": "made", "rules": {"read": "true"}},
    ),
    Row(
        "/v1/storage/buckets/{name}",
        "GET",
        lambda w: f"/v1/storage/buckets/{w.bucket}",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/storage/buckets/{name}",
        "PATCH",
        lambda w: f"/v1/storage/buckets/{w.bucket}",
        only_admins(200),
        body=lambda w, p: {"public": False},
    ),
    Row(
        "/v1/storage/buckets/{name}",
        "DELETE",
        lambda w: f"/v1/storage/buckets/{w.bucket_2}",
        only_admins(204),
        json_body=False,
    ),
    Row(
        "/v1/storage/objects/{bucket}",
        "GET",
        lambda w: f"/v1/storage/objects/{w.bucket}",
        everyone(200),
        lists=True,
        json_body=False,
    ),
    Row("/v1/storage/objects/{bucket}/{path}", "GET", _obj, object_owner_and_admins(200), json_body=False),
    Row("/v1/storage/objects/{bucket}/{path}", "HEAD", _obj, object_owner_and_admins(200), json_body=False),
    Row(
        "/v1/storage/objects/{bucket}/{path}",
        "PUT",
        _obj,
        object_owner_and_admins(201),
        body=lambda w, p: b"replaced",
        content_type="text/plain",
        json_body=False,
    ),
    Row(
        "/v1/storage/objects/{bucket}/{path}",
        "POST",
        _obj,
        object_owner_and_admins(201),
        body=lambda w, p: b"replaced",
        multipart=True,
        json_body=False,
    ),
    Row("/v1/storage/objects/{bucket}/{path}", "DELETE", _obj, object_owner_and_admins(204), json_body=False),
    Row(
        "/v1/storage/sign/{bucket}/{path}",
        "POST",
        lambda w: f"/v1/storage/sign/{w.bucket}/{w.objects[0]}",
        object_owner_and_admins(200),
        body=lambda w, p: {"expires_in": 60},
    ),
    # --- functions ---
    Row("/v1/functions", "GET", lambda w: "/v1/functions", only_admins(200), lists=True, json_body=False),
    Row(
        "/v1/functions",
        "POST",
        lambda w: "/v1/functions",
        only_admins(201),
        body=lambda w, p: {"name": "made", "files": {"main.py": "x = 1\n"}},
    ),
    Row(
        "/v1/functions/{name}",
        "GET",
        lambda w: f"/v1/functions/{w.function}",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/functions/{name}",
        "DELETE",
        lambda w: f"/v1/functions/{w.function_2}",
        only_admins(204),
        json_body=False,
    ),
    Row(
        "/v1/functions/{name}/versions",
        "GET",
        lambda w: f"/v1/functions/{w.function}/versions",
        only_admins(200),
        lists=True,
        json_body=False,
    ),
    Row(
        "/v1/functions/{name}/rollback",
        "POST",
        lambda w: f"/v1/functions/{w.function}/rollback",
        only_admins(200),
        body=lambda w, p: {"version": 1},
    ),
    # Async: the access decision without a run (tests/contract/test_invoke_settings.py runs them).
    Row(
        "/v1/functions/{name}/invoke",
        "POST",
        lambda w: f"/v1/functions/{w.function}/invoke?async=true",
        {ANONYMOUS: 401, ANONYMOUS_USER: 202, USER: 202, OTHER: 202, SERVICE: 202, STAFF: 202},
        body=lambda w, p: {"payload": {"n": 1}},
    ),
    Row(
        "/v1/functions/{name}/invocations",
        "GET",
        lambda w: f"/v1/functions/{w.function}/invocations",
        only_admins(200),
        lists=True,
        json_body=False,
    ),
    Row(
        "/v1/functions/{name}/logs",
        "GET",
        lambda w: f"/v1/functions/{w.function}/logs",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/functions/{name}/secrets",
        "GET",
        lambda w: f"/v1/functions/{w.function}/secrets",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/functions/{name}/secrets",
        "PATCH",
        lambda w: f"/v1/functions/{w.function}/secrets",
        only_admins(201),
        body=lambda w, p: {"set": {"TOKEN": "t"}, "unset": []},
    ),
    Row(
        "/v1/invocations/{invocation_id}",
        "GET",
        lambda w: f"/v1/invocations/{w.invocations[0]}",
        owner_and_admins(200, stranger=404),  # USER invoked it; to anyone else it does not exist
        json_body=False,
    ),
    Row(
        "/v1/invocations/{invocation_id}/retry",
        "POST",
        lambda w: f"/v1/invocations/{w.invocations[0]}/retry",
        only_admins(202),
        body=lambda w, p: {},
        prepare=_failed_invocation,
    ),
    # --- outgoing webhooks ---
    Row("/v1/webhooks", "GET", lambda w: "/v1/webhooks", only_admins(200), lists=True, json_body=False),
    Row(
        "/v1/webhooks",
        "POST",
        lambda w: "/v1/webhooks",
        only_admins(201),
        body=lambda w, p: {"name": "made-hook", "url": "https://hooks.example.com/x", "source": {"bucket": w.bucket}},
    ),
    Row("/v1/webhooks/{name}", "GET", lambda w: f"/v1/webhooks/{w.webhook}", only_admins(200), json_body=False),
    Row(
        "/v1/webhooks/{name}",
        "PATCH",
        lambda w: f"/v1/webhooks/{w.webhook}",
        only_admins(200),
        body=lambda w, p: {"events": ["document.created"]},
    ),
    Row("/v1/webhooks/{name}", "DELETE", lambda w: f"/v1/webhooks/{w.webhook_2}", only_admins(204), json_body=False),
    Row(
        "/v1/webhooks/{name}/rotate-secret",
        "POST",
        lambda w: f"/v1/webhooks/{w.webhook}/rotate-secret",
        only_admins(200),
        body=lambda w, p: {},
    ),
    Row(
        "/v1/webhooks/{name}/test",
        "POST",
        lambda w: f"/v1/webhooks/{w.webhook}/test",
        only_admins(202),
        body=lambda w, p: {},
    ),
    Row(
        "/v1/webhooks/{name}/deliveries",
        "GET",
        lambda w: f"/v1/webhooks/{w.webhook}/deliveries",
        only_admins(200),
        lists=True,
        json_body=False,
    ),
    Row(
        "/v1/webhook-deliveries/{delivery_id}",
        "GET",
        lambda w: f"/v1/webhook-deliveries/{w.deliveries[0]}",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/webhook-deliveries/{delivery_id}/retry",
        "POST",
        lambda w: f"/v1/webhook-deliveries/{w.deliveries[0]}/retry",
        only_admins(202),
        body=lambda w, p: {},
        prepare=_dead_delivery,
    ),
    # Webhooks (/http/): a synchronous wait never ends inside the test's transaction, so the rows
    # check the access decision without a run: a body over FUNCTIONS_HTTP_BODY_MAX_BYTES is refused
    # (413) after it; GET and HEAD carry no body, and name an unknown function (404 for everyone).
    # The console's session is no credential there (staff: 401). tests/functions/test_http_route.py
    # runs the route with a worker.
    *_http_rows("/v1/functions/{name}/http/{subpath}", lambda w, name: f"/v1/functions/{name}/http/hook"),
    *_http_rows("/v1/functions/{name}/http/?", lambda w, name: f"/v1/functions/{name}/http/"),
    # --- realtime ---
    Row(
        "/v1/realtime/channels/rules",
        "GET",
        lambda w: "/v1/realtime/channels/rules",
        only_admins(200),
        json_body=False,
    ),
    Row(
        "/v1/realtime/channels/rules",
        "PUT",
        lambda w: "/v1/realtime/channels/rules",
        only_admins(200),
        body=lambda w, p: {"join": "auth != null", "broadcast": "auth != null"},
    ),
]
