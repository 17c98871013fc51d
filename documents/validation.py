"""Checks on everything a client sends to the document database, before anything is written."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from django.conf import settings

from baas import conditional
from baas.errors import ValidationFailed, field_error
from baas.jsonvalues import number_problem, string_problem
from documents.errors import DocumentsCode

COLLECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Names that would collide with the routes under /v1/db/.
RESERVED_COLLECTION_NAMES = {"batch", "collections"}
DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
RESERVED_DOCUMENT_IDS = {"count"}
FIELD_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_KEY_LENGTH = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_collection_name(name: Any) -> str:
    if not isinstance(name, str) or not COLLECTION_NAME.match(name) or name in RESERVED_COLLECTION_NAMES:
        raise field_error(
            "name",
            DocumentsCode.INVALID,
            "A collection name is 1 to 63 lower-case letters, digits and '_', starting with a letter "
            f"(and not one of {', '.join(sorted(RESERVED_COLLECTION_NAMES))}).",
        )
    return name


def check_document_id(doc_id: Any) -> str:
    if (
        not isinstance(doc_id, str)
        or not DOCUMENT_ID.match(doc_id)
        or doc_id in RESERVED_DOCUMENT_IDS
        or doc_id in (".", "..")
    ):
        raise field_error(
            "id",
            DocumentsCode.INVALID,
            "A document id is 1 to 128 letters, digits, '_', '-' or '.', not starting with '.' or '-' "
            "(and not 'count').",
        )
    return doc_id


def check_data(data: Any, field: str = "data") -> dict[str, Any]:
    """A document's data: a JSON object within the size, depth and key limits."""
    if data is None:
        raise field_error(field, DocumentsCode.REQUIRED, f"{field} is required: a JSON object.")
    if not isinstance(data, dict):
        raise field_error(field, DocumentsCode.INVALID_TYPE, f"{field} must be a JSON object.")
    _check_value(data, depth=1, path="", field=field)
    size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
    limit = settings.BAAS_DOCUMENT_MAX_BYTES
    if size > limit:
        raise field_error(
            field, DocumentsCode.TOO_LARGE, f"The document is {size} bytes; the limit is {limit}.", limit=limit
        )
    return data


def _check_value(value: Any, *, depth: int, path: str, field: str) -> None:
    if depth > settings.BAAS_DOCUMENT_MAX_DEPTH:
        raise field_error(
            field,
            DocumentsCode.TOO_DEEP,
            f"Nesting deeper than {settings.BAAS_DOCUMENT_MAX_DEPTH} levels at {path or '/'}.",
            pointer=path or "/",
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                not isinstance(key, str)
                or not key
                or len(key) > MAX_KEY_LENGTH
                or _CONTROL.search(key)
                or string_problem(key)
            ):
                raise field_error(
                    field,
                    DocumentsCode.INVALID_KEY,
                    f"Keys are 1 to {MAX_KEY_LENGTH} characters without control characters or lone surrogates "
                    f"(at {path or '/'}).",
                    pointer=path or "/",
                )
            _check_value(item, depth=depth + 1, path=f"{path}/{_pointer_escape(key)}", field=field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, depth=depth + 1, path=f"{path}/{index}", field=field)
    else:
        _check_scalar(value, path=path, field=field)


def _check_scalar(value: Any, *, path: str, field: str) -> None:
    """The value policy of baas.jsonvalues for data that did not come through the JSON parser
    (functions' writes, the result of ops): refused values would make the databases and the
    rules compilers disagree (docs/documents.md, "Values")."""
    if isinstance(value, str):
        problem = string_problem(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        problem = number_problem(value)
    elif value is None or isinstance(value, bool):
        problem = None
    else:
        problem = ("not_json", f"a {type(value).__name__} is not a JSON value")
    if problem is not None:
        code, reason = problem
        raise field_error(field, code, f"Not accepted at {path or '/'}: {reason}.", pointer=path or "/")


def _pointer_escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def check_field_path(text: Any, field: str) -> tuple[str, ...]:
    """A dotted path to a data field, as used in `order` and `ops`: `score`, `author.name`."""
    if not isinstance(text, str) or not text:
        raise field_error(field, DocumentsCode.INVALID, "A field path is a non-empty string such as 'author.name'.")
    segments = tuple(text.split("."))
    if len(segments) > settings.BAAS_DOCUMENT_MAX_DEPTH or not all(FIELD_SEGMENT.match(s) for s in segments):
        raise field_error(
            field,
            DocumentsCode.INVALID,
            f"{text!r} is not a field path: use names of letters, digits and '_' joined by dots.",
        )
    return segments


def check_schema(schema: Any) -> dict[str, Any] | None:
    """A collection's JSON Schema, or None. Every `$ref` must point inside the schema itself: the
    server never fetches a remote reference (http, https, file, urn…), so one is refused here."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise field_error("schema", DocumentsCode.INVALID_TYPE, "schema must be a JSON Schema object or null.")
    try:
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator.check_schema(schema)
        _check_references(schema)
    except jsonschema.SchemaError as exc:
        raise field_error("schema", DocumentsCode.INVALID, f"Not a valid JSON Schema: {exc.message}") from None
    except RecursionError:
        raise field_error("schema", DocumentsCode.TOO_DEEP, "The schema is nested too deeply to check.") from None
    return schema


# Keywords whose values are data (instances), not subschemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def _refuse_retrieval(uri: str) -> referencing.Resource:
    # A registry's fallback for a URI it does not hold: never the network or the file system.
    raise referencing.exceptions.NoSuchResource(ref=uri)


def _local_registry() -> referencing.Registry:
    return referencing.Registry(retrieve=_refuse_retrieval)


def _check_references(schema: dict[str, Any]) -> None:
    """Resolve every reference of the schema with a registry that holds the schema alone (and the
    resources it embeds with `$id`): what does not resolve there is remote or dangling → 400."""
    specification = referencing.jsonschema.specification_with(
        schema.get("$schema", ""), default=referencing.jsonschema.DRAFT202012
    )
    root = specification.create_resource(schema)
    _walk_references(schema, _local_registry().resolver_with_root(root), specification, "")


def _walk_references(node: Any, resolver: Any, specification: Any, path: str) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk_references(item, resolver, specification, f"{path}/{index}")
        return
    if not isinstance(node, dict):
        return
    if isinstance(specification.id_of(node), str) and path:
        resolver = resolver.in_subresource(specification.create_resource(node))
    for keyword in _REFERENCE_KEYWORDS:
        reference = node.get(keyword)
        if isinstance(reference, str):
            _resolve_locally(resolver, reference, f"{path}/{_pointer_escape(keyword)}")
    for key, value in node.items():
        if key not in _DATA_KEYWORDS:
            _walk_references(value, resolver, specification, f"{path}/{_pointer_escape(key)}")


def _resolve_locally(resolver: Any, reference: str, pointer: str) -> None:
    try:
        resolver.lookup(reference)
    except referencing.exceptions.Unresolvable:
        if reference.startswith("#"):
            code, message = (
                DocumentsCode.UNRESOLVABLE_REF,
                f"The reference {reference!r} points nowhere inside the schema.",
            )
        else:
            code, message = (
                DocumentsCode.REMOTE_REF,
                f"The reference {reference!r} is not inside the schema: remote references are never fetched; "
                "put the definition under $defs and refer to it as '#/$defs/…'.",
            )
        raise field_error("schema", code, message, pointer=pointer) from None


# Validators are built once per schema (the key is the schema's canonical JSON), not per write.
_VALIDATOR_CACHE_SIZE = 256


@functools.lru_cache(maxsize=_VALIDATOR_CACHE_SIZE)
def _validator_for_text(schema_text: str) -> Any:
    schema = json.loads(schema_text)
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return validator_class(schema, registry=_local_registry())


def schema_validator(schema: dict[str, Any]) -> Any:
    """The validator of a collection schema, from the per-process cache."""
    return _validator_for_text(json.dumps(schema, sort_keys=True, separators=(",", ":")))


def validate_against_schema(schema: dict[str, Any] | None, data: dict[str, Any]) -> None:
    if not schema:
        return
    try:
        errors = sorted(schema_validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    except referencing.exceptions.Unresolvable as exc:
        # Only a schema saved before references were checked can get here: refuse, never fetch.
        raise ValidationFailed(
            "The collection's schema has a reference that is not inside it; an administrator must fix the schema.",
            details={"schema": [{"code": DocumentsCode.REMOTE_REF, "message": f"Cannot resolve {exc}."}]},
        ) from None
    if errors:
        details = [
            {"code": DocumentsCode.SCHEMA, "message": error.message, "pointer": _pointer(error.absolute_path)}
            for error in errors[:20]
        ]
        raise ValidationFailed("The document does not match the collection's schema.", details={"data": details})


def _pointer(path: Any) -> str:
    return "/" + "/".join(_pointer_escape(str(part)) for part in path) if path else "/"


# What an `If-Match` header demands of a document's version: any existing version ("*"), or one of
# a set of versions (empty when only weak or non-version tags were sent: nothing can match).
VersionCondition = int | frozenset[int] | str
ANY_VERSION = conditional.ANY
_VERSION_TAG = re.compile(r"^[1-9][0-9]{0,17}$")


def check_if_match(header: str | None) -> VersionCondition | None:
    """The versions an `If-Match` header accepts; None when there is none. Strong comparison
    (RFC 9110): `W/"3"` matches nothing, `"3", "4"` either version, `*` any existing document."""
    if header is None or header == "":
        return None
    opaque = conditional.strong_opaque_tags(header)
    if opaque is None:
        return ANY_VERSION
    return frozenset(int(tag) for tag in opaque if _VERSION_TAG.match(tag))
