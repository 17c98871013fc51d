"""Every way an expression can be wrong is reported with a sentence and its position."""

from __future__ import annotations

import pytest

from baas.rules import INVALID_FILTER, INVALID_RULE, RulesError, parse_filter, parse_rule
from baas.rules.parser import parse

CASES = [
    # (text, words the message contains, line, column)
    ("title == ", "expected a value after '==' at column 10", 1, 10),
    ("public == true && $owner ==", "expected a value after '==' at column 28", 1, 28),
    ("a == == 1", "expected a value after '==' at column 6, found '=='", 1, 6),
    ("", "expected a value at column 1", 1, 1),
    ("   ", "expected a value at column 4", 1, 4),
    ("(a == 1", "expected ')' after '1' at column 8", 1, 8),
    ("a == 1)", "expected the end of the expression after '1' at column 7, found ')'", 1, 7),
    ("a == 1 b", "expected '&&', '||' or the end of the expression after '1' at column 8, found 'b'", 1, 8),
    ("a == b == c", "found '=='", 1, 8),
    ("a &&", "expected a value after '&&' at column 5", 1, 5),
    ("a in", "expected a value after 'in' at column 5", 1, 5),
    ("!", "expected a value after '!' at column 2", 1, 2),
    ("a.", "expected a field name after '.' at column 3", 1, 3),
    ("a.1 == 2", "expected a field name after '.' at column 3, found '1'", 1, 3),
    ("[1, 2", "expected ']' or ',' after '2' at column 6", 1, 6),
    ("x in [1, y]", "expected a literal", 1, 10),
    ("starts_with(a,)", "expected a value after ',' at column 15, found ')'", 1, 15),
    ("a == 1 &&\n  b ==", "expected a value after '==' at line 2, column 7", 2, 7),
    ("a = 1", "unexpected '=' at column 3; did you mean '=='?", 1, 3),
    ("a & b", "did you mean '&&'?", 1, 3),
    ("a | b", "did you mean '||'?", 1, 3),
    ("a == -", "unexpected character '-' at column 6", 1, 6),
    ("a == #", "unexpected character '#' at column 6", 1, 6),
    ("a == \x07", "unexpected character U+0007 at column 6", 1, 6),
    ('name == "abc', "unterminated string", 1, 9),
    ("name == 'it", "unterminated string", 1, 9),
    ('a == "x\ny"', "unterminated string", 1, 6),
    ('a == "x\\q"', "invalid escape '\\q' in a string at column 8", 1, 8),
    ('a == "\\u12"', "\\u needs four hex digits", 1, 7),
    ('a == "\\ud800"', "a lone surrogate", 1, 7),
    ('a == "\\u0000"', "cannot contain the NUL character", 1, 6),
    ("é == 1", "names may use only ASCII letters, digits and '_'", 1, 1),
    ("a.é == 1", "names may use only ASCII letters", 1, 3),
    ("$ == 1", "expected a field name after '$' at column 1", 1, 1),
    ("$nope == 1", "unknown field '$nope' (known: $id, $owner, $created_at, $updated_at, $version)", 1, 1),
    ("auth.nope == 1", "unknown name 'auth.nope'", 1, 6),
    ("auth.id.x == 1", "unknown name 'auth.id.x'", 1, 9),
    ("request == 1", "unknown name 'request'", 1, 1),
    ("request.body == 1", "unknown name 'request.body'", 1, 9),
    ("now.year == 1", "'now' has no fields", 1, 5),
    ("lower(name) == 'a'", "unknown function 'lower()' (use exists(), size() or starts_with())", 1, 1),
    ("size(a, b) == 1", "size() takes 1 argument, not 2", 1, 1),
    ("starts_with(a) ", "starts_with() takes 2 arguments, not 1", 1, 1),
    ("exists()", "exists() takes 1 argument, not 0", 1, 1),
    ("exists($id)", "exists() takes a data field, auth… or request…", 1, 8),
    ("exists(1)", "exists() takes a data field", 1, 8),
    ("a == 9007199254740993", "out of range (at most ±(2^53 - 1))", 1, 6),
    ("a == -9007199254740992", "out of range (at most ±(2^53 - 1))", 1, 6),
    ("a == 1e400", "the number 1e400 is out of range", 1, 6),
]


@pytest.mark.parametrize(("text", "words", "line", "column"), CASES)
def test_it_reports_what_is_wrong_and_where(text: str, words: str, line: int, column: int) -> None:
    with pytest.raises(RulesError) as caught:
        parse(text)
    error = caught.value
    assert words in error.message
    assert error.details == {"line": line, "column": column}
    assert (error.line, error.column) == (line, column)


def test_it_reports_the_column_of_a_missing_value() -> None:
    with pytest.raises(RulesError) as caught:
        parse_filter("price > 10 && ")
    assert caught.value.message == "expected a value after '&&' at column 15"


def test_errors_carry_the_api_error_attributes() -> None:
    with pytest.raises(RulesError) as caught:
        parse_filter("a ==")
    error = caught.value
    assert (error.code, error.http_status) == (INVALID_FILTER, 400)
    assert str(error) == error.message


def test_a_rule_error_has_the_rule_code() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rule("a ==", "read")
    assert caught.value.code == INVALID_RULE


def test_the_same_text_keeps_its_code_per_use_despite_the_parse_cache() -> None:
    for _ in range(2):
        with pytest.raises(RulesError) as as_filter:
            parse_filter("x ==")
        with pytest.raises(RulesError) as as_rule:
            parse_rule("x ==", "update")
        assert (as_filter.value.code, as_rule.value.code) == (INVALID_FILTER, INVALID_RULE)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(RulesError):
        parse(42)  # type: ignore[arg-type]
