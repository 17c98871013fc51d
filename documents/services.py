"""The document database's API for views, functions and other apps.

Writes follow one pattern: validate the input, lock the row (PostgreSQL; SQLite transactions are
already exclusive), check the caller's rule, write, and append the change to the event log as the
last statement of the transaction. Reads are re-exported from `documents.selectors`.
"""

from __future__ import annotations

import secrets
import string
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from baas import audit, events
from baas.errors import (
    ApiError,
    Conflict,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    refuse_unknown_fields,
    require_object,
)
from baas.principals import Principal
from baas.timestamps import rfc3339
from documents import indexes, lean, representations
from documents.errors import DocumentsCode
from documents.models import Collection, Document
from documents.ops import apply_ops, check_ops
from documents.rules import COLLECTION_RULES
from documents.selectors import (
    collection_named,
    count_documents,
    count_documents_checking_key,
    deny,
    get_document,
    get_document_checking_key,
    list_documents,
    list_documents_checking_key,
    missing_collection,
    refusal,
)
from documents.validation import (
    ANY_VERSION,
    VersionCondition,
    check_collection_name,
    check_data,
    check_document_id,
    check_schema,
    validate_against_schema,
)

__all__ = [
    "COLLECTIONS_TOPIC",
    "NotFound",
    "batch",
    "count_documents",
    "count_documents_checking_key",
    "create_collection",
    "create_document",
    "create_document_checking_key",
    "delete_collection",
    "delete_document",
    "get_document",
    "get_document_checking_key",
    "list_collections",
    "list_documents",
    "list_documents_checking_key",
    "read_rule_predicate",
    "set_document",
    "update_collection",
    "update_document",
]

_ID_ALPHABET = string.ascii_letters + string.digits
# Inside a batch, events are appended together at the end, so that the event log's lock is taken
# after every row lock of the batch (always in that order: no deadlock with single writes).
_pending_events: ContextVar[list[events.Change] | None] = ContextVar("pending_events", default=None)


# Random bytes below this (4 * 62 = 248) map onto the alphabet without bias.
_UNBIASED_BYTE_LIMIT = 256 - 256 % len(_ID_ALPHABET)


# The mapping as byte tables: bytes from the limit up are dropped, the rest become their character
# (both in C: bytes.translate; a Python loop over the bytes was a percent of a create).
_BIASED_BYTES = bytes(range(_UNBIASED_BYTE_LIMIT, 256))
_ID_CHARACTERS = bytes(ord(_ID_ALPHABET[byte % len(_ID_ALPHABET)]) for byte in range(256))


def new_document_id() -> str:
    """20 random letters and digits (about 119 bits), like Firestore's auto ids.

    One read of the system's random source per id (secrets.choice costs one per character)."""
    characters = b""
    while len(characters) < 20:
        characters += secrets.token_bytes(32).translate(_ID_CHARACTERS, _BIASED_BYTES)  # (deletes, then maps)
    return characters[:20].decode("ascii")


def _change(
    found: Collection,
    kind: str,
    key: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    principal: Principal,
    causation: events.Causation | None,
) -> events.Change:
    return events.Change(f"db/{found.name}", kind, key, before, after, principal, causation)


def _emit(change: events.Change) -> None:
    pending = _pending_events.get()
    if pending is not None:
        pending.append(change)
    else:
        events.append(change)


def _row_doc(row: Document, collection: str) -> dict[str, Any]:
    return representations.document(
        {
            "key": row.key,
            "owner": row.owner,
            "data": row.data,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        },
        collection,
    )


def _can_read(principal: Principal, found: Collection, doc: dict[str, Any], now: datetime) -> bool:
    return COLLECTION_RULES.allows(found.rules, "read", principal=principal, doc=doc, now=now)


def _locked(found: Collection, doc_id: str) -> Document | None:
    return Document.objects.select_for_update().filter(collection=found, key=doc_id).first()


def _checked_data(found: Collection, data: Any) -> dict[str, Any]:
    data = check_data(data)
    validate_against_schema(found.schema, data)
    return data


def _check_version(
    row: Document | None,
    if_version: VersionCondition | None,
    doc_id: str,
    *,
    principal: Principal,
    found: Collection,
    now: datetime,
) -> None:
    """`if_version` (a batch op's) or `If-Match`: a version, a set of versions, or "*" (exists).

    Called once the caller's write rule has admitted the write; the current version is told only
    to a caller who may read the document (see "Existence of documents" in docs/documents.md)."""
    if if_version is None:
        return
    current = row.version if row is not None else None
    if isinstance(if_version, frozenset):
        passes, expected = current in if_version, sorted(if_version)
    elif if_version == ANY_VERSION:
        passes, expected = current is not None, ANY_VERSION
    else:
        passes, expected = current == if_version, if_version
    if passes:
        return
    if row is not None and not _can_read(principal, found, _row_doc(row, found.name), now):
        raise PreconditionFailed(
            f"Document {doc_id!r} is not at version {expected}; nothing was written.",
            details={"id": doc_id, "expected_version": expected},
        )
    raise PreconditionFailed(
        f"Document {doc_id!r} is at version {current}, not {expected}; nothing was written.",
        details={"id": doc_id, "expected_version": expected, "current_version": current},
    )


def _insert(
    found: Collection,
    *,
    principal: Principal,
    doc_id: str,
    data: dict[str, Any],
    now: datetime,
    causation: events.Causation | None,
) -> dict[str, Any]:
    owner, candidate = _allowed_new_document(found, principal=principal, doc_id=doc_id, data=data, now=now)
    return _insert_allowed(found, principal=principal, owner=owner, candidate=candidate, now=now, causation=causation)


def _insert_allowed(
    found: Collection,
    *,
    principal: Principal,
    owner: str | None,
    candidate: dict[str, Any],
    now: datetime,
    causation: events.Causation | None,
) -> dict[str, Any]:
    doc_id, data = candidate["id"], candidate["data"]
    # No savepoint: a conflict aborts the whole write (or batch) anyway, and saves a round trip.
    try:
        lean.insert_document(collection_id=found.pk, key=doc_id, owner=owner, data=data, now=now)
    except IntegrityError as error:
        raise _conflict(error, found, doc_id) from None
    _emit(_change(found, events.CREATED, doc_id, None, candidate, principal, causation))
    return candidate


def _allowed_new_document(
    found: Collection,
    *,
    principal: Principal,
    doc_id: str,
    data: dict[str, Any],
    now: datetime,
    denied_as: str = "create",
) -> tuple[str | None, dict[str, Any]]:
    """The owner and API shape of a document about to be created, once the create rule allows it."""
    owner = principal.id if principal.kind == "user" else None
    created_at = rfc3339(now)
    candidate = {
        "id": doc_id,
        "collection": found.name,
        "data": data,
        "owner": owner,
        "version": 1,
        "created_at": created_at,
        "updated_at": created_at,
    }
    if not COLLECTION_RULES.allows(
        found.rules, "create", principal=principal, doc=candidate, request={"data": data}, now=now
    ):
        raise deny(principal, denied_as, found.name)
    return owner, candidate


def _conflict(error: IntegrityError, found: Collection, doc_id: str) -> Conflict:
    """Which uniqueness a failed write broke, told from the database's message: the transaction
    is aborted, so no query may follow. PostgreSQL names the constraint, SQLite the columns."""
    text = str(error)
    if "documents_document_collection_key" in text or "documents_document.key" in text:
        return Conflict(f"A document with id {doc_id!r} exists already.", details={"id": doc_id})
    return Conflict("The document breaks a unique index of the collection.", details={"indexes": found.indexes})


def create_document(
    *,
    principal: Principal,
    collection: str,
    data: Any,
    doc_id: str | None = None,
    causation: events.Causation | None = None,
) -> dict[str, Any]:
    """Create a document (id chosen by the client or generated); 409 if the id exists."""
    if events.can_append_with_write() and isinstance(collection, str):
        created = _create_in_one_statement(
            principal=principal, collection=collection, data=data, doc_id=doc_id, causation=causation
        )
        if created is not None:
            return created
    found = collection_named(collection)
    doc_id = check_document_id(doc_id) if doc_id is not None else new_document_id()
    data = _checked_data(found, data)
    with transaction.atomic():
        return _insert(found, principal=principal, doc_id=doc_id, data=data, now=timezone.now(), causation=causation)


def create_document_checking_key(
    *, key_check: Any, collection: str, data: Any, doc_id: str | None
) -> dict[str, Any] | None:
    """`create_document` for a service key's or access token's pending check (auth.services
    `ServiceKeyCheck`, `AccessTokenCheck`) with the principal this process last found for it
    (`recalled()`, auth/remembered.py): the check runs inside the insert's statement, which writes
    only when the check's row still gives that principal — one round trip instead of two.

    None when that cannot decide, and the caller checks the credential on its own, then calls
    `create_document` (so every answer is the one that order gives): nothing remembered, not
    PostgreSQL, a collection this process has not seen, any error before the statement, or a
    statement that wrote nothing (the credential's row or the collection changed). A conflict
    (the id exists) is raised: the insert met both rows it expected."""
    known = key_check.recalled()
    if known is None or not events.can_append_with_write() or not isinstance(collection, str):
        return None
    found = lean.remembered_collection(collection)
    if found is None:
        return None
    principal = known.principal
    try:
        doc_id = check_document_id(doc_id) if doc_id is not None else new_document_id()
        data = _checked_data(found, data)
        now = timezone.now()
        owner, candidate = _allowed_new_document(found, principal=principal, doc_id=doc_id, data=data, now=now)
    except ApiError:
        return None
    sql, params = lean.insert_document_sql(
        collection=found,
        key=doc_id,
        owner=owner,
        data=data,
        now=now,
        credential_condition=(known.condition, known.params),
    )
    try:
        change = _change(found, events.CREATED, doc_id, None, candidate, principal, None)
        recorded = events.append_with_write(sql, params, change, prelude=known.cte, prelude_params=key_check.params)
    except IntegrityError as error:
        raise _conflict(error, found, doc_id) from None
    return candidate if recorded is not None else None


# How often a one-statement create re-reads a collection that keeps changing under it before it
# falls back to the transaction (which reads the collection inside it).
_CREATE_ATTEMPTS = 3


def _create_in_one_statement(
    *, principal: Principal, collection: str, data: Any, doc_id: str | None, causation: events.Causation | None = None
) -> dict[str, Any] | None:
    """The hot path of a create on PostgreSQL: the collection as this process knows it, and the
    insert with its event in one statement that re-checks the collection row (see
    `lean.insert_document_sql`). An answer reached with a remembered collection — an error, or a
    write refused because the collection changed — is confirmed with the stored one. None: the
    collection kept changing; the caller takes the transactional path."""
    found, remembered = lean.known_collection(collection)
    for _ in range(_CREATE_ATTEMPTS):
        try:
            created = _insert_in_one_statement(found, collection, principal, data, doc_id, causation)
        except Conflict:
            raise  # the insert met the collection row it expected: the remembered one is current
        except ApiError:
            if not remembered:
                raise
            created = None
        if created is not None:
            return created
        found, remembered = lean.fresh_collection(collection), False
    return None


def _insert_in_one_statement(
    found: Collection | None,
    collection: str,
    principal: Principal,
    data: Any,
    doc_id: str | None,
    causation: events.Causation | None,
) -> dict[str, Any] | None:
    if found is None:
        raise missing_collection(collection)
    doc_id = check_document_id(doc_id) if doc_id is not None else new_document_id()
    data = _checked_data(found, data)
    now = timezone.now()
    owner, candidate = _allowed_new_document(found, principal=principal, doc_id=doc_id, data=data, now=now)
    sql, params = lean.insert_document_sql(collection=found, key=doc_id, owner=owner, data=data, now=now)
    try:
        change = _change(found, events.CREATED, doc_id, None, candidate, principal, causation)
        recorded = events.append_with_write(sql, params, change)
    except IntegrityError as error:
        raise _conflict(error, found, doc_id) from None
    return candidate if recorded is not None else None


def set_document(
    *,
    principal: Principal,
    collection: str,
    doc_id: str,
    data: Any,
    if_version: VersionCondition | None = None,
    causation: events.Causation | None = None,
) -> tuple[dict[str, Any], bool]:
    """Replace a document's data, or create it when absent (and the create rule allows).

    Returns the document and whether it was created.
    """
    found = collection_named(collection)
    doc_id = check_document_id(doc_id)
    data = _checked_data(found, data)
    now = timezone.now()
    with transaction.atomic():
        row = _locked(found, doc_id)
        # The rule first, the version after: a caller the rules refuse gets the same refusal
        # ("write") whether the document exists or not.
        if row is None:
            owner, candidate = _allowed_new_document(
                found, principal=principal, doc_id=doc_id, data=data, now=now, denied_as="write"
            )
            _check_version(None, if_version, doc_id, principal=principal, found=found, now=now)
            doc = _insert_allowed(
                found, principal=principal, owner=owner, candidate=candidate, now=now, causation=causation
            )
            return doc, True
        before = _check_update_allowed(found, row, principal=principal, data=data, now=now, denied_as="write")
        _check_version(row, if_version, doc_id, principal=principal, found=found, now=now)
        return _rewrite(found, row, before, principal=principal, data=data, now=now, causation=causation), False


def update_document(
    *,
    principal: Principal,
    collection: str,
    doc_id: str,
    data: Any = None,
    ops: Any = None,
    if_version: VersionCondition | None = None,
    causation: events.Causation | None = None,
) -> dict[str, Any]:
    """Merge top-level keys of `data` into the document, then apply the atomic `ops`."""
    found = collection_named(collection)
    doc_id = check_document_id(doc_id)
    if data is not None:
        check_data(data)
    parsed_ops = check_ops(ops)
    if data is None and not parsed_ops:
        raise InvalidRequest("Give data to merge, ops to apply, or both.")
    now = timezone.now()
    with transaction.atomic():
        row = _locked(found, doc_id)
        if row is None:
            _missing(principal, found, doc_id, now, "update")
        try:
            merged = apply_ops({**row.data, **(data or {})}, parsed_ops, now=now)
        except ApiError:
            # The ops met the stored data: only a caller who may read it learns how.
            _deny_unless_readable(principal, found, row, now, "update")
            raise
        before = _check_update_allowed(found, row, principal=principal, data=merged, now=now, denied_as="update")
        _check_version(row, if_version, doc_id, principal=principal, found=found, now=now)
        merged = _checked_data(found, merged)
        return _rewrite(found, row, before, principal=principal, data=merged, now=now, causation=causation)


def _missing(principal: Principal, found: Collection, doc_id: str, now: datetime, operation: str) -> None:
    """A write to a document that does not exist: 404 if the caller could read a missing one,
    otherwise the refusal an existing document would give (`operation`)."""
    raise refusal(principal, found, doc_id, operation, now)


def _refuse(
    principal: Principal, found: Collection, before: dict[str, Any], now: datetime, operation: str
) -> Exception:
    """A refused write to an existing document: the plain refusal for a caller who may read it;
    for one who may not, the answer a missing document would get (see `selectors.refusal`)."""
    if _can_read(principal, found, before, now):
        return deny(principal, operation, found.name)
    return refusal(principal, found, before["id"], operation, now)


def _deny_unless_readable(
    principal: Principal, found: Collection, row: Document, now: datetime, operation: str
) -> None:
    before = _row_doc(row, found.name)
    if not _can_read(principal, found, before, now):
        raise refusal(principal, found, row.key, operation, now)


def _check_update_allowed(
    found: Collection, row: Document, *, principal: Principal, data: dict[str, Any], now: datetime, denied_as: str
) -> dict[str, Any]:
    """The document as it is (API shape), once the update rule admits `data` as its new content.

    PATCH ("update") is refused like a missing document would be; PUT ("write") always with the
    plain refusal, since a PUT of a missing document is a create that the create rule refuses."""
    before = _row_doc(row, found.name)
    if not COLLECTION_RULES.allows(
        found.rules, "update", principal=principal, doc=before, request={"data": data}, now=now
    ):
        if denied_as == "write":
            raise deny(principal, denied_as, found.name)
        raise _refuse(principal, found, before, now, denied_as)
    return before


def _rewrite(
    found: Collection,
    row: Document,
    before: dict[str, Any],
    *,
    principal: Principal,
    data: dict[str, Any],
    now: datetime,
    causation: events.Causation | None,
) -> dict[str, Any]:
    """Write the new data of a document whose update the rules have admitted."""
    row.data, row.version, row.updated_at = data, row.version + 1, now
    try:
        row.save(update_fields=["data", "version", "updated_at"])
    except IntegrityError as error:
        raise _conflict(error, found, row.key) from None
    after = _row_doc(row, found.name)
    _emit(_change(found, events.UPDATED, row.key, before, after, principal, causation))
    return after


def delete_document(
    *,
    principal: Principal,
    collection: str,
    doc_id: str,
    if_version: VersionCondition | None = None,
    causation: events.Causation | None = None,
) -> None:
    found = collection_named(collection)
    doc_id = check_document_id(doc_id)
    now = timezone.now()
    with transaction.atomic():
        row = _locked(found, doc_id)
        if row is None:
            _missing(principal, found, doc_id, now, "delete")
        before = _row_doc(row, found.name)
        if not COLLECTION_RULES.allows(found.rules, "delete", principal=principal, doc=before, now=now):
            raise _refuse(principal, found, before, now, "delete")
        _check_version(row, if_version, doc_id, principal=principal, found=found, now=now)
        row.delete()
        _emit(_change(found, events.DELETED, doc_id, before, None, principal, causation))


# --- batches ------------------------------------------------------------------------------------

BATCH_OPS = ("create", "set", "update", "delete")
BATCH_OP_FIELDS = ("op", "collection", "id", "data", "ops", "if_version")


@contextmanager
def _collecting_events():
    pending: list[dict[str, Any]] = []
    token = _pending_events.set(pending)
    try:
        yield pending
    finally:
        _pending_events.reset(token)


def batch(*, principal: Principal, ops: Any, causation: events.Causation | None = None) -> list[dict[str, Any]]:
    """Run writes all or nothing, in order. The first failure aborts the whole batch and is
    reported with its index; nothing is written."""
    if not isinstance(ops, list) or not ops:
        message = "ops must be a non-empty list."
        raise InvalidRequest(message, details={"ops": [{"code": DocumentsCode.REQUIRED, "message": message}]})
    limit = settings.BAAS_BATCH_MAX_OPS
    if len(ops) > limit:
        raise InvalidRequest(f"A batch holds at most {limit} ops; this one has {len(ops)}.", details={"limit": limit})
    results: list[dict[str, Any]] = []
    with transaction.atomic(), _collecting_events() as pending:
        for index, op in enumerate(ops):
            try:
                results.append(_batch_op(principal, op, index, causation))
            except ApiError as error:
                error.details = {"index": index, **error.details}
                error.message = f"Op {index} failed: {error.message} Nothing was written."
                raise
        for change in pending:
            events.append(change)
    return results


def _batch_op(principal: Principal, op: Any, index: int, causation: events.Causation | None) -> dict[str, Any]:
    op = require_object(op, what='Each op (such as {"op": "create", "collection": …})')
    refuse_unknown_fields(op, BATCH_OP_FIELDS, prefix=f"ops.{index}")
    kind, collection, doc_id = op.get("op"), op.get("collection"), op.get("id")
    if kind not in BATCH_OPS:
        raise InvalidRequest(f"op must be one of {', '.join(BATCH_OPS)}.")
    if not isinstance(collection, str):
        raise InvalidRequest("Each op needs a collection.")
    if_version = op.get("if_version")
    if if_version is not None and (isinstance(if_version, bool) or not isinstance(if_version, int)):
        raise InvalidRequest("if_version must be a whole number.")
    if kind != "create" and doc_id is None:
        raise InvalidRequest(f"A {kind} op needs an id.")
    common = {"principal": principal, "collection": collection, "causation": causation}
    if kind == "create":
        doc = create_document(**common, data=op.get("data"), doc_id=doc_id)
    elif kind == "set":
        doc, _ = set_document(**common, doc_id=doc_id, data=op.get("data"), if_version=if_version)
    elif kind == "update":
        doc = update_document(**common, doc_id=doc_id, data=op.get("data"), ops=op.get("ops"), if_version=if_version)
    else:
        delete_document(**common, doc_id=doc_id, if_version=if_version)
        return {"op": kind, "id": doc_id}
    return {"op": kind, "id": doc["id"], "doc": doc}


# --- collections --------------------------------------------------------------------------------
#
# Every write of a collection row goes through `_save_collection`, which moves `updated_at`: the
# one-statement create (`lean.insert_document_sql`) inserts only while the row's `updated_at` is
# the one it remembered, so a change that kept `updated_at` would go unnoticed by other processes
# (tests/documents/test_collection_changes_move_updated_at.py).

COLLECTION_FIELDS = ("name", "rules", "schema", "indexes")
COLLECTION_CHANGE_FIELDS = ("rules", "schema", "indexes")


def list_collections(*, after: str | None = None, limit: int | None = None) -> list[Collection]:
    """Collections by name, those after `after`, at most `limit` of them."""
    rows = Collection.objects.order_by("name")
    if after is not None:
        rows = rows.filter(name__gt=after)
    return list(rows if limit is None else rows[:limit])


def get_collection(*, name: str) -> Collection:
    return collection_named(name)


# Every change of a collection's definition (created, changed, deleted) enters the event log in the
# transaction that makes it, keyed by the collection's name, so that a reader keeping what it
# derived from a collection (realtime's read rules, realtime/tailer.py) drops it in log order:
# before any event committed after the change.
COLLECTIONS_TOPIC = "documents/collections"


def _announce_collection_change(name: str, kind: str, actor: Principal | None) -> None:
    """Inside the change's transaction, as late in it as possible (the log's lock is held to commit)."""
    events.append(events.Change(topic=COLLECTIONS_TOPIC, kind=kind, key=name, before=None, after=None, actor=actor))


def create_collection(
    *, name: Any, rules: Any = None, schema: Any = None, index_specs: Any = None, actor: Principal | None = None
) -> Collection:
    name = check_collection_name(name)
    checked_rules = COLLECTION_RULES.validate(rules, field="rules")
    checked_schema = check_schema(schema)
    specs = indexes.check_specs(index_specs)
    try:
        with transaction.atomic():
            found = Collection.objects.create(name=name, rules=checked_rules, schema=checked_schema, indexes=[])
            audit.record(
                actor=actor,
                action="collection.create",
                target=f"collection:{name}",
                after={"rules": checked_rules, "schema": checked_schema, "indexes": specs},
            )
            _announce_collection_change(name, events.CREATED, actor)
    except IntegrityError:
        raise Conflict(f"A collection named {name!r} exists already.", details={"name": name}) from None
    if specs:
        indexes.sync(found, [], specs)
        found.indexes = specs
        _save_collection(found)
    return found


def _audit_changes(found: Collection, before: dict[str, Any], actor: Principal | None) -> None:
    """One audit entry per changed part: rules, schema, and each index created or dropped."""
    target = f"collection:{found.name}"
    for part in ("rules", "schema"):
        if part in before and before[part] != getattr(found, part):
            after = getattr(found, part)
            audit.record(
                actor=actor, action=f"collection.{part}.update", target=target, before=before[part], after=after
            )
    if "indexes" in before:
        old, new = before["indexes"] or [], found.indexes or []
        for spec in new:
            if spec not in old:
                audit.record(actor=actor, action="collection.index.create", target=target, after=spec)
        for spec in old:
            if spec not in new:
                audit.record(actor=actor, action="collection.index.drop", target=target, before=spec)


def update_collection(*, name: str, changes: Any, actor: Principal | None = None) -> Collection:
    """Change a collection's rules, schema or indexes (each replaced whole when given)."""
    changes = require_object(changes)
    refuse_unknown_fields(changes, COLLECTION_CHANGE_FIELDS)
    found = collection_named(name)
    before = {part: getattr(found, part) for part in ("rules", "schema", "indexes") if part in changes}
    if "rules" in changes:
        found.rules = COLLECTION_RULES.validate(changes["rules"], field="rules")
    if "schema" in changes:
        found.schema = check_schema(changes["schema"])
    if "indexes" in changes:
        specs = indexes.check_specs(changes["indexes"])
        indexes.sync(found, found.indexes or [], specs)  # DDL first: a failure leaves the row unchanged
        found.indexes = specs
    with transaction.atomic():
        _save_collection(found)
        _audit_changes(found, before, actor)
        _announce_collection_change(found.name, events.UPDATED, actor)
    return found


def _save_collection(found: Collection) -> None:
    """Write a changed collection row; `updated_at` moves (auto_now), and a change made within the
    same clock tick still moves it forward, never back."""
    previous = found.updated_at
    found.save()
    if previous is not None and found.updated_at <= previous:
        found.updated_at = previous + timedelta(microseconds=1)
        Collection.objects.filter(pk=found.pk).update(updated_at=found.updated_at)


def delete_collection(*, name: str, actor: Principal | None = None) -> None:
    found = collection_named(name)
    indexes.sync(found, found.indexes or [], [])
    with transaction.atomic():
        before = {"rules": found.rules, "schema": found.schema, "indexes": found.indexes}
        found.delete()
        audit.record(actor=actor, action="collection.delete", target=f"collection:{name}", before=before)
        _announce_collection_change(name, events.DELETED, actor)


def read_rule_predicate(*, collection: str) -> Any:
    """The compiled read rule of a collection for realtime fan-out: a predicate
    `(doc, *, auth, now) -> bool`, or None when only the service role and staff may read.
    Raises NotFound when the collection does not exist."""
    return COLLECTION_RULES.read_predicate(collection_named(collection).rules)
