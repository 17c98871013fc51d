"""OpenAPI schemas of the documents API's bodies (documents/services.py builds them)."""

from __future__ import annotations

from baas.openapi import (
    BOOLEAN,
    INTEGER,
    JSON_OBJECT,
    STRING,
    TIMESTAMP,
    component,
    nullable,
    obj,
    page_of,
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
