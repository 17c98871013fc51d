"""Why a rule allowed or refused: the sub-expression that decided, with its position.

`explain` evaluates a rule's tree with the predicate's own code (so it cannot disagree with
`to_predicate`) and walks down to what decided the answer:

- a false `a && b` is decided by its first operand that is not true (and, inside it, by what
  decided that operand); a true one by the whole conjunction;
- a true `a || b` is decided by its first true operand; a false one by the whole disjunction;
- anything else (a comparison, `in`, `exists`, a negation…) decides for itself.

The console's rules simulator shows the deciding clause as text (`unparse`) and its position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from baas.rules import values
from baas.rules.ast import MISSING, And, Node, Or
from baas.rules.predicate import _canonical_now, _compile, _Env
from baas.rules.unparse import unparse


@dataclass(frozen=True)
class Explanation:
    """The rule's answer and the sub-expression that decided it."""

    allowed: bool
    deciding: Node

    @property
    def clause(self) -> str:
        """The deciding sub-expression as text (fully parenthesized)."""
        return unparse(self.deciding)

    @property
    def line(self) -> int | None:
        return self.deciding.pos.line if self.deciding.pos else None  # type: ignore[attr-defined]

    @property
    def column(self) -> int | None:
        return self.deciding.pos.column if self.deciding.pos else None  # type: ignore[attr-defined]


def explain(
    node: Node,
    doc: Mapping[str, Any],
    *,
    auth: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
    data_key: str = "data",
) -> Explanation:
    """Evaluate `node` against `doc` like `to_predicate(node)(doc, …)` and say what decided."""
    env = _Env(doc, doc.get(data_key, MISSING), auth, request, _canonical_now(now))
    return _explain(node, env)


def _holds(node: Node, env: _Env) -> bool:
    return values.truthy(_compile(node)(env))


def _explain(node: Node, env: _Env) -> Explanation:
    if isinstance(node, And):
        for item in node.items:
            if _compile(item)(env) is not True:
                return Explanation(False, _explain(item, env).deciding)
        return Explanation(True, node)
    if isinstance(node, Or):
        for item in node.items:
            if _compile(item)(env) is True:
                return Explanation(True, _explain(item, env).deciding)
        return Explanation(False, node)
    return Explanation(_holds(node, env), node)
