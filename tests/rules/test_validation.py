"""Where each variable may be used: filters never see `request`; rules see it on writes only."""

from __future__ import annotations

import subprocess
import sys

import pytest

from baas.rules import INVALID_FILTER, INVALID_RULE, OBJECT_FIELDS, OPERATIONS, RulesError, parse_filter, parse_rule


def test_a_filter_cannot_use_request() -> None:
    with pytest.raises(RulesError) as caught:
        parse_filter("a == 1 && request.data.a == 1")
    assert caught.value.code == INVALID_FILTER
    assert "a filter cannot use request" in caught.value.message
    assert caught.value.details == {"line": 1, "column": 11}


def test_a_filter_may_use_data_fields_own_fields_auth_and_now() -> None:
    parse_filter("title == 'x' && $owner == auth.id && $created_at < now && auth.claims.admin != true")


@pytest.mark.parametrize("operation", ["read", "delete"])
def test_rules_without_a_request_body_cannot_use_request(operation: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rule("auth != null && request.data.x == 1", operation)  # type: ignore[arg-type]
    assert caught.value.code == INVALID_RULE
    assert f"not in a {operation} rule" in caught.value.message
    assert caught.value.column == 17


@pytest.mark.parametrize("operation", ["create", "update"])
def test_create_and_update_rules_may_use_request(operation: str) -> None:
    parse_rule("size(request.data.title) > 0 && request.size < 100", operation)  # type: ignore[arg-type]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_accepts_a_plain_rule(operation: str) -> None:
    parse_rule("public == true || $owner == auth.id", operation)


def test_an_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        parse_rule("true", "list")  # type: ignore[arg-type]


def test_bucket_rules_use_the_object_fields() -> None:
    parse_rule("$size < 1000000 && starts_with($path, 'avatars/')", "read", own_fields=OBJECT_FIELDS)
    with pytest.raises(RulesError) as caught:
        parse_rule("$version == 1", "read", own_fields=OBJECT_FIELDS)
    assert "known: $path, $owner, $size, $content_type, $created_at, $updated_at" in caught.value.message


@pytest.mark.slow  # a fresh Python process
def test_parsing_and_predicates_need_no_django() -> None:
    # Realtime and functions evaluate rules outside requests: the kernel's language must not need Django.
    code = (
        "import sys, baas.rules as r\n"
        "p = r.to_predicate(r.parse_filter('a == 1 && $owner == auth.id'))\n"
        "assert p({'owner': 'u', 'data': {'a': 1}}, auth={'id': 'u'})\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
