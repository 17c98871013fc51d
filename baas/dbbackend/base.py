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

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_at: float | None = None

    def close_if_health_check_failed(self) -> None:
        if self._recently_answered() and not self._server_has_spoken():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
        if self.connection is not None and self.health_check_done:
            self._checked_at = time.monotonic()

    def connect(self) -> None:
        super().connect()
        self._checked_at = time.monotonic()  # a new connection has just answered

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
        except (OSError, ValueError, Exception):  # a closed or broken psycopg connection has no fd
            return True
        return bool(readable)
