"""User text reaches SQL only as bound parameters; names are checked identifiers or refused."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime

import pytest
from django.db.models import Q

from baas.rules import RulesError, parse_filter, parse_rule, to_q
from tests.rules_testapp.models import Record

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "' OR 1=1 --",
    '" OR ""="',
    "x'); DROP TABLE rules_testapp_record; --",
    "\\",
    "\\'",
    "%",
    "_",
    "a%",
    "$.a",
    "{a,b}",
    "'::jsonb",
    "a\u202eb",  # right-to-left override
    "a\u200db",  # zero-width joiner
    "\uff53\uff45\uff4c\uff45\uff43\uff54",  # "select" in fullwidth letters
    "\u0430",  # Cyrillic a
    "😀",
]


def _record(id_: str, data: dict, owner: str | None = None) -> Record:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    return Record.objects.create(id=id_, owner=owner, data=data, created_at=moment, updated_at=moment)


def _ids(q: Q) -> set[str]:
    return set(Record.objects.filter(q).values_list("id", flat=True))


def _string(value: str) -> str:
    """The value as a string literal of the language (JSON's escapes are the language's)."""
    return json.dumps(value)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_strings_with_sql_or_unicode_tricks_are_plain_data(payload: str) -> None:
    for i, value in enumerate([payload, payload + "x", "other", "a", "ab"]):
        _record(f"r{i}", {"s": value, "tags": [value]})
    literal = _string(payload)
    assert _ids(to_q(parse_filter(f"s == {literal}"))) == {"r0"}
    assert _ids(to_q(parse_filter(f"tags contains {literal}"))) == {"r0"}
    assert _ids(to_q(parse_filter(f"starts_with(s, {literal})"))) == {"r0", "r1"}
    assert Record.objects.count() == 5


@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_the_sql_text_never_contains_user_strings(payload: str) -> None:
    literal = _string(payload)
    query = Record.objects.filter(to_q(parse_filter(f"s == {literal} || starts_with(s, {literal})"))).query
    sql, params = query.sql_with_params()
    assert payload not in sql
    assert any(payload in str(p) for p in params)


def test_auth_values_are_plain_data_too() -> None:
    _record("mine", {}, owner="' OR 1=1 --")
    _record("theirs", {}, owner="u2")
    q = to_q(parse_rule("$owner == auth.id", "read"), auth={"id": "' OR 1=1 --"})
    assert _ids(q) == {"mine"}


@pytest.mark.parametrize(
    "text",
    [
        "a'b == 1",
        'a"b == 1',
        "a;b == 1",
        "a--b == 1",
        "a/*b*/ == 1",
        "a b == 1",
        "a[0] == 1",
        "a.'b' == 1",
        "$id' == 1",
        "${id} == 1",
        "\u0430 == 1",  # Cyrillic a as a name
        "\uff53 == 1",  # fullwidth s
        "a\u200d == 1",  # zero-width joiner
        "a\u202e == 1",  # right-to-left override
        "a\\b == 1",
        "data->>'a' == 1",
    ],
)
def test_field_names_with_quotes_sql_or_unicode_tricks_are_refused(text: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_filter(text)
    assert caught.value.details["column"] >= 1


def test_keys_that_no_name_can_reach_stay_out_of_reach() -> None:
    _record("dotted", {"a.b": 1})
    _record("nested", {"a": {"b": 1}})
    _record("quoted", {'a"b': 1, "a'b": 1, "é": 1})
    assert _ids(to_q(parse_filter("a.b == 1"))) == {"nested"}


def test_keys_spelled_like_sql_words_are_plain_keys() -> None:
    # Field paths are written into the SQL text (indexes match only constants); PostgreSQL's text[]
    # literal would read an unquoted NULL element as SQL NULL.
    _record("words", {"NULL": 1, "meta": {"NULL": 2, "select": 3, "null_": 4}})
    _record("other", {"meta": {"NULL": 0}})
    assert _ids(to_q(parse_filter("NULL == 1"))) == {"words"}
    assert _ids(to_q(parse_filter("meta.NULL == 2 && meta.select == 3 && meta.null_ == 4"))) == {"words"}
    assert _ids(to_q(parse_filter("meta.NULL > 1"))) == {"words"}
    assert _ids(to_q(parse_filter('meta.NULL < "x"'))) == set()


def test_denied_callers_cost_no_query(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    _record("r", {})
    q = to_q(parse_rule("auth != null && public == true", "read"), auth=None)
    with django_assert_num_queries(0):
        assert list(Record.objects.filter(q)) == []


def test_a_rule_that_always_holds_matches_every_row_and_negates_to_none() -> None:
    _record("r1", {})
    _record("r2", {})
    q = to_q(parse_rule("auth != null", "read"), auth={"id": "u1"})
    assert _ids(q) == {"r1", "r2"}
    assert set(Record.objects.exclude(q).values_list("id", flat=True)) == set()


def test_the_q_combines_with_other_filters_ordering_and_subqueries() -> None:
    for i in range(6):
        _record(f"r{i}", {"n": i, "tag": "x" if i % 2 else "y"}, owner="u1" if i < 3 else "u2")
    rule = to_q(parse_rule("$owner == auth.id || tag == 'x'", "read"), auth={"id": "u1"})
    mine = to_q(parse_filter("n >= 1"))
    rows = Record.objects.filter(rule).filter(mine).order_by("-id")
    assert list(rows.values_list("id", flat=True)) == ["r5", "r3", "r2", "r1"]
    assert Record.objects.filter(rule & mine).count() == 4
    assert _ids(rule | Q(id="r4")) == {"r0", "r1", "r2", "r3", "r4", "r5"}
    inner = Record.objects.filter(rule).values("pk")
    assert Record.objects.filter(pk__in=inner).exclude(mine).count() == 1


def test_own_columns_map_own_fields_to_model_fields() -> None:
    _record("u1", {}, owner="someone")
    _record("r2", {}, owner="u1")
    q = to_q(parse_filter("$owner == 'u1'"), own_columns={"owner": "id"})
    assert _ids(q) == {"u1"}


def test_the_q_survives_pickling_and_copying_like_any_django_q() -> None:
    _record("r1", {"k": {"a": [1]}}, owner="u1")
    _record("r2", {"k": {"a": [2]}}, owner="u2")
    auth = {"id": "u9", "claims": {"k": {"a": [1]}}}
    q = to_q(parse_rule("k == auth.claims.k || $owner == auth.id", "read"), auth=auth)
    rows = Record.objects.filter(q)
    assert hash(q.children[0]) == hash(copy.deepcopy(q.children[0]))
    restored = Record.objects.all()
    restored.query = pickle.loads(pickle.dumps(rows.query))
    assert set(restored.values_list("id", flat=True)) == {"r1"}
