"""Limits against abuse: length, nesting depth, list size; deep input never exhausts the stack."""

from __future__ import annotations

import pytest

from baas.rules import RulesError, parse_filter
from baas.rules.parser import MAX_DEPTH, MAX_LENGTH, MAX_LIST, parse


def test_it_refuses_an_expression_longer_than_the_limit_at_the_first_character_past_it() -> None:
    text = "a == " + '"' + "x" * MAX_LENGTH + '"'
    with pytest.raises(RulesError) as caught:
        parse(text)
    assert "the limit is 4096" in caught.value.message
    assert caught.value.details == {"line": 1, "column": MAX_LENGTH + 1}


def test_an_expression_at_the_length_limit_parses() -> None:
    text = 'a == "' + "x" * (MAX_LENGTH - 7) + '"'
    assert len(text) == MAX_LENGTH
    parse(text)


def test_the_length_limit_is_a_setting() -> None:
    with pytest.raises(RulesError):
        parse_filter("a == 1", max_length=5)
    parse_filter("a == 1", max_length=6)


def test_it_refuses_nesting_deeper_than_the_limit() -> None:
    text = "!" * MAX_DEPTH + "a"
    with pytest.raises(RulesError) as caught:
        parse(text)
    assert f"nests too deeply (the limit is {MAX_DEPTH} levels)" in caught.value.message
    assert caught.value.column == 1  # the outermost node is the one past the limit
    parse("!" * (MAX_DEPTH - 1) + "a")


def test_nested_lists_count_as_depth() -> None:
    with pytest.raises(RulesError) as caught:
        parse("a == " + "[" * 40 + "]" * 40)
    assert "nests too deeply" in caught.value.message


def test_a_long_flat_chain_of_conditions_is_not_deep() -> None:
    parse(" && ".join(f"a{i} == {i}" for i in range(150)))


def test_thousands_of_nested_parentheses_or_negations_never_recurse() -> None:
    # The LALR parser builds the tree bottom-up on its own stack: no RecursionError whatever the input.
    assert parse("(" * 2000 + "a == 1" + ")" * 2000) == parse("a == 1")
    with pytest.raises(RulesError):
        parse("!" * 4000)
    with pytest.raises(RulesError):
        parse("(" * 4000)


def test_parentheses_alone_do_not_add_depth() -> None:
    assert parse("(" * 100 + "a" + ")" * 100) == parse("a")


def test_it_refuses_a_list_longer_than_the_limit_at_its_bracket() -> None:
    items = ", ".join(str(i) for i in range(MAX_LIST + 1))
    with pytest.raises(RulesError) as caught:
        parse(f"x in [{items}]")
    assert f"the list has {MAX_LIST + 1} elements (the limit is {MAX_LIST})" in caught.value.message
    assert caught.value.column == 6
    parse("x in [" + ", ".join(str(i) for i in range(MAX_LIST)) + "]")


def test_the_depth_and_list_limits_are_settings() -> None:
    with pytest.raises(RulesError):
        parse_filter("x in [1, 2, 3]", max_list=2)
    with pytest.raises(RulesError):
        parse_filter("!!a", max_depth=2)
    parse_filter("!!a", max_depth=3)
