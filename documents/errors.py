"""The document database's own error codes.

Top-level codes (`validation_error`, `not_found`, `conflict`, `precondition_failed`,
`invalid_rule`, …) are the kernel's (`baas.errors.KernelCode`). These are the codes documents put
inside `details` of a 400 (`{field: [{code, message, pointer?}]}`); SDKs switch on them, so they
are stable and each is listed in docs/errors.md.
"""

from __future__ import annotations

from enum import StrEnum


class DocumentsCode(StrEnum):
    # A field that is missing.
    REQUIRED = "required"
    # A value of the wrong JSON type (data that is not an object, ops that are not an object, …).
    INVALID_TYPE = "invalid_type"
    # A value of the right type that breaks the format (a collection name, a document id, a field
    # path, an op, an index definition, a JSON Schema).
    INVALID = "invalid"
    # A document's data: a key that is empty, too long or holds control characters.
    INVALID_KEY = "invalid_key"
    # A document's data over BAAS_DOCUMENT_MAX_BYTES (`limit` in the entry).
    TOO_LARGE = "too_large"
    # Data nested deeper than BAAS_DOCUMENT_MAX_DEPTH, or a schema too deep to check.
    TOO_DEEP = "too_deep"
    # More ops in one PATCH than allowed.
    TOO_MANY = "too_many"
    # A violation of the collection's JSON Schema (`pointer` into the data).
    SCHEMA = "schema"
    # A schema `$ref` that is not inside the schema (never fetched) / that points nowhere in it.
    REMOTE_REF = "remote_ref"
    UNRESOLVABLE_REF = "unresolvable_ref"
