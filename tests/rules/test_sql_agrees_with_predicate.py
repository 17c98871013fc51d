"""The property the whole design rests on: SQL and predicate accept exactly the same documents.

Random documents go into the test model's table; random expressions are printed, parsed back
(so the parser is exercised too), and compiled both ways. Runs on whichever database
DATABASE_URL selects: CI runs it on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baas import jsonvalues
from baas.errors import ValidationFailed
from baas.rules.ast import Const
from baas.rules.errors import RulesError
from baas.rules.parser import parse
from baas.rules.predicate import to_predicate
from baas.rules.sql import to_q
from baas.rules.unparse import unparse
from documents.validation import check_data
from tests.rules import strategies
from tests.rules_testapp.models import Record

pytestmark = pytest.mark.django_db


def _insert(docs: list[dict]) -> None:
    Record.objects.bulk_create(
        Record(
            id=doc["id"],
            owner=doc["owner"],
            data=doc["data"],
            version=doc["version"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )
        for doc in docs
    )


def _storable(docs: list[dict]) -> list[dict]:
    """The documents the write path accepts: the policy of baas.jsonvalues, applied by check_data."""
    kept = []
    for doc in docs:
        try:
            check_data(doc["data"])
        except ValidationFailed:
            assert not jsonvalues.acceptable(doc["data"]), doc["data"]
        else:
            assert jsonvalues.acceptable(doc["data"]), doc["data"]
            kept.append(doc)
    return kept


def _literals(node: object) -> list[object]:
    """Every constant value in a tree."""
    if isinstance(node, Const):
        return [node.value]
    found: list[object] = []
    for field in dataclasses.fields(node):  # type: ignore[arg-type]
        child = getattr(node, field.name)
        for item in child if isinstance(child, tuple) else (child,):
            if dataclasses.is_dataclass(item):
                found += _literals(item)
    return found


def _check(docs: list[dict], expression, auth, now) -> None:  # type: ignore[no-untyped-def]
    text = unparse(expression)
    if not all(jsonvalues.acceptable(value) for value in _literals(expression)):
        # A value no document may hold is no literal either: refused, never compared.
        with pytest.raises(RulesError):
            parse(text)
        return
    node = parse(text)
    assert node == expression, text
    predicate = to_predicate(node)
    accepted = {doc["id"] for doc in docs if predicate(doc, auth=auth, now=now)}
    # The predicate also runs on documents as read back from the database (a get, an update, a
    # realtime event): they must be the values written (jsonb prints the double 1e30 as an integer).
    stored = Record.objects.values("id", "owner", "data", "version", "created_at", "updated_at")
    assert {doc["id"] for doc in stored if predicate(doc, auth=auth, now=now)} == accepted, text
    q = to_q(node, auth=auth, now=now)
    selected = set(Record.objects.filter(q).values_list("id", flat=True))
    assert selected == accepted, text
    # Negating the Q must select the complement: the SQL is two-valued (no NULL leaks through NOT).
    excluded = set(Record.objects.exclude(q).values_list("id", flat=True))
    assert excluded == {doc["id"] for doc in docs} - accepted, text


@settings(
    # RULES_EXAMPLES=5000 searches harder (minutes); the default keeps the suite fast.
    max_examples=int(os.environ.get("RULES_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    docs=strategies.document_sets(),
    expressions=st.lists(strategies.expressions, min_size=1, max_size=4),
    auth=st.sampled_from(strategies.AUTHS),
    now=strategies.instants,
)
def test_sql_selects_exactly_the_documents_the_predicate_accepts(docs, expressions, auth, now) -> None:  # type: ignore[no-untyped-def]
    # A savepoint per example: rows vanish afterwards, and a failing query cannot poison the rest.
    docs = _storable(docs)
    with transaction.atomic():
        _insert(docs)
        for expression in expressions:
            _check(docs, expression, auth, now)
        transaction.set_rollback(True)


def _doc(id_: str, owner: str | None, data: dict, created: datetime, updated: datetime) -> dict:
    return {"id": id_, "owner": owner, "data": data, "version": 1, "created_at": created, "updated_at": updated}


TYPICAL_DOCS = [
    _doc("d1", "u1", {"public": True, "tags": ["x"], "title": "long title"}, datetime(2024, 3, 2, tzinfo=UTC),
         datetime(2024, 3, 1, tzinfo=UTC)),
    _doc("d2", None, {"public": 1, "a": {"b": [1.0, [2, "x"]]}, "n": None}, datetime(2024, 2, 1, tzinfo=UTC),
         datetime(2024, 3, 1, 0, 0, 0, 5, tzinfo=UTC)),
    _doc("d3", "u2", {"a": 1, "title": "abc"}, datetime(2024, 4, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
]  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "public == true || $owner == auth.id",
        'tags contains "x" && size(title) > 3',
        '$created_at > "2024-03" && $created_at < now',
        'starts_with($updated_at, "2024-03-01T00:00:00.0000")',
        'a.b == [1, [2, "x"]]',
        "auth.claims.tags contains a || a in auth.claims.tags",
        "n == null && !exists(n)",
    ],
)
def test_typical_rules_agree(text: str) -> None:
    _insert(TYPICAL_DOCS)
    auth, now = strategies.AUTHS[2], datetime(2024, 3, 15, tzinfo=UTC)
    node = parse(text)
    predicate = to_predicate(node)
    accepted = {doc["id"] for doc in TYPICAL_DOCS if predicate(doc, auth=auth, now=now)}
    assert set(Record.objects.filter(to_q(node, auth=auth, now=now)).values_list("id", flat=True)) == accepted
