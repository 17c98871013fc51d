"""OpenAPI schemas of the documents API's bodies (documents/services.py builds them)."""

from __future__ import annotations

from typing import Any

from baas.openapi import (
    BOOLEAN,
    INTEGER,
    JSON_OBJECT,
    STRING,
    TIMESTAMP,
    component,
    examples,
    header,
    nullable,
    obj,
    page_of,
    request_headers,
    rules_schema,
)

DOCUMENT = component(
    "Document",
    obj(
        id=STRING,
        collection=STRING,
        data=JSON_OBJECT,
        owner={**nullable(STRING), "description": "The creator's user id; null when created by a service or staff."},
        version={"type": "integer", "description": "Starts at 1, +1 per write; the ETag header quotes it."},
        created_at=TIMESTAMP,
        updated_at=TIMESTAMP,
    ),
)
DOCUMENT_PAGE = component("DocumentPage", page_of(DOCUMENT))
COUNT = component("DocumentCount", obj(count=INTEGER))

OPS = {
    "type": "object",
    "additionalProperties": JSON_OBJECT,
    "description": 'Atomic transforms per field, e.g. {"likes": {"increment": 1}, "tags": {"array_union": ["a"]}, '
    '"old": {"delete": true}, "seen_at": {"server_timestamp": true}}.',
}
DOCUMENT_CREATE = component("DocumentCreate", obj(required=["data"], data=JSON_OBJECT, id=STRING))
DOCUMENT_REPLACE = component("DocumentReplace", obj(required=["data"], data=JSON_OBJECT))
DOCUMENT_UPDATE = component("DocumentUpdate", obj(required=[], data=JSON_OBJECT, ops=OPS))

BATCH_OP = component(
    "BatchOp",
    obj(
        required=["op", "collection"],
        op={"type": "string", "enum": ["create", "set", "update", "delete"]},
        collection=STRING,
        id=STRING,
        data=JSON_OBJECT,
        ops=OPS,
        if_version=INTEGER,
    ),
)
BATCH = component("Batch", obj(ops={"type": "array", "items": BATCH_OP}))
BATCH_RESULT = component(
    "BatchResult",
    obj(
        required=["op", "id"],
        op={"type": "string", "enum": ["create", "set", "update", "delete"]},
        id=STRING,
        doc={**DOCUMENT, "description": "The document after the write (absent for delete)."},
    ),
)
BATCH_RESULTS = component("BatchResults", obj(results={"type": "array", "items": BATCH_RESULT}))

RULES = rules_schema("CollectionRules", "read", "create", "update", "delete")
INDEX = component(
    "CollectionIndex",
    obj(
        required=["fields"],
        fields={"type": "array", "items": STRING, "description": 'Fields, "-" for descending, e.g. "-$created_at".'},
        unique=BOOLEAN,
    ),
)
COLLECTION_FIELDS = {
    "rules": RULES,
    "schema": {**nullable(JSON_OBJECT), "description": "A JSON Schema every document's data must match."},
    "indexes": {"type": "array", "items": INDEX},
}
COLLECTION = component("Collection", obj(name=STRING, **COLLECTION_FIELDS, created_at=TIMESTAMP, updated_at=TIMESTAMP))
COLLECTION_PAGE = component("CollectionPage", page_of(COLLECTION))
COLLECTION_CREATE = component("CollectionCreate", obj(required=["name"], name=STRING, **COLLECTION_FIELDS))
COLLECTION_CHANGE = component("CollectionChange", obj(required=[], **COLLECTION_FIELDS))

# --- examples of the main operations --------------------------------------------------------------------
_OWNER = "0b6f2c1e-5d7a-4c1b-9a3e-2f8d6c4b1a90"
_NOTE: dict[str, Any] = {
    "id": "n1",
    "collection": "notes",
    "data": {"title": "Groceries", "done": False, "likes": 0},
    "owner": _OWNER,
    "version": 1,
    "created_at": "2026-01-05T10:00:00Z",
    "updated_at": "2026-01-05T10:00:00Z",
}
_LIKED = {**_NOTE, "data": {**_NOTE["data"], "likes": 1}, "version": 2, "updated_at": "2026-01-05T10:05:00Z"}
examples(
    "documents_create", request={"id": "n1", "data": {"title": "Groceries", "done": False, "likes": 0}}, r201=_NOTE
)
examples("documents_get", r200=_NOTE)
examples("documents_list", r200={"items": [_NOTE], "next_cursor": None})
examples(
    "documents_update",
    request={"data": {"done": False}, "ops": {"likes": {"increment": 1}}},
    r200=_LIKED,
)
_DONE = {**_NOTE, "data": {"title": "Groceries", "done": True}, "version": 2}
examples(
    "documents_replace",
    request={"data": {"title": "Groceries", "done": True}},
    r200=_DONE,
    r201={**_DONE, "id": "n3", "version": 1},
)
examples(
    "documents_batch",
    request={
        "ops": [
            {"op": "create", "collection": "notes", "id": "n2", "data": {"title": "Call Bob"}},
            {"op": "update", "collection": "notes", "id": "n1", "ops": {"likes": {"increment": 1}}, "if_version": 1},
            {"op": "set", "collection": "notes", "id": "n3", "data": {"title": "Pay rent", "done": True}},
        ]
    },
    r200={
        "results": [
            {"op": "create", "id": "n2", "doc": {**_NOTE, "id": "n2", "data": {"title": "Call Bob"}}},
            {"op": "update", "id": "n1", "doc": _LIKED},
            {"op": "set", "id": "n3", "doc": {**_NOTE, "id": "n3", "data": {"title": "Pay rent", "done": True}}},
        ]
    },
)

# --- request headers -------------------------------------------------------------------------------------
_IF_MATCH = header(
    "If-Match",
    'Write only if the document is at this version: its ETag (`"3"`), a list (`"3", "4"`), or `*` (it exists); '
    "else 412 `precondition_failed` with `details.expected_version`.",
    '"1"',
)
for _operation in ("documents_replace", "documents_update", "documents_delete"):
    request_headers(_operation, _IF_MATCH)

# --- examples of the other operations --------------------------------------------------------------------
examples("documents_count", r200={"count": 42})
_NOTES_RULES = {
    "read": "$owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}
_NOTES_SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}}}
_NOTES_INDEXES = [{"fields": ["done", "-$created_at"], "unique": False}]
_NOTES = {
    "name": "notes",
    "rules": _NOTES_RULES,
    "schema": _NOTES_SCHEMA,
    "indexes": _NOTES_INDEXES,
    "created_at": "2026-01-05T09:45:00Z",
    "updated_at": "2026-01-05T09:45:00Z",
}
examples("collections_list", r200={"items": [_NOTES], "next_cursor": None})
examples(
    "collections_create",
    request={"name": "notes", "rules": _NOTES_RULES, "schema": _NOTES_SCHEMA, "indexes": _NOTES_INDEXES},
    r201=_NOTES,
)
examples("collections_get", r200=_NOTES)
_PUBLIC_READ = {**_NOTES_RULES, "read": "auth != null"}
examples(
    "collections_update",
    request={"rules": _PUBLIC_READ},
    r200={**_NOTES, "rules": _PUBLIC_READ, "updated_at": "2026-01-06T14:00:00Z"},
)
