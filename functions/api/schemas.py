"""OpenAPI schemas of the functions API's bodies (functions/api/views.py builds them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from baas.openapi import (
    ANY,
    BOOLEAN,
    INTEGER,
    JSON_OBJECT,
    STRING,
    TIMESTAMP,
    component,
    examples,
    nullable,
    obj,
    page_of,
)

NAMES = {"type": "array", "items": STRING}
# What a deploy may set besides the code (docs/functions.md).
CONFIG_FIELDS = {
    "name": STRING,
    "entry": {
        "type": "string",
        "description": "Python: the module of the handlers (default main). Deno: the file (default main.ts, "
        "main.mts, main.js or main.mjs).",
    },
    "runtime": {
        "type": "string",
        "enum": ["python", "deno"],
        "description": "What runs the code; inferred from the entry's extension (.py → python; .ts, .mts, "
        ".js, .mjs → deno) or the bundle's main file when not given.",
    },
    "timeout": {"type": "integer", "description": "Seconds per invocation."},
    "memory": {"type": "integer", "description": "MiB."},
    "env": {"type": "object", "additionalProperties": STRING},
    "secrets": {"type": "object", "additionalProperties": STRING, "description": "Stored encrypted; never shown."},
    "network": {"type": "string", "enum": ["none", "egress"]},
    "permissions": {"type": "array", "items": ANY},
    "max_retries": INTEGER,
    "invoke": {"type": "string", "enum": ["service", "authenticated", "public"]},
    "concurrency": INTEGER,
    "rate_per_minute": INTEGER,
}
DEPLOY = component(
    "FunctionDeploy",
    obj(
        required=["name", "files"],
        files={"type": "object", "additionalProperties": STRING, "description": "path → source text"},
        **CONFIG_FIELDS,
    ),
)
DEPLOY_BUNDLE = component(
    "FunctionDeployBundle",
    obj(
        required=["bundle"],
        bundle={"type": "string", "format": "binary", "description": "zip or tar[.gz] of the function's files"},
        config={"type": "string", "description": "JSON object: the deploy fields without files."},
        name=STRING,
        entry=STRING,
        network=STRING,
        invoke=STRING,
    ),
)

VERSION = component(
    "FunctionVersion",
    obj(
        function=STRING,
        version=INTEGER,
        active=BOOLEAN,
        entry=STRING,
        runtime={"type": "string", "enum": ["python", "deno"]},
        timeout=INTEGER,
        memory=INTEGER,
        env=JSON_OBJECT,
        secrets={**NAMES, "description": "Names only: values never leave the server."},
        network=STRING,
        permissions={"type": "array", "items": ANY},
        max_retries=INTEGER,
        concurrency=INTEGER,
        rate_per_minute=INTEGER,
        invoke=STRING,
        triggers={"type": "array", "items": JSON_OBJECT},
        files=NAMES,
        size=INTEGER,
        digest=STRING,
        created_at=TIMESTAMP,
        created_by=nullable(STRING),
    ),
)
VERSION_PAGE = component("FunctionVersionPage", page_of(VERSION))

FUNCTION = component(
    "Function",
    obj(
        name=STRING,
        version={**nullable(INTEGER), "description": "The active version's number."},
        runtime={
            **nullable({"type": "string", "enum": ["python", "deno"]}),
            "description": "The active version's runtime.",
        },
        active_version=nullable(VERSION),
        created_at=TIMESTAMP,
        updated_at=TIMESTAMP,
    ),
)
FUNCTION_PAGE = component("FunctionPage", page_of(FUNCTION))
BACKLOG = obj(
    queued=INTEGER,
    running=INTEGER,
    retrying=INTEGER,
    waiting={"type": "object", "additionalProperties": INTEGER, "description": "Queued, by what holds them."},
)
FUNCTION_DETAIL = component("FunctionDetail", {"allOf": [FUNCTION, obj(backlog=BACKLOG)]})
ROLLBACK = component("FunctionRollback", obj(version=INTEGER))

INVOCATION = component(
    "Invocation",
    obj(
        id={"type": "string", "format": "uuid"},
        function=STRING,
        version=INTEGER,
        trigger=STRING,
        handler=STRING,
        event_id=nullable(ANY),
        seq=nullable(INTEGER),
        depth=INTEGER,
        status={"type": "string", "enum": ["queued", "running", "succeeded", "failed", "retrying", "dead"]},
        waiting=nullable({"type": "string", "description": "Why a queued invocation waits: order, concurrency, rate."}),
        attempts=INTEGER,
        max_attempts=INTEGER,
        next_attempt_at=nullable(TIMESTAMP),
        event_at=nullable(TIMESTAMP),
        queue_delay_ms=nullable({"type": "number"}),
        created_at=TIMESTAMP,
        started_at=nullable(TIMESTAMP),
        finished_at=nullable(TIMESTAMP),
        duration_ms=nullable({"type": "number"}),
        logs=STRING,
        result=nullable(ANY),
        error=nullable(ANY),
    ),
)
INVOCATION_PAGE = component("InvocationPage", page_of(INVOCATION))
INVOKE = component(
    "Invoke", obj(required=[], payload={**ANY, "description": "Passed to the handler as event.payload."})
)
INVOKED = component(
    "Invoked",
    obj(
        required=["invocation", "result"], invocation=INVOCATION, result={**ANY, "description": "The handler's answer."}
    ),
)
QUEUED = component("InvocationQueued", obj(invocation=INVOCATION))

# GET /v1/functions/{name}/logs as JSON (its text/event-stream form sends the same items as events).
LOG_PAGE = component(
    "FunctionLogPage",
    obj(
        items={"type": "array", "items": INVOCATION},
        cursor={**nullable(STRING), "description": "Pass as ?cursor= (or Last-Event-ID) to continue after these."},
    ),
)
SECRETS = component("FunctionSecrets", obj(names=NAMES))
SECRETS_CHANGE = component(
    "FunctionSecretsChange",
    obj(
        required=[],
        set={"type": "object", "additionalProperties": STRING, "description": "Names and values to set."},
        unset=NAMES,
    ),
)

# --- examples of the main operations --------------------------------------------------------------------
_HELLO = (
    "from baas_runtime import on_http\n\n@on_http\ndef hello(event, ctx):\n"
    '    return {"hello": event["payload"]["name"]}\n'
)
_VERSION = {
    "function": "hello",
    "version": 1,
    "active": True,
    "entry": "main",
    "runtime": "python",
    "timeout": 10,
    "memory": 128,
    "env": {"GREETING": "hi"},
    "secrets": [],
    "network": "none",
    "permissions": [],
    "max_retries": 0,
    "concurrency": 4,
    "rate_per_minute": 600,
    "invoke": "authenticated",
    "triggers": [{"type": "http", "handler": "hello"}],
    "files": ["main.py"],
    "size": 118,
    "digest": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "created_at": "2026-01-05T12:00:00Z",
    "created_by": None,
}
_INVOCATION = {
    "id": "3d5e7f90-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
    "function": "hello",
    "version": 1,
    "trigger": "http",
    "handler": "hello",
    "event_id": None,
    "seq": None,
    "depth": 0,
    "status": "succeeded",
    "waiting": None,
    "attempts": 1,
    "max_attempts": 1,
    "next_attempt_at": None,
    "event_at": None,
    "queue_delay_ms": 2.1,
    "created_at": "2026-01-05T12:01:00Z",
    "started_at": "2026-01-05T12:01:00Z",
    "finished_at": "2026-01-05T12:01:00Z",
    "duration_ms": 14.6,
    "logs": "",
    "result": {"hello": "Ada"},
    "error": None,
}
examples(
    "functions_deploy",
    request={"name": "hello", "files": {"main.py": _HELLO}, "env": {"GREETING": "hi"}, "invoke": "authenticated"},
    r201=_VERSION,
)
examples(
    "functions_invoke",
    request={"payload": {"name": "Ada"}},
    r200={"invocation": _INVOCATION, "result": {"hello": "Ada"}},
    r202={
        "invocation": {
            **_INVOCATION,
            "status": "queued",
            "attempts": 0,
            "started_at": None,
            "finished_at": None,
            "duration_ms": None,
            "queue_delay_ms": None,
            "result": None,
        }
    },
)

# --- examples of the other operations --------------------------------------------------------------------
_FUNCTION = {
    "name": "hello",
    "version": 1,
    "runtime": "python",
    "active_version": _VERSION,
    "created_at": "2026-01-05T12:00:00Z",
    "updated_at": "2026-01-05T12:00:00Z",
}
examples("functions_list", r200={"items": [_FUNCTION], "next_cursor": None})
examples(
    "functions_get",
    r200={**_FUNCTION, "backlog": {"queued": 2, "running": 1, "retrying": 0, "waiting": {"concurrency": 2}}},
)
_VERSION_2 = {
    **_VERSION,
    "version": 2,
    "env": {"GREETING": "hello"},
    "digest": "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
    "created_at": "2026-01-06T09:00:00Z",
}
examples("functions_versions_list", r200={"items": [_VERSION_2, {**_VERSION, "active": False}], "next_cursor": None})
examples("functions_invocations_list", r200={"items": [_INVOCATION], "next_cursor": "eyJpZCI6IjNkNWU3ZjkwIn0"})
examples(
    "functions_logs",
    r200={"items": [{**_INVOCATION, "logs": "greeting Ada\n"}], "cursor": "MjAyNi0wMS0wNVQxMjowMTowMFp8M2Q1ZTdmOTA"},
)
examples(
    "functions_rollback",
    request={"version": 1},
    r200={**_FUNCTION, "updated_at": "2026-01-06T10:00:00Z"},
)
examples("functions_secrets_list", r200={"names": ["STRIPE_KEY"]})
examples(
    "functions_secrets_change",
    request={"set": {"STRIPE_KEY": "sk_test_4eC39HqLyjWDarjtT1zdp7dc"}, "unset": ["OLD_TOKEN"]},
    r201={**_VERSION_2, "version": 3, "active": True, "secrets": ["STRIPE_KEY"], "created_at": "2026-01-06T11:00:00Z"},
)
examples("invocations_get", r200=_INVOCATION)
_FAILED = {**_INVOCATION, "id": "8f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910", "trigger": "document", "event_id": 1207}
examples(
    "invocations_retry",
    r202={
        **_FAILED,
        "status": "queued",
        "attempts": 0,
        "max_attempts": 3,
        "event_at": "2026-01-05T12:30:00Z",
        "started_at": None,
        "finished_at": None,
        "duration_ms": None,
        "queue_delay_ms": None,
        "result": None,
    },
)

# --- /v1/functions/{name}/http/{path}: webhooks ----------------------------------------------------------
HTTP_SUBPATH = "The path the handler sees as `event.path` (after a leading `/`); may be empty: `/http` and `/http/`."
HTTP_ROUTE_DESCRIPTION = (
    "Calls the function's `@on_http` handler with the request as sent: `method`, `path`, `query`, `headers` "
    "(lower-case; the platform's `Authorization: Bearer` and session cookies taken out) and the raw body "
    "(`event.body`, bytes; `event.payload` when it is JSON), at most `FUNCTIONS_HTTP_BODY_MAX_BYTES` (413). "
    "Who may call is the function's `invoke` setting (`public` for most webhook senders). The answer is the "
    "handler's: an `HttpResponse` chooses status, headers and body (any content type, any status from 200 "
    "to 599, including the handler's own 4xx); a plain value is 200 JSON. A failed invocation answers in the "
    "error shape (500 `function_error` or the function's code, 504 `timeout`, 502 `invalid_response`); 202 "
    "`{invocation}` when it did not finish in time. `X-Baas-Invocation-Id` names the invocation."
)
HTTP_REQUEST = {"*/*": OpenApiTypes.BINARY}
HTTP_ANSWER_HEADERS = [
    OpenApiParameter(
        "X-Baas-Invocation-Id",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        required=True,
        description="The invocation that answered (its logs: `GET /v1/functions/{name}/logs`).",
    ),
    OpenApiParameter(
        "ETag", str, OpenApiParameter.HEADER, response=[200], required=False, description="Only if the handler set one."
    ),
]
HTTP_RESPONSES = {
    (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The handler's answer: its status, headers, body."),
    202: OpenApiResponse(QUEUED, description="Not finished within timeout + grace: poll the invocation."),
}
for _method in ("get", "post", "put", "patch", "delete"):
    examples(f"functions_http_{_method}", r202={"invocation": {**_INVOCATION, "status": "queued", "result": None}})


class HttpRouteBearerScheme(OpenApiAuthenticationExtension):
    """The /http/ route reads only `Authorization: Bearer` (functions/api/views.py): the one
    `bearerAuth` scheme, whose definition auth/schema.py declares."""

    target_class = "functions.api.views._PlatformBearerOnly"
    name: list[str] = []

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        return {"bearerAuth": []}

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return []
