"""Django's PostgreSQL backend, with the connection health check's round trip run at most once per interval.

With `CONN_HEALTH_CHECKS`, Django sends `SELECT 1` on the first query of every request, so that a
persistent connection broken by a database restart is replaced instead of failing the request.
Under load that is one extra round trip per request: measured with bench/documents.py it cost
about a quarter of the server CPU of a document read (a round trip also hands the GIL to another
thread and back).

Here a connection that answered within the last `BAAS_DB_HEALTH_CHECK_INTERVAL` seconds gets a
cheaper check: a zero-timeout poll of its socket. A healthy idle connection has nothing to read;
one the server closed (a restart, `pg_terminate_backend`, a dropped proxy) reads as ready, with the
server's farewell or end-of-file, and then gets Django's full check and is replaced. What the poll
cannot see — a peer that vanished without closing, as in a network partition — is caught by the
full check once the interval has passed. Interval 0 gives Django's behaviour.
"""

from __future__ import annotations

import select
import time
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format
from psycopg.types.string import TextLoader

from baas import jsonvalues


class StoredJsonbLoader(TextLoader):
    """jsonb as text, with doubles that PostgreSQL prints as integers (1e30 →
    1000000000000000000000000000000) written back as doubles, so Python reads what was stored."""

    def load(self, data: Any) -> str:
        return jsonvalues.stored_text(super().load(data))


class PreparingCursor(base.ServerBindingCursor):
    """Parameters bound on the server, and every statement prepared on its first run.

    Django's cursors bind parameters on the client (psycopg's ClientCursor: each statement is
    quoted into a new SQL string in Python, then parsed and planned by PostgreSQL every time) and
    never prepare. A statement run on every request is cheaper prepared: the client only sends
    the parameters, and the server skips parsing and planning. psycopg keeps the prepared
    statements per connection (at most `prepared_max`, least recently used dropped).
    """

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, **options: Any) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, **options)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str | None:
        # Django reads a client-binding cursor's merged query; a prepared one has none to read, so
        # the query log (DEBUG, tests' CaptureQueriesContext) gets the statement merged here.
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except Exception:
                return sql
        return super().last_executed_query(cursor, sql, params)


# psycopg prepares a statement once it has run this many times on a connection. Django turns
# preparing off altogether (threshold None) to keep connection poolers working; a threshold no
# statement reaches turns it back on for the `prepared_cursor()` statements alone.
_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _checked_at: float | None = None

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if getattr(settings, "BAAS_DB_PREPARED_STATEMENTS", True) and params.get("prepare_threshold") is None:
            params["prepare_threshold"] = _PREPARE_ONLY_WHEN_ASKED
        return params

    def close_if_health_check_failed(self) -> None:
        if self._recently_answered() and not self._server_has_spoken():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
        if self.connection is not None and self.health_check_done:
            self._checked_at = time.monotonic()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        # jsonb reaches Django as text (its own TextLoader); this one also gives back doubles that
        # jsonb prints as long integers (baas.jsonvalues.stored_text), on this connection only.
        connection.adapters.register_loader("jsonb", StoredJsonbLoader)
        return connection

    def connect(self) -> None:
        super().connect()
        self._checked_at = time.monotonic()  # a new connection has just answered

    def prepared_cursor(self) -> Any:
        """A cursor like `cursor()` (health check, error wrapping, query logging) whose statements
        are bound on the server and prepared (unless `DB_PREPARED_STATEMENTS=false`, for a pooler
        that cannot keep them). Only for fixed statements run on every request: a server-side
        parameter cannot stand where PostgreSQL expects a literal (DDL, SET, NOTIFY)."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = PreparingCursor(self.connection)
            loader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)
            if self.timezone != loader.timezone:  # as create_cursor() does
                register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)

    def _recently_answered(self) -> bool:
        interval = getattr(settings, "BAAS_DB_HEALTH_CHECK_INTERVAL", 0)
        return (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self._checked_at is not None
            and time.monotonic() - self._checked_at < interval
        )

    def _server_has_spoken(self) -> bool:
        """Between requests nothing should arrive on the socket: anything there (a closing
        notice, end-of-file) means the full check must look."""
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except Exception:  # a closed or broken psycopg connection has no usable fd
            return True
        return bool(readable)
