"""`explain`: the same answer as the predicate, and the clause that decided it, with its position."""

from __future__ import annotations

import pytest

from baas.rules import explain, parse_rule, to_predicate, unparse

ALICE = {"id": "u1", "email": "alice@example.com", "role": "user", "claims": {}}
DOC = {"id": "d1", "owner": "u1", "data": {"status": "open", "tags": ["a"]}, "version": 1}


def test_a_failed_conjunction_names_its_first_false_operand_and_where_it_is() -> None:
    rule = parse_rule('$owner == auth.id && data.status == "closed" && size(tags) > 0'.replace("data.", ""), "read")
    answer = explain(rule, DOC, auth=ALICE)
    assert answer.allowed is False
    assert answer.clause == '(status == "closed")'
    assert (answer.line, answer.column) == (1, 22)


def test_a_conjunction_that_holds_is_decided_by_all_of_it() -> None:
    rule = parse_rule('$owner == auth.id && status == "open"', "read")
    answer = explain(rule, DOC, auth=ALICE)
    assert answer.allowed is True
    assert answer.deciding == rule


def test_a_disjunction_that_holds_names_the_operand_that_let_the_caller_in() -> None:
    rule = parse_rule("auth.claims.admin == true ||\n  $owner == auth.id", "delete")
    answer = explain(rule, DOC, auth=ALICE)
    assert answer.allowed is True
    assert answer.clause == "($owner == auth.id)"
    assert (answer.line, answer.column) == (2, 3)


def test_a_refused_disjunction_is_decided_by_all_of_it() -> None:
    rule = parse_rule("auth.claims.admin == true || $owner == auth.id", "delete")
    answer = explain(rule, DOC, auth={**ALICE, "id": "u2"})
    assert answer.allowed is False
    assert answer.deciding == rule


def test_the_explanation_walks_into_a_nested_group() -> None:
    rule = parse_rule('status == "open" && (auth.claims.admin == true || $owner == auth.id)', "read")
    answer = explain(rule, DOC, auth=None)
    assert answer.allowed is False
    assert answer.clause == "((auth.claims.admin == true) || ($owner == auth.id))"


def test_a_create_rule_sees_the_request() -> None:
    rule = parse_rule('auth != null && request.data.title != ""', "create")
    answer = explain(rule, DOC, auth=ALICE, request={"data": {"title": ""}})
    assert answer.allowed is False
    assert answer.clause == '(request.data.title != "")'


@pytest.mark.parametrize(
    "text",
    [
        "true",
        "false",
        "auth != null",
        '$owner == auth.id && status == "open"',
        'status == "closed" || "a" in tags',
        '!(status == "open") && exists(tags)',
        'size(tags) >= 1 && starts_with(status, "op") || $version > 3',
    ],
)
@pytest.mark.parametrize("auth", [None, ALICE, {**ALICE, "id": "u2"}])
def test_the_answer_is_always_the_predicates(text: str, auth: dict | None) -> None:
    rule = parse_rule(text, "read")
    answer = explain(rule, DOC, auth=auth)
    assert answer.allowed is to_predicate(rule)(DOC, auth=auth)
    assert unparse(answer.deciding) == answer.clause
