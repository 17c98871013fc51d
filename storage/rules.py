"""Bucket rules: parsed once per text, checked per object (predicate) or per listing (SQL).

Objects are seen by the rules language with own fields `$path $owner $size $content_type
$created_at $updated_at`; bare names reach the object's user `metadata`. A missing rule denies
everyone but principals that bypass rules (service, staff, functions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db.models import Q

from baas.principals import Principal
from baas.rules.ast import OBJECT_FIELDS, Field, Node, Own, Request, walk
from baas.rules.errors import INVALID_RULE, RulesError
from baas.rules.predicate import Predicate, to_predicate
from baas.rules.sql import to_q
from baas.rules.validate import OPERATIONS, parse_rule

DATA_FIELD = "metadata"


@dataclass(frozen=True)
class CompiledRule:
    node: Node
    predicate: Predicate
    # What the rule reads besides `auth` and `now`: tells whether it can be decided before the
    # body of an upload has been read.
    uses_request: bool
    uses_object: bool


@lru_cache(maxsize=2048)
def compiled(text: str, operation: str) -> CompiledRule:
    """One rule text for one operation, parsed and compiled once per process."""
    node = parse_rule(text, operation, own_fields=OBJECT_FIELDS)  # type: ignore[arg-type]
    nodes = walk(node)
    return CompiledRule(
        node=node,
        predicate=to_predicate(node, data_key=DATA_FIELD),
        uses_request=any(isinstance(item, Request) for item in nodes),
        uses_object=any(isinstance(item, Own | Field) for item in nodes),
    )


def validate_rules(rules: Any) -> dict[str, str | None]:
    """The rules of a bucket as stored, or an error: `validation_error` for the shape,
    `invalid_rule` (with line, column and the operation) for an expression."""
    from baas.errors import ValidationFailed

    if rules is None:
        return {operation: None for operation in OPERATIONS}
    if not isinstance(rules, Mapping):
        raise ValidationFailed(
            details={"rules": [{"code": "invalid", "message": "rules must be an object of read/create/update/delete."}]}
        )
    unknown = sorted(set(rules) - set(OPERATIONS))
    if unknown:
        raise ValidationFailed(
            details={"rules": [{"code": "invalid", "message": f"unknown operations: {', '.join(unknown)}."}]}
        )
    out: dict[str, str | None] = {}
    for operation in OPERATIONS:
        text = rules.get(operation)
        if text is not None and not isinstance(text, str):
            raise ValidationFailed(
                details={"rules": {operation: [{"code": "invalid", "message": "a rule is a string or null."}]}}
            )
        if text is not None:
            try:
                compiled(text, operation)
            except RulesError as error:
                raise RulesError(
                    f"The {operation} rule is invalid: {error.message}",
                    code=INVALID_RULE,
                    line=error.line,
                    column=error.column,
                    operation=operation,
                ) from None
        out[operation] = text
    return out


def allows(
    rules: Mapping[str, Any],
    operation: str,
    *,
    principal: Principal,
    doc: Mapping[str, Any] | None,
    request: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Whether `principal` may do `operation` on the object `doc` (its rules shape)."""
    if principal.bypasses_rules:
        return True
    text = rules.get(operation)
    if not text:
        return False
    rule = compiled(text, operation)
    return rule.predicate(doc or {}, auth=principal.rules_context(), request=request, now=now)


def decidable_before_body(rules: Mapping[str, Any], operation: str) -> bool:
    """Whether the rule can be decided before an upload's body is read: it does not use
    `request…`, and on create it does not look at the object being created either."""
    text = rules.get(operation)
    if not text:
        return True
    rule = compiled(text, operation)
    return not rule.uses_request and not (operation == "create" and rule.uses_object)


def read_filter(rules: Mapping[str, Any], *, principal: Principal, now: datetime | None = None) -> Q | None:
    """The SQL filter of the read rule for a listing; None means no restriction."""
    if principal.bypasses_rules:
        return None
    text = rules.get("read")
    if not text:
        return Q(pk__in=[])
    return to_q(compiled(text, "read").node, data_field=DATA_FIELD, auth=principal.rules_context(), now=now)
