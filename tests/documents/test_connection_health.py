"""The database connection's health check, run at most once per interval (baas/dbbackend)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dj_database_url
import psycopg
import pytest
from django.db.utils import ConnectionHandler

from baas.dbbackend.base import DatabaseWrapper

# Django's test guard blocks database access of every connection, this one's too, without the mark.
pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(postgres_url: str) -> Iterator[DatabaseWrapper]:
    """A connection of our PostgreSQL backend, as a web process holds one between requests. Its own
    connection (not the test database's), so it runs in the SQLite pass too — and a missing
    PostgreSQL fails under REQUIRE_SERVICES instead of hiding behind a skip."""
    config = dj_database_url.parse(postgres_url, conn_max_age=60, conn_health_checks=True)
    config["ENGINE"] = "baas.dbbackend"
    config = ConnectionHandler().configure_settings({"default": config})["default"]  # Django's defaults
    wrapper = DatabaseWrapper(config, alias="health")
    assert isinstance(wrapper, DatabaseWrapper) and wrapper.settings_dict["CONN_HEALTH_CHECKS"]
    yield wrapper
    wrapper.close()


def end_the_server_side_of(connection: DatabaseWrapper) -> None:
    """As a database restart does: the connection is gone, and this process does not know yet."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.05)


def next_request(connection: DatabaseWrapper) -> int:
    """What Django does between two requests, then a query of the new one."""
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def test_a_connection_unchecked_for_the_interval_is_checked_and_replaced(connection, settings):
    settings.BAAS_DB_HEALTH_CHECK_INTERVAL = 0.2
    assert next_request(connection) == 1
    end_the_server_side_of(connection)
    time.sleep(0.25)
    assert next_request(connection) == 1  # the check found the connection dead and opened a new one


def test_within_the_interval_a_live_connection_is_trusted_without_a_round_trip(connection, settings, monkeypatch):
    settings.BAAS_DB_HEALTH_CHECK_INTERVAL = 60
    assert next_request(connection) == 1
    round_trips = []
    real_is_usable = type(connection).is_usable
    monkeypatch.setattr(type(connection), "is_usable", lambda self: round_trips.append(1) or real_is_usable(self))
    for _ in range(3):
        assert next_request(connection) == 1
    assert round_trips == []


def test_within_the_interval_a_connection_the_server_closed_is_replaced(connection, settings):
    settings.BAAS_DB_HEALTH_CHECK_INTERVAL = 60
    assert next_request(connection) == 1
    end_the_server_side_of(connection)
    assert next_request(connection) == 1  # the socket poll saw the server's goodbye; no request fails


def test_interval_zero_checks_before_every_request(connection, settings):
    settings.BAAS_DB_HEALTH_CHECK_INTERVAL = 0
    assert next_request(connection) == 1
    end_the_server_side_of(connection)
    assert next_request(connection) == 1


def test_prepared_cursor_prepares_its_statement_once_per_connection_and_answers_as_a_plain_cursor(connection):
    statement = "SELECT %s::int + 1, now(), %s::jsonb"
    with connection.cursor() as cursor:
        cursor.execute(statement, [1, '{"a": [1, 2]}'])
        expected = cursor.fetchone()
    answers = []
    for number in (1, 2, 3):
        with connection.prepared_cursor() as cursor:
            cursor.execute(statement, [number, '{"a": [1, 2]}'])
            answers.append(cursor.fetchone())
    assert [answer[0] for answer in answers] == [2, 3, 4]
    assert all(answer[1].tzinfo is not None and answer[2] == expected[2] for answer in answers)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%$1::int + 1%"])
        assert len(cursor.fetchall()) == 1  # prepared once, run three times


def test_prepared_statements_can_be_turned_off_for_a_pooler(connection, settings):
    settings.BAAS_DB_PREPARED_STATEMENTS = False
    for number in (1, 2):
        with connection.prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int * 10", [number])
            assert cursor.fetchone() == (number * 10,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
