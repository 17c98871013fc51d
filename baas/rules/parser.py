"""Text → syntax tree, with errors a person can act on and limits against abuse.

The grammar (grammar.lark) is LALR(1); lark builds the tree bottom-up through an embedded
transformer, so parsing never recurses and deeply nested input cannot exhaust the stack. The
transformer checks names, literals and limits as it goes, and raises `RulesError` at the position
of the problem. No Django here: realtime and functions evaluate rules outside requests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from baas.jsonvalues import MAX_SAFE_INTEGER
from baas.rules.ast import (
    DOCUMENT_FIELDS,
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
    OwnFields,
    Pos,
    Request,
    Size,
    StartsWith,
)
from baas.rules.errors import INVALID_FILTER, RulesError, where

GRAMMAR = (Path(__file__).with_name("grammar.lark")).read_text()

# After JSON decoding, a surrogate left in a str is a lone one: a websocket message can carry it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_LIST = 100
# Literals follow the value policy of stored data (baas.jsonvalues): integers within ±(2^53 - 1),
# since SQLite and JSON tooling hold larger ones as doubles and would compare them differently from
# Python; finite doubles; strings without NUL or lone surrogates. A value no document can hold is
# refused as a literal rather than compared.

AUTH_FIELDS = ("id", "email", "role")
REQUEST_FIELDS = ("size", "content_type")
FUNCTIONS = {"exists": 1, "size": 1, "starts_with": 2}
ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True, slots=True)
class Limits:
    max_length: int = MAX_LENGTH
    max_depth: int = MAX_DEPTH
    max_list: int = MAX_LIST


# Each callback returns (node, depth): depth is checked as the tree grows, so a too-deep
# expression fails at the first node past the limit.
Built = tuple[Node, int]


def _pos(token: Token) -> Pos:
    return Pos(token.line, token.column)  # type: ignore[arg-type]


class _Builder(Transformer):
    """Builds the syntax tree; holds only immutable configuration, so one instance serves all threads."""

    def __init__(self, own_fields: OwnFields, limits: Limits) -> None:
        super().__init__()
        self.own_fields = own_fields
        self.limits = limits

    def fail(self, message: str, pos: Pos | None) -> RulesError:
        line, column = (pos.line, pos.column) if pos else (1, 1)
        return RulesError(f"{message} at {where(line, column)}", line=line, column=column)

    def node(self, node: Node, *depths: int) -> Built:
        depth = 1 + max(depths, default=0)
        if depth > self.limits.max_depth:
            limit = self.limits.max_depth
            raise self.fail(f"the expression nests too deeply (the limit is {limit} levels)", node.pos)
        return node, depth

    # --- literals ---------------------------------------------------------------------------
    def string(self, children: list[Token]) -> Built:
        token = children[0]
        return self.node(Const(_unescape(token, self), _pos(token)))

    def number(self, children: list[Token]) -> Built:
        token = children[0]
        text = str(token)
        if any(c in text for c in ".eE"):
            value: float | int = float(text)
            if not math.isfinite(value):
                raise self.fail(f"the number {text} is out of range", _pos(token))
        else:
            value = int(text)
            if abs(value) > MAX_SAFE_INTEGER:
                raise self.fail(f"the integer {text} is out of range (at most ±(2^53 - 1))", _pos(token))
        return self.node(Const(value, _pos(token)))

    def true(self, children: list[Token]) -> Built:
        return self.node(Const(True, _pos(children[0])))

    def false(self, children: list[Token]) -> Built:
        return self.node(Const(False, _pos(children[0])))

    def null(self, children: list[Token]) -> Built:
        return self.node(Const(None, _pos(children[0])))

    def list(self, children: list[Any]) -> Built:
        bracket, elements = children[0], children[1:]
        if len(elements) > self.limits.max_list:
            raise self.fail(
                f"the list has {len(elements)} elements (the limit is {self.limits.max_list})", _pos(bracket)
            )
        value = tuple(node.value for node, _ in elements)  # type: ignore[attr-defined]
        return self.node(Const(value, _pos(bracket)), *(depth for _, depth in elements))

    # --- names ------------------------------------------------------------------------------
    def own(self, children: list[Token]) -> Built:
        token = children[0]
        name = str(token)[1:]
        kind = self.own_fields.kind_of(name)
        if kind is None:
            known = ", ".join(f"${n}" for n in self.own_fields.names)
            raise self.fail(f"unknown field '${name}' (known: {known})", _pos(token))
        return self.node(Own(name, kind, _pos(token)))

    def path(self, children: list[Token]) -> Built:
        head, rest = str(children[0]), tuple(str(t) for t in children[1:])
        pos = _pos(children[0])
        if head == "auth":
            return self.node(Auth(self._auth_path(rest, children), pos))
        if head == "request":
            return self.node(Request(self._request_path(rest, children), pos))
        if head == "now":
            if rest:
                raise self.fail("'now' has no fields", _pos(children[1]))
            return self.node(Now(pos))
        return self.node(Field((head, *rest), pos))

    def _auth_path(self, rest: tuple[str, ...], tokens: list[Token]) -> tuple[str, ...]:
        if not rest or (len(rest) == 1 and rest[0] in AUTH_FIELDS) or rest[0] == "claims":
            return rest
        bad = 1 if rest[0] not in AUTH_FIELDS else 2
        raise self.fail(
            f"unknown name '{'.'.join(('auth', *rest))}' (use auth, auth.id, auth.email, auth.role "
            "or auth.claims.<name>)",
            _pos(tokens[bad]),
        )

    def _request_path(self, rest: tuple[str, ...], tokens: list[Token]) -> tuple[str, ...]:
        if (rest and rest[0] == "data") or (len(rest) == 1 and rest[0] in REQUEST_FIELDS):
            return rest
        bad = tokens[1] if rest and rest[0] not in REQUEST_FIELDS else tokens[min(2, len(tokens) - 1)]
        raise self.fail(
            f"unknown name '{'.'.join(('request', *rest))}' (use request.data.<field>, request.size "
            "or request.content_type)",
            _pos(bad),
        )

    def call(self, children: list[Any]) -> Built:
        name_token, args = children[0], (children[2] if len(children) > 2 else [])
        name, pos = str(name_token), _pos(name_token)
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function '{name}()' (use exists(), size() or starts_with())", pos)
        if len(args) != FUNCTIONS[name]:
            wanted = FUNCTIONS[name]
            plural = "argument" if wanted == 1 else "arguments"
            raise self.fail(f"{name}() takes {wanted} {plural}, not {len(args)}", pos)
        nodes = [node for node, _ in args]
        depths = [depth for _, depth in args]
        if name == "exists":
            if not isinstance(nodes[0], Field | Auth | Request):
                raise self.fail(
                    "exists() takes a data field, auth… or request… (own $ fields always exist)", nodes[0].pos
                )
            return self.node(Exists(nodes[0], pos), *depths)
        if name == "size":
            return self.node(Size(nodes[0], pos), *depths)
        return self.node(StartsWith(nodes[0], nodes[1], pos), *depths)

    def args(self, children: list[Built]) -> list[Built]:
        return children

    # --- operators --------------------------------------------------------------------------
    def compare(self, children: list[Any]) -> Built:
        (left, dl), op, (right, dr) = children
        return self.node(Compare(str(op), left, right, left.pos), dl, dr)  # type: ignore[arg-type]

    def in_(self, children: list[Any]) -> Built:
        (item, di), _, (container, dc) = children
        return self.node(In(item, container, item.pos), di, dc)

    def contains(self, children: list[Any]) -> Built:
        (container, dc), _, (item, di) = children
        return self.node(In(item, container, container.pos), di, dc)

    def not_(self, children: list[Any]) -> Built:
        bang, (item, depth) = children
        return self.node(Not(item, _pos(bang)), depth)

    def and_expr(self, children: list[Built]) -> Built:
        return self.node(And(tuple(n for n, _ in children), children[0][0].pos), *(d for _, d in children))

    def or_expr(self, children: list[Built]) -> Built:
        return self.node(Or(tuple(n for n, _ in children), children[0][0].pos), *(d for _, d in children))

    def group(self, children: list[Any]) -> Built:
        return children[1]


def _unescape(token: Token, builder: _Builder) -> str:
    """The value of a string literal; JSON's escapes, either quote, no NUL, no lone surrogates."""
    body, out, i = str(token)[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape_pos = Pos(token.line, token.column + 1 + i)  # type: ignore[operator]
        code = body[i + 1]
        if code in ESCAPES:
            out.append(ESCAPES[code])
            i += 2
            continue
        if code != "u":
            raise builder.fail(f"invalid escape '\\{code}' in a string", escape_pos)
        value, i = _unicode_escape(body, i, escape_pos, builder)
        out.append(value)
    text = "".join(out)
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text or jsonb, so no document can hold one either.
        raise builder.fail("a string cannot contain the NUL character", _pos(token))
    return text


def _unicode_escape(body: str, i: int, pos: Pos, builder: _Builder) -> tuple[str, int]:
    def hex4(at: int) -> int | None:
        digits = body[at : at + 4]
        if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
            return int(digits, 16)
        return None

    first = hex4(i + 2)
    if first is None:
        raise builder.fail("invalid escape: \\u needs four hex digits", pos)
    if 0xD800 <= first < 0xDC00 and body[i + 6 : i + 8] == "\\u":
        second = hex4(i + 8)
        if second is not None and 0xDC00 <= second < 0xE000:
            return chr(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)), i + 12
    if 0xD800 <= first < 0xE000:
        raise builder.fail("invalid escape: a lone surrogate is not a character", pos)
    return chr(first), i + 6


@lru_cache(maxsize=16)
def _parser(own_fields: OwnFields, limits: Limits) -> Lark:
    return Lark(
        GRAMMAR,
        parser="lalr",
        lexer="contextual",
        transformer=_Builder(own_fields, limits),
        maybe_placeholders=False,
    )


def parse(
    text: str,
    *,
    own_fields: OwnFields = DOCUMENT_FIELDS,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
    max_list: int = MAX_LIST,
    code: str = INVALID_FILTER,
) -> Node:
    """Parse an expression. Raises RulesError (with `code`) on any problem, at its position."""
    try:
        return _parse(text, own_fields, Limits(max_length, max_depth, max_list))
    except RulesError as error:
        raise error.with_code(code) from None


@lru_cache(maxsize=2048)
def _parse(text: str, own_fields: OwnFields, limits: Limits) -> Node:
    # Cached: rules are parsed on every request and the tree is immutable.
    if not isinstance(text, str):
        raise RulesError("the expression must be a string")
    if len(text) > limits.max_length:
        line, column = _line_column(text, limits.max_length)
        raise RulesError(
            f"the expression is {len(text)} characters long (the limit is {limits.max_length}); "
            f"it goes past the limit at {where(line, column)}",
            line=line,
            column=column,
        )
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate is not None:
        # Refused before lexing: no error message may echo it (it cannot be encoded as UTF-8).
        line, column = _line_column(text, surrogate.start())
        at = where(line, column)
        raise RulesError(
            f"a lone surrogate U+{ord(surrogate.group()):04X} is not a character at {at}", line=line, column=column
        )
    try:
        node, _ = _parser(own_fields, limits).parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(text, error, own_fields, limits) from None
    return node


def _line_column(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


# --- syntax errors --------------------------------------------------------------------------

LITERAL_TERMINALS = {"STRING", "NUMBER", "TRUE", "FALSE", "NULL", "LSQB"}
VALUE_TERMINALS = {"STRING", "NUMBER", "TRUE", "FALSE", "NULL", "LSQB", "LPAR", "NAME", "OWN", "BANG"}
EXPECTED_WORDS = [
    (VALUE_TERMINALS, "a value"),
    ({"COMP_OP", "IN", "CONTAINS"}, "an operator (==, !=, <, <=, >, >=, in, contains)"),
    ({"_AND"}, "'&&'"),
    ({"_OR"}, "'||'"),
    ({"_RPAR"}, "')'"),
    ({"_RSQB"}, "']'"),
    ({"_COMMA"}, "','"),
    ({"_DOT"}, "'.'"),
    ({"$END"}, "the end of the expression"),
]
HINTS = {"=": "'=='", "&": "'&&'", "|": "'||'"}


def _syntax_error(text: str, error: UnexpectedInput, own_fields: OwnFields, limits: Limits) -> RulesError:
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        line, column = error.token.line, error.token.column
        found = f", found '{error.token}'"
        offset = error.token.start_pos
    elif isinstance(error, UnexpectedToken):
        offset = len(text.rstrip())
        line, column = _line_column(text, len(text))
        found = ""
    else:
        assert isinstance(error, UnexpectedCharacters)
        return _bad_character(text, error)
    # `accepts` replays the parser on each candidate token: more precise than the LALR table's guess.
    expected = _describe_expected(error.accepts or error.expected)  # type: ignore[union-attr]
    previous = _previous_token(text, offset, own_fields, limits)
    after = f" after '{previous}'" if previous is not None else ""
    return RulesError(
        f"expected {expected}{after} at {where(line, column)}{found}",  # type: ignore[arg-type]
        line=line,  # type: ignore[arg-type]
        column=column,  # type: ignore[arg-type]
    )


def _describe_expected(expected: set[str]) -> str:
    if expected == {"NAME"}:
        return "a field name"
    words = [word for terminals, word in EXPECTED_WORDS if expected & terminals]
    if expected & VALUE_TERMINALS and expected & VALUE_TERMINALS <= LITERAL_TERMINALS:
        words[0] = "a literal (a list holds only numbers, strings, true, false, null and lists)"
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _previous_token(text: str, offset: int, own_fields: OwnFields, limits: Limits) -> str | None:
    """The last token that ends before `offset` (re-lexed: lark's parser does not keep history)."""
    previous = None
    try:
        for token in _parser(own_fields, limits).lex(text[:offset]):
            previous = str(token)
    except UnexpectedInput:
        pass
    return previous


def _bad_character(text: str, error: UnexpectedCharacters) -> RulesError:
    char, line, column = error.char, error.line, error.column
    at = where(line, column)
    if char in "\"'":
        message = f"unterminated string (or a control character inside it) starting at {at}"
    elif char in HINTS:
        message = f"unexpected '{char}' at {at}; did you mean {HINTS[char]}?"
    elif char == "$":
        message = f"expected a field name after '$' at {at}"
    elif not char.isascii() and (char.isalnum() or char == "_"):
        message = f"unexpected character '{char}' at {at}: names may use only ASCII letters, digits and '_'"
    elif char.isprintable():
        message = f"unexpected character '{char}' at {at}"
    else:
        message = f"unexpected character U+{ord(char):04X} at {at}"
    return RulesError(message, line=line, column=column)
