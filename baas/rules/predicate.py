"""Syntax tree → Python predicate over a document dict, and constant folding.

`to_predicate` compiles the tree once into nested closures (no interpretation per call), so a
realtime process can test every event against every subscription cheaply. The document is the API
shape: own fields at the top level (`id`, `owner`, `created_at`…), data fields under `data`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from baas.rules import values
from baas.rules.ast import (
    MISSING,
    And,
    Auth,
    Compare,
    Const,
    Exists,
    Field,
    In,
    Node,
    Not,
    Now,
    Or,
    Own,
    Request,
    Size,
    StartsWith,
    children,
    freeze,
    walk,
)


class _Env:
    """What one evaluation sees: the document, its data, and the bound variables."""

    __slots__ = ("auth", "data", "doc", "now", "request")

    def __init__(self, doc: Mapping[str, Any], data: Any, auth: Any, request: Any, now: str) -> None:
        self.doc, self.data, self.auth, self.request, self.now = doc, data, auth, request, now


_Fn = Callable[[_Env], Any]


class Predicate(Protocol):
    def __call__(
        self,
        doc: Mapping[str, Any],
        *,
        auth: Mapping[str, Any] | None = None,
        request: Mapping[str, Any] | None = None,
        now: datetime | str | None = None,
    ) -> bool: ...


def to_predicate(node: Node, *, data_key: str = "data") -> Predicate:
    """Compile `node` to `pred(doc, *, auth=None, request=None, now=None) -> bool`.

    `auth` is the caller as a dict ({"id", "email", "role", "claims"}) or None when anonymous;
    `request` is {"data", "size", "content_type"} on writes; `now` defaults to the current time.
    """
    test = _compile(node)
    uses_now = any(isinstance(item, Now) for item in walk(node))

    def predicate(
        doc: Mapping[str, Any],
        *,
        auth: Mapping[str, Any] | None = None,
        request: Mapping[str, Any] | None = None,
        now: datetime | str | None = None,
    ) -> bool:
        data = doc.get(data_key, MISSING)
        moment = _canonical_now(now) if uses_now else ""
        return values.truthy(test(_Env(doc, data, auth, request, moment)))  # type: ignore[arg-type]

    return predicate


def _canonical_now(now: datetime | str | None) -> str:
    return values.canonical_timestamp(now if now is not None else datetime.now(UTC))  # type: ignore[return-value]


def matches(
    predicate: Predicate,
    doc: Mapping[str, Any] | None,
    *,
    auth: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
) -> bool:
    """Whether a document matches; None (no document: before a create, after a delete) never does.

    Realtime compares `matches(p, event.before)` with `matches(p, event.after)` to tell added,
    modified and removed apart.
    """
    if doc is None:
        return False
    return predicate(doc, auth=auth, request=request, now=now)


def _compile(node: Node) -> _Fn:
    match node:
        case Const(value=value):
            return lambda env: value
        case Field(path=path):
            return _field(path)
        case Own(name=name, kind="timestamp"):
            return lambda env: values.canonical_timestamp(env.doc.get(name))
        case Own(name=name):
            return lambda env: env.doc.get(name)
        case Auth(path=path):
            return lambda env: env.auth if not path else values.lookup(env.auth, path)
        case Request(path=path):
            return lambda env: values.lookup(env.request, path)
        case Now():
            return lambda env: env.now
    return _compile_operator(node)


def _field(path: tuple[str, ...]) -> _Fn:
    if len(path) == 1:
        key = path[0]
        # The common case, inlined: one key of the data object.
        return lambda env: env.data.get(key, MISSING) if isinstance(env.data, Mapping) else MISSING
    return lambda env: values.lookup(env.data, path)


def _compile_operator(node: Node) -> _Fn:
    match node:
        case Compare(op=op, left=left, right=Const(value=value)) if op in ("==", "!="):
            return _compare(op, _compile(left), _compile(Const(value)), value)
        case Compare(op=op, left=Const(value=value), right=right) if op in ("==", "!="):
            return _compare(op, _compile(right), _compile(Const(value)), value)
        case Compare(op=op, left=left, right=right):
            return _compare(op, _compile(left), _compile(right))
        case In(item=item, container=container):
            get_item, get_container = _compile(item), _compile(container)
            return lambda env: values.contains(get_container(env), get_item(env))
        case And(items=items):
            tests = tuple(_compile(item) for item in items)
            return lambda env: all(test(env) is True for test in tests)
        case Or(items=items):
            tests = tuple(_compile(item) for item in items)
            return lambda env: any(test(env) is True for test in tests)
        case Not(item=item):
            test = _compile(item)
            return lambda env: test(env) is not True
        case Exists(target=target):
            return _exists(target)
        case Size(item=item):
            get = _compile(item)
            return lambda env: values.size(get(env))
        case StartsWith(item=item, prefix=prefix):
            get_item, get_prefix = _compile(item), _compile(prefix)
            return lambda env: values.starts_with(get_item(env), get_prefix(env))
    raise TypeError(f"cannot compile {type(node).__name__}")


def _compare(op: str, left: _Fn, right: _Fn, constant: Any = MISSING) -> _Fn:
    if op in ("==", "!=") and constant is not MISSING:
        # Against a constant (the usual `field == "value"`), the kind test is chosen once, here.
        test = values.equal_to(constant)
        if op == "==":
            return lambda env: test(left(env))
        return lambda env: not test(left(env))
    if op == "==":
        return lambda env: values.equal(left(env), right(env))
    if op == "!=":
        return lambda env: not values.equal(left(env), right(env))
    if op in ("<", "<="):
        or_equal = op == "<="
        return lambda env: values.less(left(env), right(env), or_equal)
    or_equal = op == ">="
    return lambda env: values.less(right(env), left(env), or_equal)


def _exists(target: Node) -> _Fn:
    match target:
        case Field(path=path):
            return lambda env: values.lookup(env.data, path) is not MISSING
        case Auth(path=path):
            return lambda env: not path or values.lookup(env.auth, path) is not MISSING
        case Request(path=path):
            return lambda env: values.lookup(env.request, path) is not MISSING
        case Const(value=value):
            return lambda env: value is not MISSING
    raise TypeError(f"exists() of {type(target).__name__}")


# --- binding and folding ------------------------------------------------------------------------

_BOOLEAN_NODES = (Compare, In, And, Or, Not, Exists, StartsWith)
_EMPTY_ENV = _Env({}, MISSING, None, None, "")


def bind(
    node: Node,
    *,
    auth: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
) -> Node:
    """Replace `auth…`, `request…` and `now` by constants, then fold every constant sub-expression.

    Folding evaluates with the predicate's own code, so the SQL compiler never re-implements the
    semantics of two constants. What is left refers to the document only.
    """
    moment = values.canonical_timestamp(now if now is not None else datetime.now(UTC))
    env = _Env({}, MISSING, auth, request, moment)  # type: ignore[arg-type]
    return _fold(node, env)


def _fold(node: Node, env: _Env) -> Node:
    match node:
        case Auth() | Request() | Now():
            return Const(freeze(_compile(node)(env)), node.pos)
        case Exists(target=Auth() | Request() as target):
            return Const(_exists(target)(env), node.pos)
        case And(items=items) | Or(items=items):
            return _fold_logic(node, tuple(_fold(item, env) for item in items))
        case Not(item=item):
            inner = _fold(item, env)
            if isinstance(inner, Const):
                return Const(inner.value is not True, node.pos)
            return Not(inner, node.pos)
        case Compare(op=op, left=left, right=right):
            return _fold_if_constant(Compare(op, _fold(left, env), _fold(right, env), node.pos))
        case In(item=item, container=container):
            return _fold_if_constant(In(_fold(item, env), _fold(container, env), node.pos))
        case Size(item=item):
            return _fold_if_constant(Size(_fold(item, env), node.pos))
        case StartsWith(item=item, prefix=prefix):
            return _fold_if_constant(StartsWith(_fold(item, env), _fold(prefix, env), node.pos))
    return node


def _fold_if_constant(node: Node) -> Node:
    if all(isinstance(child, Const) for child in children(node)):
        return Const(freeze(_compile(node)(_EMPTY_ENV)), node.pos)
    return node


def _fold_logic(node: Node, items: tuple[Node, ...]) -> Node:
    is_and = isinstance(node, And)
    kept = []
    for item in items:
        if isinstance(item, Const):
            if (item.value is True) != is_and:  # false in an And, true in an Or: decides it
                return Const(not is_and, node.pos)
            continue  # true in an And, false in an Or: no effect
        kept.append(item)
    if not kept:
        return Const(is_and, node.pos)
    if len(kept) == 1 and isinstance(kept[0], _BOOLEAN_NODES):
        return kept[0]
    return (And if is_and else Or)(tuple(kept), node.pos)
