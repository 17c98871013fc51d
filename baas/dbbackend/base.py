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

import re
import select
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import errors as pg_errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import execute as execute_generator
from psycopg.pq import ExecStatus, Format, TransactionStatus
from psycopg.types.json import Json, Jsonb
from psycopg.types.string import TextLoader

from baas import jsonvalues
from baas.rows import RawRow  # each column's text as PostgreSQL sends it (None: NULL)


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
    # `lean_execute`'s statements prepared on the current connection: (query, parameter types) → name.
    _lean_statements: dict[tuple[bytes, tuple[int, ...]], bytes] | None = None
    # Names given out on the current connection: never reused in a session, since one lost
    # statement (see `_lean_run`) does not mean the others are gone.
    _lean_names_given = 0

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
        self._lean_statements = {}  # a new session has none of them prepared
        self._lean_names_given = 0

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

    def lean_execute(self, sql: str, params: Sequence[Any]) -> list[RawRow]:
        """Run one fixed statement (Django's `%s` placeholders) and return its rows as raw text.

        What `prepared_cursor()` does — the health check, Django's error wrapping and broken
        transaction check, the query log when it is on (DEBUG, `CaptureQueriesContext`), the
        execute wrappers, prepared once per connection unless `DB_PREPARED_STATEMENTS=false` —
        straight on libpq: for a statement of twenty parameters Django's cursor layer and psycopg's
        cursor (query conversion, the adapters' lookups, the prepared-statement cache, the result's
        loaders) cost about three times the round trip's own work in this process. Parameters are
        sent as psycopg sends them (the same text and the same type for each Python value, so the
        server infers the same statement); the caller reads the columns' text itself (int(), the
        JSON's text, `t`/`f`)."""
        self.close_if_health_check_failed()
        if self.connection is None:
            self.ensure_connection()
        self.validate_no_broken_transaction()
        if self.execute_wrappers:
            return self._lean_with_wrappers(sql, params)
        if self.queries_logged:
            return self._lean_logged(sql, params)
        with self.wrap_database_errors:
            return self._lean_run(sql, params)

    def _lean_with_wrappers(self, sql: str, params: Sequence[Any]) -> list[RawRow]:
        def run(sql: str, params: Any, many: bool, context: dict[str, Any]) -> list[RawRow]:
            if self.queries_logged:
                return self._lean_logged(sql, params)
            with self.wrap_database_errors:
                return self._lean_run(sql, params)

        executor = run
        for wrapper in reversed(self.execute_wrappers):  # as CursorWrapper._execute_with_wrappers
            executor = _bound(wrapper, executor)
        return executor(sql, params, False, {"connection": self, "cursor": None})

    def _lean_logged(self, sql: str, params: Sequence[Any]) -> list[RawRow]:
        started = time.monotonic()
        try:
            with self.wrap_database_errors:
                return self._lean_run(sql, params)
        finally:
            try:
                logged = self.ops.compose_sql(sql, params)
            except Exception:
                logged = sql
            self.queries_log.append({"sql": logged, "time": "%.3f" % (time.monotonic() - started)})

    def _lean_run(self, sql: str, params: Sequence[Any]) -> list[RawRow]:
        connection = self.connection
        pgconn = connection.pgconn
        query = _numbered(sql)
        values, types = _text_params(params, connection)
        statements = self._lean_statements
        if statements is None:
            statements = self._lean_statements = {}
        if connection.prepare_threshold is None:  # no prepared statements: one unnamed one each time
            pgconn.send_query_params(query, values, param_types=types)
            return self._lean_results(connection)
        key = (query, types)
        name = statements.get(key)
        if name is None:
            name = f"_baas_{self._lean_names_given}".encode()
            self._lean_names_given += 1
            pgconn.send_prepare(name, query, param_types=types)
            self._lean_results(connection)
            statements[key] = name
        pgconn.send_query_prepared(name, values)
        try:
            return self._lean_results(connection)
        except pg_errors.InvalidSqlStatementName:
            # The session lost it (DISCARD ALL, or the DEALLOCATE ALL psycopg sends when it clears
            # its own cache after a ROLLBACK, DROP or ALTER): prepare it again, unless a transaction
            # is now aborted by the error (then it is the caller's error to handle). Statements
            # prepared since that DEALLOCATE are still there, others may not be: all are forgotten,
            # and those used again are prepared under new names.
            statements.clear()
            if pgconn.transaction_status != TransactionStatus.IDLE:
                raise
            return self._lean_run(sql, params)

    @staticmethod
    def _lean_results(connection: Any) -> list[RawRow]:
        results = connection.wait(execute_generator(connection.pgconn))
        rows: list[RawRow] = []
        for result in results:
            status = result.status
            if status == ExecStatus.FATAL_ERROR:
                raise pg_errors.error_from_result(result, encoding=connection.info.encoding)
            if status == ExecStatus.TUPLES_OK:
                width = result.nfields
                rows.extend(
                    tuple(result.get_value(row, column) for column in range(width)) for row in range(result.ntuples)
                )
        return rows

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


def _bound(wrapper: Any, executor: Any) -> Any:
    return lambda sql, params, many, context: wrapper(executor, sql, params, many, context)


_numbered_queries: dict[str, bytes] = {}
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)


def _numbered(sql: str) -> bytes:
    """A statement with Django's placeholders (`%s`, and `%%` for a percent sign) as PostgreSQL's
    numbered ones (`$1`, `$2`, …), encoded. Cached: the hot statements are few and fixed."""
    found = _numbered_queries.get(sql)
    if found is None:
        counter = iter(range(1, 1 << 16))

        def number(match: re.Match[str]) -> str:
            if match.group(1) == "%":
                return "%"
            if match.group(1) == "s":
                return f"${next(counter)}"
            raise ValueError(f"unsupported placeholder %{match.group(1)} in {sql!r}")

        if len(_numbered_queries) >= 1000:
            _numbered_queries.clear()
        found = _numbered_queries[sql] = _PLACEHOLDER.sub(number, sql).encode()
    return found


_UNKNOWN, _BOOL, _INT2, _INT4, _INT8, _UUID, _TIMESTAMPTZ, _JSON, _JSONB = 0, 16, 21, 23, 20, 2950, 1184, 114, 3802


def _int_type(value: int) -> int:
    if -(1 << 15) <= value < (1 << 15):
        return _INT2
    return _INT4 if -(1 << 31) <= value < (1 << 31) else _INT8


def _text_params(params: Sequence[Any], connection: Any) -> tuple[list[bytes | None], tuple[int, ...]]:
    """Each parameter's text and type as psycopg dumps it in text format (`str` of unknown type,
    so that the server infers it; `int` as the smallest of int2, int4, int8 that holds it; and so
    on); other values through psycopg's own dumpers."""
    values: list[bytes | None] = []
    types: list[int] = []
    for value in params:
        kind = type(value)
        if value is None:
            values.append(None)
            types.append(_UNKNOWN)
        elif kind is str:
            if "\x00" in value:  # libpq would cut a text parameter at the NUL: refuse, as psycopg does
                raise pg_errors.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
            values.append(value.encode())
            types.append(_UNKNOWN)
        elif kind is bool:
            values.append(b"t" if value else b"f")
            types.append(_BOOL)
        elif kind is int and -(1 << 63) <= value < (1 << 63):
            values.append(str(value).encode())
            types.append(_int_type(value))
        elif kind is datetime and value.tzinfo is not None:
            values.append(str(value).encode())
            types.append(_TIMESTAMPTZ)
        elif kind is UUID:
            values.append(value.hex.encode())
            types.append(_UUID)
        elif (kind is Jsonb or kind is Json) and value.dumps is not None:
            values.append(value.dumps(value.obj).encode())
            types.append(_JSONB if kind is Jsonb else _JSON)
        else:
            dumper = Transformer(connection).get_dumper(value, PyFormat.TEXT)
            dumper = dumper.upgrade(value, PyFormat.TEXT)
            dumped = dumper.dump(value)
            values.append(None if dumped is None else bytes(dumped))
            types.append(dumper.oid)
    return values, tuple(types)
