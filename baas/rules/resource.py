"""Rules of a resource: compile, cache, check one, filter many — the one API every app uses.

A kind of resource (documents of a collection, objects of a bucket, realtime channels) declares
its rules once as a `ResourceRules`: which operations it has, which `$` fields its records show,
where their user data sits, and what an operation without a rule means. Everything else is
shared: validating the rules a client saves, compiling each text once per process, checking one
record (`allows`), and restricting a listing inside the database (`read_filter`).

    COLLECTION_RULES = ResourceRules("collection", own_fields=DOCUMENT_FIELDS, own_columns={...})
    COLLECTION_RULES.validate(body["rules"])            # at save time; the dict to store
    COLLECTION_RULES.allows(rules, "update", principal=p, doc=before, request={"data": new})
    COLLECTION_RULES.read_filter(rules, principal=p, now=now)   # Q, or None for "everything"

Principals that bypass rules (service keys, staff, functions acting as the service) pass every
check. A rule that fails while being evaluated refuses: rules fail closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from baas.rules.ast import DOCUMENT_FIELDS, Field, Node, Own, OwnFields, Request, walk
from baas.rules.errors import INVALID_RULE, RulesError
from baas.rules.explain import Explanation, explain
from baas.rules.predicate import Predicate, to_predicate
from baas.rules.validate import OPERATIONS, parse_rule

if TYPE_CHECKING:
    from django.db.models import Q

logger = logging.getLogger("baas.rules")


class RulesPrincipal(Protocol):
    """What the rules need of a caller (baas.principals.Principal has it)."""

    @property
    def bypasses_rules(self) -> bool: ...

    def rules_context(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class CompiledRule:
    node: Node
    predicate: Predicate
    # What the rule reads besides `auth` and `now`: tells whether it can be decided before the
    # body of an upload has been read.
    uses_request: bool
    uses_record: bool


@dataclass(frozen=True, eq=False)
class ResourceRules:
    """How one kind of resource is governed by rules (see the module docstring)."""

    kind: str  # "collection", "bucket", "channel": names the resource in messages
    own_fields: OwnFields = DOCUMENT_FIELDS
    data_key: str = "data"  # where a record's user data sits in the shape the predicate sees
    operations: tuple[str, ...] = OPERATIONS
    # The rule language operation each of ours parses as (channels: join and broadcast → read).
    parse_as: Mapping[str, str] = field(default_factory=dict)
    # Own field → model column, for `read_filter`; None: the language's defaults.
    own_columns: Mapping[str, str] | None = None
    data_column: str = "data"
    # The text that governs an operation without a rule; None: only bypassing principals pass.
    default_rule: str | None = None
    # Extra checks of a parsed rule (raise RulesError), e.g. names only this kind knows.
    check: Callable[[Node], None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", lru_cache(maxsize=2048)(self._compile))

    # --- compile -------------------------------------------------------------------------------

    def parse(self, text: str, operation: str) -> Node:
        """Parse one rule; RulesError (400 `invalid_rule`, with line and column) on any problem."""
        node = parse_rule(text, self.parse_as.get(operation, operation), own_fields=self.own_fields)  # type: ignore[arg-type]
        if self.check is not None:
            self.check(node)
        return node

    def compiled(self, text: str, operation: str) -> CompiledRule:
        """One rule text for one operation, parsed and compiled once per process."""
        return self._cache(text, operation)  # type: ignore[attr-defined,no-any-return]

    def _compile(self, text: str, operation: str) -> CompiledRule:
        node = self.parse(text, operation)
        nodes = walk(node)
        return CompiledRule(
            node=node,
            predicate=to_predicate(node, data_key=self.data_key),
            uses_request=any(isinstance(item, Request) for item in nodes),
            uses_record=any(isinstance(item, Own | Field) for item in nodes),
        )

    def rule(self, rules: Mapping[str, Any] | None, operation: str) -> CompiledRule | None:
        """The compiled rule in force for `operation`, or None when nobody but bypassers passes."""
        text = (rules or {}).get(operation) or self.default_rule
        return self.compiled(text, operation) if text else None

    # --- validate ------------------------------------------------------------------------------

    def validate(self, rules: Any, *, field: str | None = "rules") -> dict[str, str | None]:
        """The rules as stored — every operation, absent ones None — or the error to answer.

        Shape mistakes are `validation_error` under `field` (None: the body itself holds the
        rules); an expression that does not parse is `invalid_rule` with line, column and the
        operation in `details`.
        """
        from baas.errors import ValidationFailed, field_error, refuse_unknown_fields

        if rules is None:
            return dict.fromkeys(self.operations)
        if not isinstance(rules, Mapping):
            message = f"{self.kind.capitalize()} rules are an object of {', '.join(self.operations)}."
            if field is None:
                raise ValidationFailed(message)
            raise field_error(field, "invalid_type", message)
        refuse_unknown_fields(rules, self.operations, prefix=field or "")
        checked: dict[str, str | None] = {}
        for operation in self.operations:
            text = rules.get(operation)
            name = f"{field}.{operation}" if field else operation
            if text is not None and not isinstance(text, str):
                raise field_error(name, "invalid_type", "A rule is a string or null.")
            if text is not None and not _is_valid_unicode(text):
                raise field_error(name, "lone_surrogate", "The rule holds invalid Unicode (a lone surrogate).")
            if text is not None:
                try:
                    self.compiled(text, operation)
                except RulesError as error:
                    raise RulesError(
                        f"The {operation} rule is invalid: {error.message}",
                        code=INVALID_RULE,
                        line=error.line,
                        column=error.column,
                        operation=operation,
                    ) from None
            checked[operation] = text
        return checked

    # --- check one, filter many ----------------------------------------------------------------

    def allows(
        self,
        rules: Mapping[str, Any] | None,
        operation: str,
        *,
        principal: RulesPrincipal,
        doc: Mapping[str, Any] | None,
        request: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Whether `principal` may do `operation` on the record `doc` (the shape rules see)."""
        if principal.bypasses_rules:
            return True
        compiled = self.rule(rules, operation)
        if compiled is None:
            return False
        try:
            return bool(compiled.predicate(doc or {}, auth=principal.rules_context(), request=request, now=now))
        except Exception:
            logger.warning("a %s %s rule could not be evaluated; refusing", self.kind, operation, exc_info=True)
            return False

    def explain(
        self,
        rules: Mapping[str, Any] | None,
        operation: str,
        *,
        principal: RulesPrincipal,
        doc: Mapping[str, Any] | None,
        request: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Explanation | None:
        """What `allows` would answer and the clause that decided it; None when no rule decided
        (the principal bypasses rules, or the operation has no rule and only bypassers pass)."""
        if principal.bypasses_rules:
            return None
        compiled = self.rule(rules, operation)
        if compiled is None:
            return None
        try:
            return explain(
                compiled.node,
                doc or {},
                auth=principal.rules_context(),
                request=request,
                now=now,
                data_key=self.data_key,
            )
        except Exception:
            # `allows` refuses a rule that fails while evaluated; so does the explanation.
            logger.warning("a %s %s rule could not be explained", self.kind, operation, exc_info=True)
            return Explanation(False, compiled.node)

    def read_predicate(self, rules: Mapping[str, Any] | None) -> Predicate | None:
        """The compiled read rule, for callers that test many records themselves (realtime)."""
        compiled = self.rule(rules, "read")
        return compiled.predicate if compiled else None

    def read_filter(
        self, rules: Mapping[str, Any] | None, *, principal: RulesPrincipal, now: datetime | None = None
    ) -> Q | None:
        """The read rule as a database filter for a listing; None means no restriction."""
        from django.db.models import Q

        from baas.rules.sql import to_q

        if principal.bypasses_rules:
            return None
        compiled = self.rule(rules, "read")
        if compiled is None:
            return Q(pk__in=[])
        return to_q(
            compiled.node,
            data_field=self.data_column,
            own_columns=dict(self.own_columns) if self.own_columns is not None else None,
            auth=principal.rules_context(),
            now=now,
        )

    def read_condition(self, rules: Mapping[str, Any] | None, *, principal: RulesPrincipal) -> Node | None:
        """The read rule's tree for a listing, for `baas.rules.sql.to_sql` (bind it with the caller's
        `auth`); None means no restriction, a constant false node that nothing may be read."""
        from baas.rules.ast import Const

        if principal.bypasses_rules:
            return None
        compiled = self.rule(rules, "read")
        return Const(False) if compiled is None else compiled.node

    def decidable_before_body(self, rules: Mapping[str, Any] | None, operation: str) -> bool:
        """Whether the rule can be decided before a body is read: it does not use `request…`,
        and on create it does not look at the record being created either."""
        compiled = self.rule(rules, operation)
        if compiled is None:
            return True
        return not compiled.uses_request and not (operation == "create" and compiled.uses_record)


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
