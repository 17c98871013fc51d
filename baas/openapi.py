"""OpenAPI additions shared by every operation: the one error envelope, and named body schemas.

Every error leaving `/v1/` has the shape `{"error": {"code", "message", "details"}}` (baas/errors.py).
`add_error_responses` runs after drf-spectacular has built the schema and gives each operation the
error answers any request can get, plus a `default` for the rarer ones, all with that envelope, so
clients and generated SDKs can decode an error from any route.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter

ERROR_COMPONENT = "Error"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'The API\'s one error shape: `{"error": {"code", "message", "details"}}`.',
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable machine-readable code, e.g. `validation_error`, `not_found`.",
                },
                "message": {"type": "string", "description": "Human-readable explanation."},
                "details": {"type": "object", "additionalProperties": True, "description": "Context."},
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
    "example": {
        "error": {
            "code": "validation_error",
            "message": "Some fields are invalid.",
            "details": {"email": [{"code": "invalid", "message": "Enter a valid email address."}]},
        }
    },
}

# Answers any operation can give: bad input, missing or wrong credentials, a rule or role that
# refuses, something absent, a rate limit. Others (409, 412, 413, 415, 422, 503) fall under `default`.
COMMON_ERRORS: dict[str, str] = {
    "400": "The request is invalid (`invalid_request`, `validation_error`, …).",
    "401": "Credentials are missing, invalid or expired.",
    "403": "The caller may not do this.",
    "404": "Nothing was found here.",
    "429": "Too many requests; see `Retry-After`.",
}


# Named response and request bodies, declared beside each app's views (`<app>/api/schemas.py`) with
# `component()`, and added to `components.schemas` by the hook below.
COMPONENTS: dict[str, dict[str, Any]] = {}


# Examples by operationId, declared beside each app's schemas with `examples()`: what a request
# sends and what each success answer looks like. The hook below puts them into the operations.
EXAMPLES: dict[str, dict[str, Any]] = {}


def examples(operation_id: str, *, request: Any = None, **responses: Any) -> None:
    """Register an operation's examples: `request=` its JSON body, `r200=`/`r201=`… its answers."""
    EXAMPLES[operation_id] = {
        "request": request,
        "responses": {key.removeprefix("r"): value for key, value in responses.items()},
    }


def _add_examples(operation: dict[str, Any]) -> None:
    declared = EXAMPLES.get(operation.get("operationId", ""))
    if not declared:
        return
    if declared["request"] is not None:
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            raise ValueError(f"{operation['operationId']}: a request example, but no JSON request body")
        content["examples"] = {"request": {"value": declared["request"]}}
    for status, value in declared["responses"].items():
        content = operation["responses"].get(status, {}).get("content", {}).get("application/json")
        if content is None:
            raise ValueError(f"{operation['operationId']}: an example for {status}, which has no JSON body")
        content["examples"] = {"answer": {"value": value}}


# Request headers an operation reads (conditions, ranges, metadata), by operationId: declared beside
# each app's schemas with `request_headers()` so generated clients can send them.
REQUEST_HEADERS: dict[str, list[dict[str, Any]]] = {}


def header(name: str, description: str, example: str | None = None) -> dict[str, Any]:
    """An optional request header parameter."""
    parameter = {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }
    return parameter if example is None else {**parameter, "example": example}


def request_headers(operation_id: str, *headers: dict[str, Any]) -> None:
    REQUEST_HEADERS.setdefault(operation_id, []).extend(headers)


def _add_request_headers(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    named = {(parameter["in"], parameter["name"]) for parameter in parameters}
    for parameter in REQUEST_HEADERS.get(operation.get("operationId", ""), []):
        if ("header", parameter["name"]) not in named:
            parameters.append(dict(parameter))


# `?limit=` and `?cursor=` of every list (baas/pagination.py).
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Items per page, 1 to 1000 (default 50)."),
    OpenApiParameter("cursor", str, description="The `next_cursor` of the previous page."),
]


def component(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Register a named schema; returns the `$ref` to use in `extend_schema`."""
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    """A JSON object schema with these properties (all required unless `required` says otherwise)."""
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True} if "$ref" not in schema else {"allOf": [schema], "nullable": True}


STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
TIMESTAMP: dict[str, Any] = {"type": "string", "format": "date-time"}
JSON_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
ANY: dict[str, Any] = {"description": "Any JSON value."}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    """One page of a list: `{items, next_cursor}` (baas/pagination.py); pass `next_cursor` back as `cursor`."""
    return obj(items={"type": "array", "items": item}, next_cursor=nullable(STRING))


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A request body for `extend_schema(request=…)` (a bare dict there is read as media types)."""
    return {"application/json": schema}


def rules_schema(name: str, *operations: str) -> dict[str, Any]:
    """A named schema of access rules: one expression (or null: the default) per operation."""
    return component(name, obj(required=[], **{operation: nullable(STRING) for operation in operations}))


ETAG = {
    "ETag": {
        "required": True,
        "description": "Quoted version (documents) or sha256 (objects); send it back in If-Match.",
        "schema": STRING,
    }
}
# Response headers clients rely on, declared wherever the body (or status) says they are sent.
HEADERS_BY_BODY: dict[str, dict[str, Any]] = {
    "#/components/schemas/Document": ETAG,
    "#/components/schemas/StoredObject": ETAG,
}
HEADERS_BY_STATUS: dict[str, dict[str, Any]] = {
    "206": {**ETAG, "Content-Range": {"required": True, "schema": STRING, "description": "bytes start-end/size"}},
    "429": {"Retry-After": {"required": True, "schema": INTEGER, "description": "Seconds to wait."}},
}


def _declare_headers(status: str, response: dict[str, Any]) -> None:
    headers = dict(HEADERS_BY_STATUS.get(status, {}))
    for content in response.get("content", {}).values():
        schema = content.get("schema", {})
        headers.update(HEADERS_BY_BODY.get(schema.get("$ref", ""), {}))
        if status.startswith("2") and schema.get("format") == "binary":  # an object's bytes
            headers.update(ETAG)
    if headers:
        response["headers"] = {**headers, **response.get("headers", {})}


# Every write may carry an Idempotency-Key (baas/idempotency.py, docs/clients.md).
IDEMPOTENT_METHODS = ("post", "put", "patch", "delete")
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[ -~]{1,255}$"},
    "description": "A client-chosen key: a retry with the same key and body gets the first answer and "
    "writes nothing twice; the same key with another body is 422 `idempotency_key_reused`. Keys live 24 h.",
}
IDEMPOTENCY_ERRORS = {
    "409": "`idempotency_key_in_use`: a request with this key is still running (or another conflict).",
    "422": "`idempotency_key_reused`: this key was used with another request body.",
}


def _declare_idempotency_key(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(parameter.get("name") == "Idempotency-Key" for parameter in parameters):
        parameters.append(dict(IDEMPOTENCY_KEY_PARAMETER))
    for status, description in IDEMPOTENCY_ERRORS.items():
        operation["responses"].setdefault(status, {"description": description})


def _require_body_with_required_fields(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body with required fields is itself required: say so, or generated clients make it optional."""
    body = operation.get("requestBody")
    if not body or "required" in body:
        return
    for content in body.get("content", {}).values():
        schema = content.get("schema", {})
        schema = schemas.get(schema.get("$ref", "").rpartition("/")[2], schema)
        if schema.get("required"):
            body["required"] = True


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the registered components, the error envelope on every
    error response, the response headers clients rely on (ETag, Content-Range, Retry-After), and the
    registered examples and request headers; bodies with required fields are marked required."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(COMPONENTS)
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if method in IDEMPOTENT_METHODS:
                _declare_idempotency_key(operation)
            _require_body_with_required_fields(operation, schemas)
            _add_examples(operation)
            _add_request_headers(operation)
            for status, description in COMMON_ERRORS.items():
                responses.setdefault(status, {"description": description})
            responses.setdefault("default", {"description": "Another error, in the same shape."})
            for status, response in responses.items():
                if (status == "default" or status.startswith(("4", "5"))) and not response.get("content"):
                    response["content"] = _error_content()
                _declare_headers(status, response)
    return result
