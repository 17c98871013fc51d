"""Collection rules, compiled once per collection version and applied per operation.

Read rules are filters: `read_q()` restricts list and count queries inside the database, and
`can()` checks a single document with the compiled predicate — the two compilations of one rule.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db.models import Q

from baas.errors import ValidationFailed
from baas.principals import Principal
from baas.rules.ast import DOCUMENT_FIELDS, Node
from baas.rules.predicate import to_predicate
from baas.rules.sql import to_q
from baas.rules.validate import OPERATIONS, parse_rule
from documents.models import Collection

OWN_COLUMNS = {
    "id": "key",
    "owner": "owner",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "version": "version",
}


def check_rules(rules: Any) -> dict[str, str | None]:
    """Validate a collection's rules at save time: each operation's expression must parse."""
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise ValidationFailed(details={"rules": [{"code": "invalid_type", "message": "rules must be an object."}]})
    unknown = set(rules) - set(OPERATIONS)
    if unknown:
        message = f"Unknown operation(s) {', '.join(sorted(unknown))}; rules cover {', '.join(OPERATIONS)}."
        raise ValidationFailed(details={"rules": [{"code": "invalid", "message": message}]})
    checked: dict[str, str | None] = {}
    for operation, text in rules.items():
        if text is None:
            checked[operation] = None
            continue
        if not isinstance(text, str):
            raise ValidationFailed(
                details={"rules": {operation: [{"code": "invalid_type", "message": "A rule is a string or null."}]}}
            )
        parse_rule(text, operation, own_fields=DOCUMENT_FIELDS)  # raises invalid_rule with the position
        checked[operation] = text
    return checked


@lru_cache(maxsize=2048)
def _compiled(text: str, operation: str) -> tuple[Node, Any]:
    node = parse_rule(text, operation, own_fields=DOCUMENT_FIELDS)
    return node, to_predicate(node)


def rule_of(collection: Collection, operation: str) -> tuple[Node, Any] | None:
    text = (collection.rules or {}).get(operation)
    return _compiled(text, operation) if text else None


def can(
    principal: Principal,
    collection: Collection,
    operation: str,
    doc: dict[str, Any] | None,
    *,
    now: datetime,
    request_data: dict[str, Any] | None = None,
) -> bool:
    """Whether the principal may perform `operation` on `doc` (the API shape of the document)."""
    if principal.bypasses_rules:
        return True
    compiled = rule_of(collection, operation)
    if compiled is None:
        return False
    _, predicate = compiled
    request = {"data": request_data} if request_data is not None else None
    return bool(predicate(doc or {}, auth=principal.rules_context(), request=request, now=now))


def read_q(principal: Principal, collection: Collection, *, now: datetime) -> Q | None:
    """The read rule as a filter for list/count queries; None when everything is readable."""
    if principal.bypasses_rules:
        return None
    compiled = rule_of(collection, "read")
    if compiled is None:
        return Q(pk__in=[])
    node, _ = compiled
    return to_q(node, own_columns=OWN_COLUMNS, auth=principal.rules_context(), now=now)
