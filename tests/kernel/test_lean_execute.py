"""`lean_execute` (baas/dbbackend/base.py): a fixed statement straight on libpq must behave as the
same statement through Django's prepared cursor — the same parameters as the server sees them,
Django's errors, the query log — and survive a session that dropped its prepared statements."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext

from baas.rows import lean_rows, prepared_cursor

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

VALUES: list[Any] = [
    "text",
    "",
    "é ☃",
    None,
    True,
    False,
    7,
    70_000,
    2**40,
    -(2**62),
    uuid.UUID("6f1f7c52-5b6e-4c8e-9a51-4f3a2b1c0d9e"),
    datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC),
    Decimal("1.50"),
    2.5,
]


def _lean(sql: str, params: list[Any]) -> list[tuple[str | None, ...]]:
    return [tuple(None if v is None else v.decode() for v in row) for row in lean_rows(connection, sql, params)]


def _django(sql: str, params: list[Any]) -> list[tuple[str | None, ...]]:
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return [tuple(None if v is None else str(v) for v in row) for row in cursor.fetchall()]


def _outcome(run: Any, sql: str, params: list[Any]) -> Any:
    try:
        return run(sql, params)
    except Exception as error:  # (a parameter of unknown type has no pg_typeof: both refuse it)
        return type(error)


@pytest.mark.parametrize("value", [*VALUES, "json"], ids=repr)
def test_a_parameter_reaches_the_server_as_through_psycopg(value: Any) -> None:
    if value == "json":
        value = connection.ops.adapt_json_value({"a": [1, "é", None, 2.5]}, None)
    # The type the server gave the parameter, and its text as that type.
    for sql in ("SELECT pg_typeof(%s)::text, (%s)::text", "SELECT coalesce((%s)::text, 'null'), (%s IS NULL)::text"):
        assert _outcome(_lean, sql, [value, value]) == _outcome(_django, sql, [value, value])


def test_a_statement_the_session_dropped_is_prepared_again() -> None:
    assert _lean("SELECT %s + 1", [41]) == [("42",)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert _lean("SELECT %s + 1", [41]) == [("42",)]


def test_statements_the_session_dropped_in_part_are_prepared_again_under_new_names() -> None:
    # psycopg sends DEALLOCATE ALL when it clears its own cache (after a ROLLBACK, a DROP, an
    # ALTER): a statement prepared before it is gone, one prepared after it is not. Preparing the
    # lost one again must not take a name the session still has.
    assert _lean("SELECT %s + 1", [1]) == [("2",)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert _lean("SELECT %s + 2", [1]) == [("3",)]
    assert _lean("SELECT %s + 1", [1]) == [("2",)]  # lost: prepared again
    assert _lean("SELECT %s + 3", [1]) == [("4",)]  # a new one meets neither name
    assert _lean("SELECT %s + 2", [1]) == [("3",)]


def test_without_prepared_statements_nothing_is_prepared() -> None:
    connection.ensure_connection()
    psycopg_connection = connection.connection
    threshold = psycopg_connection.prepare_threshold
    psycopg_connection.prepare_threshold = None  # as DB_PREPARED_STATEMENTS=false leaves it
    try:
        assert _lean("SELECT %s || 'b', 'c%%'", ["a"]) == [("ab", "c%")]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%''c%%''%%'")
            assert cursor.fetchone() == (0,)
    finally:
        psycopg_connection.prepare_threshold = threshold


def test_errors_are_djangos_and_the_statement_is_logged() -> None:
    with CaptureQueriesContext(connection) as queries, pytest.raises(DataError):
        lean_rows(connection, "SELECT 1 / %s", [0])
    assert [query["sql"] for query in queries.captured_queries] == ["SELECT 1 / 0"]
    assert _lean("SELECT 1 / %s", [1]) == [("1",)]  # the connection is fine afterwards


def test_a_text_parameter_with_a_nul_is_refused_not_cut_short() -> None:
    # libpq reads a text parameter up to its first NUL: "a\x00b" would arrive as "a".
    for run in (_lean, _django):
        with pytest.raises(DataError):
            run("SELECT %s", ["a\x00b"])
