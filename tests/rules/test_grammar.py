"""What parses, and into which tree: precedence, names, literals, escapes."""

from __future__ import annotations

import pytest

from baas.rules import OBJECT_FIELDS, unparse
from baas.rules.ast import (
    And,
    Auth,
    Compare,
    Const,
    Exists,
    Field,
    In,
    Not,
    Now,
    Or,
    Own,
    Request,
    Size,
    StartsWith,
)
from baas.rules.parser import parse

a, b, c = Field(("a",)), Field(("b",)), Field(("c",))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a == 1", Compare("==", a, Const(1))),
        ("a&&b||c", Or((And((a, b)), c))),
        ("a || b && c", Or((a, And((b, c))))),
        ("(a || b) && c", And((Or((a, b)), c))),
        ("a && b && c", And((a, b, c))),
        ("!a == b", Compare("==", Not(a), b)),
        ("!(a == b)", Not(Compare("==", a, b))),
        ("!!a", Not(Not(a))),
        ("a in [1, 'x', [true, null]]", In(a, Const((1, "x", (True, None))))),
        ("tags contains 'x'", In(Const("x"), Field(("tags",)))),
        ("'x' in tags", In(Const("x"), Field(("tags",)))),
        ("x in []", In(Field(("x",)), Const(()))),
        ("author.name.first != null", Compare("!=", Field(("author", "name", "first")), Const(None))),
        ("$owner == auth.id", Compare("==", Own("owner", "string"), Auth(("id",)))),
        ("auth == null", Compare("==", Auth(()), Const(None))),
        ("auth.claims.admin", Auth(("claims", "admin"))),
        ("auth.claims.a.b", Auth(("claims", "a", "b"))),
        ("size(request.data.title) > 0", Compare(">", Size(Request(("data", "title"))), Const(0))),
        ("request.size < 1000", Compare("<", Request(("size",)), Const(1000))),
        ("$created_at < now", Compare("<", Own("created_at", "timestamp"), Now())),
        ("exists(a.b)", Exists(Field(("a", "b")))),
        ("exists(auth.claims.x)", Exists(Auth(("claims", "x")))),
        ("starts_with(name, 'ab')", StartsWith(Field(("name",)), Const("ab"))),
        ("size(size(a))", Size(Size(a))),
        ("(a == 1) == (b == 2)", Compare("==", Compare("==", a, Const(1)), Compare("==", b, Const(2)))),
        ("true", Const(True)),
        ("[1]", Const((1,))),
        ("a >= -2.5e3", Compare(">=", a, Const(-2500.0))),
        ("a <= 0", Compare("<=", a, Const(0))),
        ("a.in == a.true", Compare("==", Field(("a", "in")), Field(("a", "true")))),
        ("index == contents", Compare("==", Field(("index",)), Field(("contents",)))),
        ("True == Null", Compare("==", Field(("True",)), Field(("Null",)))),
        ("_x.y_1 == 1", Compare("==", Field(("_x", "y_1")), Const(1))),
        ("a\n==\t1", Compare("==", a, Const(1))),
    ],
)
def test_it_parses_into_the_expected_tree(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_numbers_keep_integers_apart_from_floats() -> None:
    assert type(parse("1").value) is int  # type: ignore[attr-defined]
    assert type(parse("1.0").value) is float  # type: ignore[attr-defined]
    assert parse("9007199254740991").value == 2**53 - 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'a\'b'", "a'b"),
        ("'a\"b'", 'a"b'),
        ('"a\'b"', "a'b"),
        (r'"\\ \/ \b \f \n \r \t"', "\\ / \b \f \n \r \t"),
        (r'"\u00e9\u00E9"', "éé"),
        (r'"\ud83d\ude00"', "😀"),
        ('"😀 日本 é"', "😀 日本 é"),
        ('""', ""),
    ],
)
def test_strings_take_json_escapes_and_either_quote(literal: str, value: str) -> None:
    assert parse(literal) == Const(value)


def test_own_fields_are_a_parameter_so_storage_has_its_own() -> None:
    assert parse("$size > 10", own_fields=OBJECT_FIELDS) == Compare(">", Own("size", "number"), Const(10))
    assert parse("$path == 'a'", own_fields=OBJECT_FIELDS).left == Own("path", "string")  # type: ignore[attr-defined]


def test_positions_are_kept_but_do_not_affect_equality() -> None:
    spaced = parse("   a   ==   1")
    assert spaced == parse("a == 1")
    assert (spaced.pos.line, spaced.pos.column) == (1, 4)  # type: ignore[union-attr]


def test_trees_are_hashable_and_printable_back() -> None:
    tree = parse("a in [1, [2]] && !exists(b) || starts_with($id, 'x') && size(auth.claims) > 1")
    assert hash(tree) == hash(parse(unparse(tree)))
    assert parse(unparse(tree)) == tree
