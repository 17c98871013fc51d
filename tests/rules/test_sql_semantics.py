"""The SQL compiler follows the same semantics table, row by row, in the database."""

from __future__ import annotations

import pytest

from baas.rules import parse_filter, to_q
from tests.rules.semantics_table import ANONYMOUS_ROWS, NOW, ROWS, USER, document
from tests.rules_testapp.models import Record

pytestmark = pytest.mark.django_db


def _store(doc: dict) -> None:
    Record.objects.create(**doc)


@pytest.mark.parametrize(("text", "data", "holds"), ROWS)
def test_the_sql_follows_the_semantics_table(text: str, data: dict, holds: bool) -> None:
    _store(document(data))
    q = to_q(parse_filter(text), auth=USER, now=NOW)
    assert Record.objects.filter(q).exists() is holds
    assert Record.objects.exclude(q).exists() is not holds


@pytest.mark.parametrize(("text", "data", "holds"), ANONYMOUS_ROWS)
def test_in_sql_auth_fields_of_an_anonymous_caller_are_missing(text: str, data: dict, holds: bool) -> None:
    _store(document(data, owner=None))
    q = to_q(parse_filter(text), auth=None, now=NOW)
    assert Record.objects.filter(q).exists() is holds
    assert Record.objects.exclude(q).exists() is not holds
