"""The syntax tree of the rules and filter language: small, immutable, hashable.

Every node carries its source position (`pos`, 1-based line and column) for error messages; the
position takes no part in equality, so two trees parsed from differently spaced text are equal.
Both compilers (`predicate.py`, `sql.py`) read only these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias


class _Missing:
    """The value of a field that is absent. It equals nothing (not even null); see values.equal."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

OwnKind: TypeAlias = Literal["string", "number", "timestamp"]


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every node; `pos` is where the node starts in the source text."""


@dataclass(frozen=True, slots=True)
class Const(Node):
    """A literal, or a value bound at compile time (`auth…`, `request…`, `now`).

    `value` is JSON-shaped: None, bool, int, float, str, tuple (a list) or a read-only mapping
    given as a tuple of (key, value) pairs wrapped in `FrozenDict`; or MISSING.
    """

    value: Any
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Field(Node):
    """A field of the document's data: `author.name` → ("author", "name")."""

    path: tuple[str, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Own(Node):
    """An own field of the document or object (`$id`, `$owner`, `$size`…) with its value kind."""

    name: str
    kind: OwnKind
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Auth(Node):
    """The caller: `auth` (path ()), `auth.id`, `auth.claims.admin` …"""

    path: tuple[str, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Request(Node):
    """The incoming request: `request.data.title`, `request.size`, `request.content_type`."""

    path: tuple[str, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Now(Node):
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Node
    right: Node
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class In(Node):
    """`item in container`; `container contains item` parses to the same node."""

    item: Node
    container: Node
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And(Node):
    items: tuple[Node, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or(Node):
    items: tuple[Node, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not(Node):
    item: Node
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Exists(Node):
    """`exists(f)`: f is a Field, Auth or Request reference."""

    target: Node
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Size(Node):
    item: Node
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StartsWith(Node):
    item: Node
    prefix: Node
    pos: Pos | None = field(default=None, compare=False, repr=False)


class FrozenDict(dict):
    """A read-only, hashable dict, so constants that are objects keep the tree hashable.

    A dict subclass, so every JSON helper still treats it as an object.
    """

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> tuple[type, tuple[dict]]:
        # Rebuild from a plain dict: the default protocol would call the disabled __setitem__.
        return (FrozenDict, (dict(self),))

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("FrozenDict is read-only")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _readonly  # type: ignore[assignment]


def freeze(value: Any) -> Any:
    """A JSON value made hashable: lists become tuples, dicts become FrozenDicts."""
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    if isinstance(value, dict):
        return FrozenDict((key, freeze(item)) for key, item in value.items())
    return value


@dataclass(frozen=True, slots=True)
class OwnFields:
    """The `$` fields a kind of record has, with their value kinds. Storage passes its own set."""

    kinds: tuple[tuple[str, OwnKind], ...]

    def kind_of(self, name: str) -> OwnKind | None:
        return dict(self.kinds).get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.kinds)


DOCUMENT_FIELDS = OwnFields(
    (
        ("id", "string"),
        ("owner", "string"),
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
        ("version", "number"),
    )
)

OBJECT_FIELDS = OwnFields(
    (
        ("path", "string"),
        ("owner", "string"),
        ("size", "number"),
        ("content_type", "string"),
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
    )
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, for walks that do not care about the kind."""
    match node:
        case Compare(left=left, right=right):
            return (left, right)
        case In(item=item, container=container):
            return (item, container)
        case And(items=items) | Or(items=items):
            return items
        case Not(item=item) | Size(item=item):
            return (item,)
        case Exists(target=target):
            return (target,)
        case StartsWith(item=item, prefix=prefix):
            return (item, prefix)
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children (iterative: trees are shallow, but be safe)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out
