"""The value policy itself (baas/jsonvalues.py): what is refused, where it is reported, and what
at the very edge of the policy is still accepted."""

from __future__ import annotations

import pytest

from baas import jsonvalues


@pytest.mark.parametrize(
    ("text", "problem", "pointer"),
    [
        ('{"a": "\\ud800"}', "lone_surrogate", "/a"),
        ('{"a": ["x", "\\udfff"]}', "lone_surrogate", "/a/1"),
        ('{"a": "\\ude00\\ud83d"}', "lone_surrogate", "/a"),  # a pair in the wrong order
        ('{"\\ud800": 1}', "lone_surrogate", "/\\ud800"),
        ('{"a/b~": "\\u0000"}', "nul_character", "/a~1b~0"),
        ('{"a\\u0000": true}', "nul_character", "/a\\u0000"),
        ("[9007199254740992]", "integer_out_of_range", "/0"),
        ("[-9007199254740992]", "integer_out_of_range", "/0"),
        ('{"n": ' + "9" * 400 + "}", "integer_out_of_range", "/n"),
        ('{"n": 1e400}', "number_out_of_range", "/n"),
        ('{"n": -1e309}', "number_out_of_range", "/n"),
        ('{"n": NaN}', "number_out_of_range", "/n"),
        ('{"n": [Infinity]}', "number_out_of_range", "/n/0"),
        (
            "[" * 65 + "]" * 65,
            "too_deep",
            "/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0",
        ),
        ("[" * 100_000 + "]" * 100_000, "too_deep", None),
        ('{"a": ', "invalid_json", None),
    ],
)
def test_it_refuses_what_a_store_cannot_represent(text: str, problem: str, pointer: str | None) -> None:
    with pytest.raises(jsonvalues.UnacceptableValue) as caught:
        jsonvalues.loads(text)
    error = caught.value
    assert error.problem == problem
    assert error.pointer == pointer
    assert error.http_status == 400
    if pointer is not None and text.startswith("{"):  # inside a member: that field's error
        assert error.code == "validation_error"
        field = pointer.split("/")[1].replace("~1", "/").replace("~0", "~")
        assert error.details[field][0] == {"code": problem, "message": error.reason, "pointer": pointer}
    else:
        assert error.code == "invalid_request"
        assert error.details["body"][0]["code"] == problem
    error.message.encode("utf-8")  # the answer can always be rendered


def test_numbers_past_any_parser_limit_are_out_of_range() -> None:
    with pytest.raises(jsonvalues.UnacceptableValue) as caught:
        jsonvalues.loads("[" + "1" * 5000 + "]")
    assert caught.value.problem == "integer_out_of_range"


def test_bytes_must_be_valid_utf8() -> None:
    for raw in (b'"\xed\xa0\x80"', b'"\xff"', b'"\xc0\x80"'):  # an encoded surrogate, junk, overlong NUL
        with pytest.raises(jsonvalues.UnacceptableValue) as caught:
            jsonvalues.loads(raw)
        assert caught.value.problem == "invalid_encoding"


def test_the_edges_of_the_policy_are_accepted() -> None:
    text = (
        '{"max": 9007199254740991, "min": -9007199254740991, "big": 1.7976931348623157e308, "tiny": 5e-324,'
        ' "zero": -0.0, "pair": "\\ud83d\\ude00", "emoji": "😀", "control": "\\u0001\\t", "deep": '
        + "[" * 63
        + "]" * 63
        + "}"
    )
    value = jsonvalues.loads(text)
    assert value["max"] == 2**53 - 1 and value["pair"] == "😀" and value["tiny"] == 5e-324
    assert jsonvalues.check(value) is value


def test_python_values_are_held_to_the_same_policy() -> None:
    assert jsonvalues.acceptable({"a": (1, 2.5, "x", None, True)})
    for bad in ({"a": 2**53}, {"a": float("nan")}, ["\x00"], {"\ud800": 1}, {1: "x"}, {"a": object()}, {"a": b"x"}):
        assert not jsonvalues.acceptable(bad), bad
    assert jsonvalues.number_problem(True) is None  # a boolean is not a number


def test_doubles_that_jsonb_prints_as_integers_read_back_as_doubles() -> None:
    """PostgreSQL prints the double 1e30 as 1000000000000000000000000000000 (baas.dbbackend)."""
    stored = '{"a": 1000000000000000000000000000000, "b": 9007199254740991, "c": "12345678901234567890"}'
    assert jsonvalues.stored_text('{"a": 1}') == '{"a": 1}'
    back = jsonvalues.loads(jsonvalues.stored_text(stored))
    assert back == {"a": 1e30, "b": 2**53 - 1, "c": "12345678901234567890"}
    assert type(back["a"]) is float and type(back["b"]) is int
