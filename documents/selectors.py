"""Reads of the document database, with the caller's read rule enforced."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.utils import timezone

from baas.errors import ApiError, InvalidRequest, NotAuthenticated, NotFound, PermissionDenied
from baas.pagination import STRING, decode_cursor, encode_cursor, parse_limit
from baas.principals import Principal
from baas.rules.ast import Node
from baas.rules.sql import to_q
from baas.rules.validate import parse_filter
from baas.timestamps import rfc3339
from documents import lean, ordering, representations
from documents.models import Collection, Document
from documents.rules import COLLECTION_RULES

if TYPE_CHECKING:
    from auth.services import AccessTokenCheck, ServiceKeyCheck


def collection_named(name: str) -> Collection:
    """The collection, or 404 for every caller (its existence is not a secret worth a 403)."""
    found = lean.collection_named(name) if isinstance(name, str) else None
    if found is None:
        raise missing_collection(name)
    return found


def missing_collection(name: str) -> NotFound:
    return NotFound(f"There is no collection named {name!r}.", details={"collection": name})


def deny(principal: Principal, operation: str, collection: str) -> Exception:
    if principal.is_anonymous:
        return NotAuthenticated(f"Sign in to {operation} documents in {collection!r}.")
    return PermissionDenied(f"The rules of {collection!r} do not let you {operation} this document.")


def refusal(principal: Principal, found: Collection, doc_id: str, operation: str, now: datetime) -> Exception:
    """What a caller who may not read a document is told — the same whether it exists or not: 404
    when the read rule admits them to an absent (empty) document, else the 401/403 refusal. So a
    content-dependent read rule (`data.hidden != true`) cannot tell a hidden document from none."""
    if COLLECTION_RULES.allows(found.rules, "read", principal=principal, doc=None, now=now):
        return NotFound(f"There is no document {doc_id!r} in {found.name!r}.", details={"id": doc_id})
    return deny(principal, operation, found.name)


def get_document(*, principal: Principal, collection: str, doc_id: str) -> dict[str, Any]:
    """One document. Like Firestore, the read rule is checked first (against the document, or an
    empty one when it does not exist), so a denied caller cannot probe which ids exist."""
    # One lean query on the hot path: the document together with its collection's rules.
    return _readable_document(principal, collection, doc_id, lean.document_with_collection(collection, doc_id))


def get_document_checking_key(
    *, key_check: ServiceKeyCheck | AccessTokenCheck, collection: str, doc_id: str
) -> dict[str, Any] | None:
    """`get_document` for a caller with a service key or an access token, whose check
    (`auth.services.ServiceKeyCheck`, `AccessTokenCheck`) runs in the document's statement: one
    round trip. None when the key is not an active one or the token's session not an open one."""
    key_row, hit = lean.key_and_document(key_check, collection, doc_id)
    if key_row is None:
        return None
    return _readable_document(key_check.principal(key_row), collection, doc_id, hit)


def _readable_document(
    principal: Principal, collection: str, doc_id: str, hit: lean.DocumentHit | None
) -> dict[str, Any]:
    if hit is None:
        found = collection_named(collection)
        doc = None
    else:
        doc, found = hit
    now = timezone.now()
    if not COLLECTION_RULES.allows(found.rules, "read", principal=principal, doc=doc, now=now):
        raise refusal(principal, found, doc_id, "read", now)
    if doc is None:
        raise NotFound(f"There is no document {doc_id!r} in {found.name!r}.", details={"id": doc_id})
    return doc


def readable(principal: Principal, found: Collection, filter_text: str | None, now: datetime) -> QuerySet:
    """The collection's documents this caller may read, narrowed by the client's filter."""
    rows = Document.objects.filter(collection=found)
    rule = COLLECTION_RULES.read_filter(found.rules, principal=principal, now=now)
    if rule is not None:
        rows = rows.filter(rule)
    if filter_text:
        node = parse_filter(filter_text, own_fields=COLLECTION_RULES.own_fields)
        own_columns = dict(COLLECTION_RULES.own_columns or {})
        rows = rows.filter(to_q(node, own_columns=own_columns, auth=principal.rules_context(), now=now))
    return rows


def list_documents(
    *,
    principal: Principal,
    collection: str,
    filter: str | None = None,
    order: str | None = None,
    limit: int | str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of documents `{items, next_cursor}`: read rule and filter applied in the database."""
    if isinstance(collection, str) and ordering.is_id_order(order):
        page = _with_known_collection(
            collection, lambda found: _id_ordered_page(principal, found, filter, limit, cursor)
        )
        if page is not _STALE:
            return page
    found = collection_named(collection)
    page_size = limit if isinstance(limit, int) else parse_limit(limit)
    keys = ordering.parse_order(order)
    rows = ordering.apply_order(readable(principal, found, filter, timezone.now()), keys)
    position = decode_cursor(cursor, [key.cursor_kind for key in keys])
    if position is not None:
        rows = rows.filter(ordering.after(keys, position))
    aliases = [key.alias for key in keys if key.annotated]
    fetched = list(rows.values(*representations.DOCUMENT_COLUMNS, *aliases)[: page_size + 1])
    more = len(fetched) > page_size
    fetched = fetched[:page_size]
    next_cursor = encode_cursor(ordering.position_of(fetched[-1], keys)) if more and fetched else None
    return {"items": [representations.document(row, found.name) for row in fetched], "next_cursor": next_cursor}


def count_documents(*, principal: Principal, collection: str, filter: str | None = None) -> int:
    if isinstance(collection, str):
        count = _with_known_collection(
            collection,
            lambda found: _answer_if_unchanged(
                found, lambda: lean.document_count(found, principal, _filter_node(filter), timezone.now())
            ),
        )
        if count is not _STALE:
            return int(count)
    found = collection_named(collection)
    return readable(principal, found, filter, timezone.now()).count()


# --- the console: rules checked as typed, simulated, and index build states ----------------------


def check_rule(*, operation: str, text: str) -> None:
    """Parse one rule as saving it would; raises RulesError (`invalid_rule`, with line and column)."""
    from baas.rules import RulesError
    from baas.rules.errors import INVALID_RULE

    if operation not in COLLECTION_RULES.operations:
        raise RulesError(f"There is no {operation!r} rule.", code=INVALID_RULE)
    COLLECTION_RULES.compiled(text, operation)


def index_states(*, collection: str) -> list[dict[str, Any]]:
    """The collection's declared indexes, each with its build state ("ready", "building", "missing")."""
    from documents.indexes import build_states

    return build_states(collection_named(collection))


def simulate_access(
    *,
    principal: Principal,
    collection: str,
    operation: str,
    subject: Principal,
    doc_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Whether `subject` may do `operation` to a document, and the clause of the rule that decided.

    The document is the stored one with id `doc_id` (read by `principal`, the operator), or for a
    create or without an id a new one holding `data` and owned by `subject`. On update `data` is
    merged into the stored data, as a PATCH would. Answer: {"allowed", "clause", "line", "column",
    "reason"}; `clause` is None when no rule decided (the subject bypasses rules, or there is no rule).
    """
    found = collection_named(collection)
    if operation not in COLLECTION_RULES.operations:
        raise InvalidRequest(f"operation is one of {', '.join(COLLECTION_RULES.operations)}.")
    now = timezone.now()
    stored = (
        get_document(principal=principal, collection=collection, doc_id=doc_id)
        if doc_id and operation != "create"
        else None
    )
    if operation == "update" and stored is None:
        raise InvalidRequest("An update is simulated against a stored document: give its id.")
    if stored is not None:
        doc = stored
    else:
        moment = rfc3339(now)
        owner = subject.id if subject.kind == "user" else None
        doc = {
            "id": doc_id or "(new)",
            "collection": found.name,
            "data": data or {},
            "owner": owner,
            "version": 1,
            "created_at": moment,
            "updated_at": moment,
        }
    request = None
    if operation == "create":
        request = {"data": data or {}}
    elif operation == "update":
        request = {"data": {**doc["data"], **(data or {})}}
    explanation = COLLECTION_RULES.explain(found.rules, operation, principal=subject, doc=doc, request=request, now=now)
    if explanation is None:
        allowed = COLLECTION_RULES.allows(found.rules, operation, principal=subject, doc=doc, request=request, now=now)
        reason = (
            "The service role, staff and functions are not bound by rules."
            if allowed
            else f"There is no {operation} rule: only the service role, staff and functions may {operation}."
        )
        return {"allowed": allowed, "clause": None, "line": None, "column": None, "reason": reason}
    verdict = "allowed" if explanation.allowed else "refused"
    return {
        "allowed": explanation.allowed,
        "clause": explanation.clause,
        "line": explanation.line,
        "column": explanation.column,
        "reason": f"The {operation} rule {verdict} it; this clause decided.",
    }


def document_totals() -> dict[str, int]:
    """How many collections and documents exist (for the console's overview; checks no rights)."""
    return {"collections": Collection.objects.count(), "documents": Document.objects.count()}


# --- the lean path of lists and counts (documents/lean.py): one prepared statement, compiled by
# the rules compiler's SQL dialect, against the collection as this process last saw it. That
# statement also checks that the collection row is unchanged; an answer that may come from an
# out-of-date collection (no rows, or an error) is confirmed against the stored one.

# Answers of the lean statement when it found the collection changed (or gone).
_STALE: Any = object()
# How often the lean path re-reads a collection that keeps changing under it before the caller
# takes the ORM's path (which reads the collection once, then queries).
_LEAN_ATTEMPTS = 3


def _with_known_collection(name: str, answer: Callable[[Collection], Any]) -> Any:
    """`answer(collection)` with the collection as this process knows it; an error or a _STALE
    answer reached with a remembered one is confirmed with the stored one. _STALE: it kept changing."""
    found, remembered = lean.known_collection(name)
    for _ in range(_LEAN_ATTEMPTS):
        if found is None:
            raise missing_collection(name)
        try:
            result = answer(found)
        except ApiError:
            if not remembered:
                raise
            result = _STALE  # perhaps only because the collection changed: ask the stored one
        if result is not _STALE:
            return result
        found, remembered = lean.fresh_collection(name), False
    return _STALE


def _answer_if_unchanged(found: Collection, run: Callable[[], Any]) -> Any:
    """The statement's answer, or _STALE when it may come from a changed collection: no row is
    also what the statement gives when the collection row is not the one it expected."""
    result = run()
    if result or _collection_unchanged(found):
        return result
    return _STALE


def _collection_unchanged(found: Collection) -> bool:
    stored = lean.fresh_collection(found.name)
    return stored is not None and stored.pk == found.pk and stored.updated_at == found.updated_at


def _filter_node(filter_text: str | None) -> Node | None:
    return parse_filter(filter_text, own_fields=COLLECTION_RULES.own_fields) if filter_text else None


def _id_ordered_page(
    principal: Principal, found: Collection, filter_text: str | None, limit: int | str | None, cursor: str | None
) -> Any:
    page_size, filter_node, after_key = _page_request(filter_text, limit, cursor)
    page = lean.page_statement(found, principal, filter_node, timezone.now(), after_key=after_key, limit=page_size + 1)
    fetched = _answer_if_unchanged(found, lambda: lean.document_page(page, found.name))
    return _STALE if fetched is _STALE else _page_of(fetched, page_size)


def _page_request(
    filter_text: str | None, limit: int | str | None, cursor: str | None
) -> tuple[int, Node | None, str | None]:
    """An id-ordered list's page size, filter and the id it starts after; ApiError for bad input."""
    page_size = limit if isinstance(limit, int) else parse_limit(limit)
    position = decode_cursor(cursor, [STRING])
    return page_size, _filter_node(filter_text), (position[0] if position is not None else None)


def _page_of(fetched: list[dict[str, Any]], page_size: int) -> dict[str, Any]:
    """The API's page of up to `page_size` documents, from a fetch of up to one more."""
    more = len(fetched) > page_size
    fetched = fetched[:page_size]
    next_cursor = encode_cursor([fetched[-1]["id"]]) if more and fetched else None
    return {"items": fetched, "next_cursor": next_cursor}


# --- lists and counts checking the caller's credential in their own statement: the principal this
# process last found for the credential (auth/remembered.py) reads the page, and the page is kept
# only when the credential's row, read in the same statement, still gives that principal.


def list_documents_checking_key(
    *,
    key_check: ServiceKeyCheck | AccessTokenCheck,
    collection: str,
    filter: str | None = None,
    order: str | None = None,
    limit: int | str | None = None,
    cursor: str | None = None,
) -> dict[str, Any] | None:
    """`list_documents` for a service key's or access token's pending check, in one round trip
    instead of two. None when that cannot decide — nothing remembered for the credential, an order
    other than by id, a collection this process has not seen, bad input, a refused or changed
    credential, an empty page from a collection that may have changed: the caller then checks the
    credential on its own and calls `list_documents`, so every answer is the one that order gives."""
    known = _remembered_caller(key_check, collection)
    if known is None or not ordering.is_id_order(order):
        return None
    principal, found = known
    try:
        page_size, filter_node, after_key = _page_request(filter, limit, cursor)
        page = lean.page_statement(
            found, principal, filter_node, timezone.now(), after_key=after_key, limit=page_size + 1
        )
        key_row, fetched = lean.key_and_page(key_check, page, found.name)
    except ApiError:
        return None
    if not _still_gives(key_check, key_row, principal) or (not fetched and not _collection_unchanged(found)):
        return None
    return _page_of(fetched, page_size)


def count_documents_checking_key(
    *, key_check: ServiceKeyCheck | AccessTokenCheck, collection: str, filter: str | None = None
) -> int | None:
    """`count_documents` as `list_documents_checking_key` lists: None when that cannot decide."""
    known = _remembered_caller(key_check, collection)
    if known is None:
        return None
    principal, found = known
    try:
        key_row, count = lean.key_and_count(key_check, found, principal, _filter_node(filter), timezone.now())
    except ApiError:
        return None
    if not _still_gives(key_check, key_row, principal) or (not count and not _collection_unchanged(found)):
        return None
    return count


def _remembered_caller(
    key_check: ServiceKeyCheck | AccessTokenCheck, collection: Any
) -> tuple[Principal, Collection] | None:
    """The principal this process last found for the credential and the collection as it last saw
    it (no query), or None when it knows either not."""
    known = key_check.recalled()
    if known is None or not isinstance(collection, str):
        return None
    found = lean.remembered_collection(collection)
    return None if found is None else (known.principal, found)


def _still_gives(
    key_check: ServiceKeyCheck | AccessTokenCheck, key_row: Sequence[Any] | None, principal: Principal
) -> bool:
    """Whether the credential's row, read with the answer, gives the principal the answer was
    read for (a disabled user's row raises TokenInvalid, as the credential's own check does)."""
    return key_row is not None and key_check.principal(key_row) is principal
